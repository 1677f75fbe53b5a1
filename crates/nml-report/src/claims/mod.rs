//! The paper's claims (PAPER.md §5) as a rulebook: [`CLAIMS`] lists each
//! claim with its statement, the rule that decides it and the function that
//! applies the rule ([`rules`] for claims 1–4 and 7, [`heads`] for 5–6). Adding a claim is adding one entry here and
//! its function there; the report, `results/claims.parquet` and the
//! calibration tests pick it up from the list.
//!
//! Every rule decides by one-sided tests at α = 0.05 ([`crate::inference`]);
//! an inconclusive verdict carries the power its primary test had.

pub(crate) mod heads;
mod rules;

use nml_study::{Split, Variant};
use std::fmt;

use crate::collect::Results;
use crate::inference::Test;
use crate::run::RunInfo;
use crate::stats::{self, Stat};

/// The outcome of checking a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Reproduced,
    NotReproduced,
    Inconclusive,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Reproduced => "reproduced",
            Verdict::NotReproduced => "not reproduced",
            Verdict::Inconclusive => "inconclusive",
        })
    }
}

/// One claim of the paper: what it says, the rule that decides it, and the
/// function that applies the rule (None where a study cannot speak to the
/// claim at all, e.g. the noise-ratio claims on published models).
pub struct Claim {
    pub id: &'static str,
    pub statement: &'static str,
    pub rule: &'static str,
    pub decide: fn(&Context) -> Option<Decision>,
}

impl fmt::Debug for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claim").field("id", &self.id).finish()
    }
}

/// What a rule concluded, from which numbers and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub verdict: Verdict,
    /// The numbers the rule read (means ± std with n).
    pub evidence: String,
    /// The tests the verdict rests on.
    pub tests: Vec<Test>,
    /// The test whose power an inconclusive verdict reports.
    pub primary: Option<usize>,
    /// Why no test could be run (too few seeds or points), when none was.
    pub missing: Option<String>,
}

impl Decision {
    fn new(verdict: Verdict, evidence: String, tests: Vec<Test>) -> Decision {
        Decision {
            verdict,
            primary: (!tests.is_empty()).then_some(0),
            evidence,
            tests,
            missing: None,
        }
    }

    /// Inconclusive because a test could not be run at all.
    fn untestable(evidence: String, why: &str) -> Decision {
        Decision {
            verdict: Verdict::Inconclusive,
            evidence,
            tests: Vec::new(),
            primary: None,
            missing: Some(why.to_owned()),
        }
    }
}

/// A claim decided on one study: the rulebook entry and its decision, with
/// the power line of an inconclusive verdict.
#[derive(Debug, Clone)]
pub struct Checked {
    pub claim: &'static Claim,
    pub decision: Decision,
    pub power: Option<String>,
}

impl Checked {
    pub fn id(&self) -> &'static str {
        self.claim.id
    }

    pub fn verdict(&self) -> Verdict {
        self.decision.verdict
    }

    /// The tests, one per clause: `0% > 30%: difference +2.1 points, Welch t = 3.40 (df 3.9), p = 0.014`.
    pub fn tests(&self) -> String {
        if let Some(why) = &self.decision.missing {
            return why.clone();
        }
        self.decision
            .tests
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The rulebook, in the report's order.
pub static CLAIMS: &[Claim] = &[
    Claim {
        id: "1",
        statement: "ID: slight pre-training noise (5–10%) does not lower average ID linear-probing accuracy; heavy noise (20–30%) does",
        rule: "LP ID average over seeds, Welch one-sided: reproduced if the best slight ratio's (≤ 10%) mean is at least the clean mean \
               and the heaviest ratio is significantly below clean; not reproduced if the best slight ratio is significantly below clean \
               or the heaviest significantly above it; otherwise inconclusive",
        decide: rules::in_domain,
    },
    Claim {
        id: "2",
        statement: "OOD: any pre-training noise lowers average OOD linear-probing accuracy, more so as noise grows",
        rule: "LP OOD average: reproduced if every noisy ratio's mean is below clean and the least-squares slope of accuracy \
               on the noise ratio over every backbone is significantly negative (t-test, n − 2 df, n ≥ 8; the heaviest ratio against \
               clean, Welch, is shown beside it); not reproduced if a noisy ratio is significantly above clean (Welch) or the slope \
               significantly positive",
        decide: rules::out_of_domain,
    },
    Claim {
        id: "3a",
        statement: "SVE of the downstream (ID) features rises with slight pre-training noise",
        rule: "SVE of the ID test features at the lightest noise ratio (the paper's 5%; one look, chosen in advance), Welch: \
               reproduced if significantly above clean, not reproduced if significantly below",
        decide: rules::sve_rises,
    },
    Claim {
        id: "3b",
        statement: "higher SVE tracks better ID accuracy",
        rule: "Pearson r of (SVE, LP ID accuracy) over every backbone, t-test with n − 2 df (Spearman ρ beside it): \
               reproduced if significantly positive, not reproduced if significantly negative; inconclusive below 8 backbones",
        decide: rules::sve_tracks_id,
    },
    Claim {
        id: "4a",
        statement: "LSVR of the downstream (OOD) features falls with pre-training noise",
        rule: "LSVR of the OOD test features, Welch: reproduced if the heaviest ratio is significantly below clean, \
               not reproduced if significantly above",
        decide: rules::lsvr_falls,
    },
    Claim {
        id: "4b",
        statement: "higher LSVR tracks better OOD accuracy",
        rule: "Pearson r of (LSVR, LP OOD accuracy) over every backbone, t-test with n − 2 df (Spearman ρ beside it): \
               reproduced if significantly positive, not reproduced if significantly negative; inconclusive below 8 backbones",
        decide: rules::lsvr_tracks_ood,
    },
    Claim {
        id: "5a",
        statement: "NMTune > MLP > LP on both ID and OOD averages at every noise ratio",
        rule: "paired tests on the same seeds' features, per ratio on the ID and on the OOD average: reproduced if at a majority of ratios \
               NMTune is significantly above MLP and MLP significantly above LP (on ID or OOD), and nowhere significantly below; \
               not reproduced if MLP is significantly above NMTune, or LP above MLP, at a majority of ratios",
        decide: heads::heads_ordered,
    },
    Claim {
        id: "5b",
        statement: "NMTune's gain over LP is larger OOD than ID",
        rule: "per seed, the mean over ratios of (NMTune − LP) OOD minus (NMTune − LP) ID, paired: reproduced if significantly positive, \
               not reproduced if significantly negative, inconclusive in between",
        decide: heads::gain_larger_ood,
    },
    Claim {
        id: "5c",
        statement: "NMTune raises the SVE of the representation it tunes, relative to MLP tuning",
        rule: "SVE of z on ID test rows, averaged over ratios and tasks per seed, paired: reproduced if NMTune is significantly above MLP, \
               not reproduced if significantly below",
        decide: heads::nmtune_raises_sve,
    },
    Claim {
        id: "5d",
        statement: "NMTune's gain over LP is larger on noisier models",
        rule: "least-squares slope of (NMTune − LP), the mean of ID and OOD, on the noise ratio over every backbone (n ≥ 8): \
               reproduced if significantly positive, not reproduced if significantly negative",
        decide: heads::gain_grows_with_noise,
    },
    Claim {
        id: "6",
        statement: "NMTune also helps real noisy foundation models, including an embedding-only API",
        rule: "on published models (`real-models`), NMTune − LP per task, eval set and head seed (fixed recipe), pooled over the \
               ID comparisons and over the OOD comparisons: the mean of the per-comparison mean differences, its SE² the sum of \
               each comparison's seed variance / n and both sides' test-set binomial variance p(1 − p)/N, over the count squared \
               (Welch–Satterthwaite df): reproduced if both pooled tests are significantly positive; not reproduced if either is \
               significantly negative; vision, text and NMTune against MLP are shown apart; other benchmarks do not measure it \
               (inconclusive by construction)",
        decide: heads::published_models,
    },
    Claim {
        id: "7",
        statement: "the pre-training noise effect persists when downstream labels are noisy too",
        rule: "claims 1 and 2's rules, unchanged, on the LP heads trained on downstream labels with 20% symmetric noise \
               (`nml-noise`, keyed by the seed; test labels clean), from the same backbones' features: reproduced if both are \
               reproduced, not reproduced if either is not, otherwise inconclusive",
        decide: rules::noisy_downstream,
    },
];

/// What every rule reads: the study, its results and its ratios.
pub struct Context<'a> {
    pub run: &'a RunInfo,
    pub results: &'a Results,
    pub clean: u32,
    /// The ratios above the clean one, ascending.
    pub noisy: Vec<u32>,
    /// The noisy ratios of at most 10%.
    pub slight: Vec<u32>,
}

impl<'a> Context<'a> {
    pub fn new(run: &'a RunInfo, results: &'a Results) -> Context<'a> {
        let clean = run.shape.ratios.iter().copied().min().unwrap_or(0);
        let mut noisy: Vec<u32> = run
            .shape
            .ratios
            .iter()
            .copied()
            .filter(|&r| r > clean)
            .collect();
        noisy.sort_unstable();
        let slight = noisy.iter().copied().filter(|&r| r <= 10).collect();
        Context {
            run,
            results,
            clean,
            noisy,
            slight,
        }
    }

    /// Whether this is a noise-ratio study (every benchmark but `real-models`).
    fn noisy_study(&self) -> Option<()> {
        (self.run.benchmark != nml_study::Benchmark::RealModels).then_some(())
    }

    fn lp(&self, ratio: u32, split: Split) -> Stat {
        stats::accuracy(self.results, ratio, Variant::Lp, split)
    }
}

/// Every claim of the rulebook that applies to the study, decided (without power lines).
pub fn decide_all(run: &RunInfo, results: &Results) -> Vec<(&'static Claim, Decision)> {
    let context = Context::new(run, results);
    CLAIMS
        .iter()
        .filter_map(|claim| Some((claim, (claim.decide)(&context)?)))
        .collect()
}

/// Every claim that applies, decided, with the power line of each inconclusive verdict.
pub fn check(run: &RunInfo, results: &Results) -> Vec<Checked> {
    let seeds = run.seeds.len();
    decide_all(run, results)
        .into_iter()
        .map(|(claim, decision)| {
            // Untestable verdicts say why in their tests column instead.
            let power = (decision.verdict == Verdict::Inconclusive)
                .then(|| {
                    decision
                        .primary
                        .map(|i| decision.tests[i].power_line(seeds))
                })
                .flatten();
            Checked {
                claim,
                decision,
                power,
            }
        })
        .collect()
}
