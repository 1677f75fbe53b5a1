//! The row and character counts the study's estimate reads
//! (`nml_study::catalogue::facts`) are those of the shared data's files, where
//! this checkout has them.

use std::collections::BTreeMap;

use nml_study::catalogue::facts::FACTS;
use polars::prelude::*;

/// A string column's values (absent column: all None).
fn strings(frame: &DataFrame, name: &str) -> Vec<Option<String>> {
    match frame.column(name) {
        Ok(c) => c
            .cast(&DataType::String)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|v| v.map(str::to_owned))
            .collect(),
        Err(_) => vec![None; frame.height()],
    }
}

#[test]
fn dataset_row_and_character_counts_match_the_shared_data() {
    let Some(data) = nml_core::shared_data() else {
        eprintln!("skipped: ../shared/data is absent (set NML_SHARED_DATA to run this test)");
        return;
    };
    for facts in FACTS {
        let path = data.join(format!("{}.parquet", facts.name));
        let open = || std::fs::File::open(&path).unwrap();
        let schema = ParquetReader::new(open()).schema().unwrap();
        let columns: Vec<String> = ["split", "domain", "label", "text"]
            .into_iter()
            .filter(|c| schema.get(c).is_some())
            .map(str::to_owned)
            .collect();
        let frame = ParquetReader::new(open())
            .with_columns(Some(columns))
            .finish()
            .unwrap();
        let (splits, domains) = (strings(&frame, "split"), strings(&frame, "domain"));
        let texts = strings(&frame, "text");
        let mut counts: BTreeMap<(String, Option<String>), (u64, u64)> = BTreeMap::new();
        for ((s, d), t) in splits.into_iter().zip(domains).zip(texts) {
            let entry = counts.entry((s.unwrap_or_default(), d)).or_default();
            entry.0 += 1;
            entry.1 += t.map_or(0, |t| t.chars().count() as u64);
        }
        let catalogued: BTreeMap<(String, Option<String>), (u64, u64)> = facts
            .parts
            .iter()
            .map(|p| {
                let at = (p.split.to_owned(), p.domain.map(str::to_owned));
                (at, (p.rows, p.chars))
            })
            .collect();
        assert_eq!(counts, catalogued, "{}", path.display());
        let classes = frame.column("label").unwrap().n_unique().unwrap() as u64;
        assert_eq!(classes, facts.classes, "{}: classes", path.display());
    }
}
