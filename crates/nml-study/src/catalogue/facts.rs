//! Row counts of the data folder's datasets (`../shared/data`, see its
//! README), per split and domain, and the characters of the text datasets'
//! `text`: what the study's estimate ([`crate::estimate`]) reads to know how
//! many images, rows and characters each step computes on without opening the
//! files. nml-report's tests check them against the files where the shared
//! data is present.

/// The rows of one (split, domain) of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    pub split: &'static str,
    pub domain: Option<&'static str>,
    pub rows: u64,
    /// Characters (Unicode scalar values) of the part's `text`, summed; 0 for images.
    pub chars: u64,
}

/// A dataset file `NAME.parquet`: its class count and its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    pub name: &'static str,
    pub classes: u64,
    pub parts: &'static [Part],
}

const fn part(split: &'static str, domain: Option<&'static str>, rows: u64) -> Part {
    text(split, domain, rows, 0)
}

/// A part of a text dataset, with its characters.
const fn text(split: &'static str, domain: Option<&'static str>, rows: u64, chars: u64) -> Part {
    Part {
        split,
        domain,
        rows,
        chars,
    }
}

/// Every dataset file the benchmarks read.
pub const FACTS: [Facts; 8] = [
    Facts {
        name: "cifar10",
        classes: 10,
        parts: &[part("train", None, 50_000), part("test", None, 10_000)],
    },
    Facts {
        name: "pacs",
        classes: 7,
        parts: &[
            part("train", Some("photo"), 1_337),
            part("test", Some("photo"), 333),
            part("train", Some("art_painting"), 1_638),
            part("test", Some("art_painting"), 410),
            part("train", Some("cartoon"), 1_875),
            part("test", Some("cartoon"), 469),
            part("train", Some("sketch"), 3_143),
            part("test", Some("sketch"), 786),
        ],
    },
    Facts {
        name: "sst2",
        classes: 2,
        parts: &[
            text("train", None, 60_614, 3_240_603),
            text("dev", None, 6_735, 362_945),
            text("test", None, 872, 92_294),
        ],
    },
    Facts {
        name: "sentiment-ood",
        classes: 2,
        parts: &[
            text("test", Some("amazon"), 1_000, 55_226),
            text("test", Some("imdb"), 1_000, 80_181),
            text("test", Some("yelp"), 1_000, 58_289),
        ],
    },
    Facts {
        name: "cola",
        classes: 2,
        parts: &[
            text("train", Some("in-domain"), 8_551, 348_020),
            text("test", Some("in-domain"), 527, 20_980),
            text("test", Some("out-of-domain"), 516, 22_642),
        ],
    },
    Facts {
        name: "rte",
        classes: 2,
        parts: &[
            text("train", None, 2_490, 814_531),
            text("dev", None, 277, 87_099),
        ],
    },
    Facts {
        name: "mrpc",
        classes: 2,
        parts: &[
            text("train", None, 3_576, 852_311),
            text("dev", None, 500, 119_762),
            text("test", None, 1_725, 409_753),
        ],
    },
    Facts {
        name: "sick",
        classes: 3,
        parts: &[
            text("train", None, 4_500, 445_741),
            text("dev", None, 500, 50_467),
            text("test", None, 4_927, 488_795),
        ],
    },
];

impl Facts {
    /// The dataset `name` (a programming error if it is not catalogued).
    pub fn of(name: &str) -> &'static Facts {
        FACTS
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("dataset `{name}` has no row counts in catalogue::facts"))
    }

    /// Rows of the parts `keep` selects, each at most `per_class` per class
    /// (an import's `--max-per-class`; classes taken as balanced).
    pub fn rows(&self, per_class: Option<usize>, keep: impl Fn(&Part) -> bool) -> u64 {
        self.sum_kept(per_class, keep, |_, kept| kept)
    }

    /// Characters of the parts `keep` selects, each part's taken in proportion
    /// to its rows kept under `per_class` (as [`Facts::rows`] caps them).
    pub fn chars(&self, per_class: Option<usize>, keep: impl Fn(&Part) -> bool) -> u64 {
        self.sum_kept(per_class, keep, |p, kept| p.chars * kept / p.rows.max(1))
    }

    /// `of(part, rows kept)` summed over the parts `keep` selects, each part's
    /// rows capped at `per_class` per class.
    fn sum_kept(
        &self,
        per_class: Option<usize>,
        keep: impl Fn(&Part) -> bool,
        of: impl Fn(&Part, u64) -> u64,
    ) -> u64 {
        let cap = per_class.map_or(u64::MAX, |c| c as u64 * self.classes);
        self.parts
            .iter()
            .filter(|p| keep(p))
            .map(|p| of(p, p.rows.min(cap)))
            .sum()
    }
}

/// Whether `part` is in `splits` (comma-separated; none: every split).
pub fn in_splits(part: &Part, splits: Option<&str>) -> bool {
    splits.is_none_or(|s| s.split(',').any(|s| s == part.split))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_selected_and_capped_per_class() {
        let pacs = Facts::of("pacs");
        assert_eq!(pacs.rows(None, |_| true), 9_991);
        assert_eq!(
            pacs.rows(None, |p| p.split == "train" && p.domain == Some("photo")),
            1_337
        );
        // 12 per class of 7 classes in each of the 8 parts.
        assert_eq!(pacs.rows(Some(12), |_| true), 8 * 84);
        let cifar = Facts::of("cifar10");
        assert_eq!(cifar.rows(Some(500), |_| true), 10_000);
        let sst2 = Facts::of("sst2");
        assert_eq!(
            sst2.rows(None, |p| in_splits(p, Some("dev,test"))),
            6_735 + 872
        );
    }
}
