//! The stages' outputs as flat records: one per pre-trained backbone, one per
//! (backbone, task, domain) spectrum, one per (backbone, task, head, domain) accuracy.

use std::path::{Path, PathBuf};

use polars::prelude::*;

use nml_study::{Noise, Repeat, Setting, Split, TableKind, Variant};

use crate::run::{RunInfo, TableEntry};
use crate::{ReportError, Result};

/// One pre-trained backbone.
#[derive(Debug, Clone, PartialEq)]
pub struct PretrainRecord {
    pub setting: Setting,
    /// [`Noise::Symmetric`] (also for entries that leave it empty), caption
    /// swaps, or a real noise condition.
    pub noise: Noise,
    pub ratio: u32,
    pub seed: u64,
    pub noise_realised: f64,
    pub test_acc: f64,
    pub train_acc_noisy: f64,
    pub train_acc_clean: f64,
    pub images_per_sec: f64,
}

/// The spectrum of one backbone's features of one task's test rows in one domain.
#[derive(Debug, Clone, PartialEq)]
pub struct SpectralRecord {
    pub setting: Setting,
    /// [`Noise::Symmetric`] (also for entries that leave it empty), caption
    /// swaps, or a real noise condition.
    pub noise: Noise,
    pub ratio: u32,
    pub seed: u64,
    pub task: String,
    pub domain: String,
    pub split: Split,
    pub sve: f64,
    pub lsvr: f64,
    pub effective_rank: f64,
}

/// One head's accuracy on one task's test rows of one domain.
#[derive(Debug, Clone, PartialEq)]
pub struct TuneRecord {
    pub setting: Setting,
    /// [`Noise::Symmetric`] (also for entries that leave it empty), caption
    /// swaps, or a real noise condition.
    pub noise: Noise,
    pub ratio: u32,
    /// The repeat this accuracy belongs to (see [`nml_study::Repeat`]): the backbone
    /// seed in the noisy studies, the head seed with a published backbone.
    pub seed: u64,
    /// The head's own seed (equal to `seed` where heads are the repeats).
    pub head: u64,
    pub task: String,
    /// A method, or an ablation variant of NMTune.
    pub variant: Variant,
    pub domain: String,
    pub split: Split,
    pub accuracy: f64,
    /// SVE and LSVR of the head's representation z on these rows.
    pub sve: f64,
    pub lsvr: f64,
    /// Trained on two augmented views per step (the official loop) rather than the eval view.
    pub two_view: bool,
    /// Test rows of the eval (0 in tables written before nml-tune recorded them).
    pub rows: u64,
    /// The head's learning rate and weight decay: the recipe's, or the grid
    /// point chosen on validation for a selected head.
    pub lr: f64,
    pub weight_decay: f64,
    /// The mean of per-class recalls (NaN in tables written before nml-tune recorded it).
    pub balanced_accuracy: f64,
}

/// One k-NN score: a task's eval set with one k (no seed: k-NN trains nothing).
#[derive(Debug, Clone, PartialEq)]
pub struct KnnRecord {
    pub task: String,
    pub domain: String,
    pub split: Split,
    pub k: u64,
    pub rows: u64,
    pub accuracy: f64,
    pub balanced_accuracy: f64,
}

/// Everything the report is made of.
#[derive(Debug, Clone, Default)]
pub struct Results {
    pub pretrain: Vec<PretrainRecord>,
    pub spectral: Vec<SpectralRecord>,
    pub tune: Vec<TuneRecord>,
    /// Heads whose hyper-parameters were chosen on a validation split
    /// ([`TableKind::Selected`]): shown beside the fixed recipe, never pooled with it.
    pub selected: Vec<TuneRecord>,
    /// Heads with the fixed recipe trained on downstream labels with
    /// [`nml_study::types::DOWNSTREAM_NOISE`]% symmetric noise
    /// ([`TableKind::NoisyDownstream`]; claim 7), never pooled with the clean-label heads.
    pub noisy_downstream: Vec<TuneRecord>,
    /// k-NN on the frozen features ([`TableKind::Knn`]).
    pub knn: Vec<KnnRecord>,
    /// The head `nml-tune --method auto` kept ([`TableKind::Auto`]), its method as `variant`.
    pub auto: Vec<TuneRecord>,
}

fn read_parquet(path: &Path) -> Result<DataFrame> {
    let file = std::fs::File::open(path).map_err(|source| ReportError::Io {
        path: path.to_owned(),
        source,
    })?;
    ParquetReader::new(file)
        .finish()
        .map_err(|source| ReportError::Polars {
            path: path.to_owned(),
            source,
        })
}

fn column<'a>(frame: &'a DataFrame, name: &str, path: &Path) -> Result<&'a Column> {
    frame.column(name).map_err(|source| ReportError::Polars {
        path: path.to_owned(),
        source,
    })
}

fn strings(frame: &DataFrame, name: &str, path: &Path) -> Result<Vec<String>> {
    let col = column(frame, name, path)?;
    let ca = col.str().map_err(|source| ReportError::Polars {
        path: path.to_owned(),
        source,
    })?;
    Ok(ca
        .iter()
        .map(|v| v.unwrap_or_default().to_owned())
        .collect())
}

fn floats(frame: &DataFrame, name: &str, path: &Path) -> Result<Vec<f64>> {
    let col = column(frame, name, path)?;
    let ca = col.f64().map_err(|source| ReportError::Polars {
        path: path.to_owned(),
        source,
    })?;
    Ok(ca.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

fn ints(frame: &DataFrame, name: &str, path: &Path) -> Result<Vec<i64>> {
    let col = column(frame, name, path)?;
    let ca = col.i64().map_err(|source| ReportError::Polars {
        path: path.to_owned(),
        source,
    })?;
    Ok(ca.iter().map(|v| v.unwrap_or(-1)).collect())
}

/// The entry's noise condition, symmetric when the index leaves it empty.
fn noise_of(t: &TableEntry) -> Noise {
    match &t.noise {
        Noise::None | Noise::Symmetric => Noise::Symmetric,
        other => other.clone(),
    }
}

impl Results {
    /// The records whose (setting, noise) `keep` accepts, in every table.
    fn filtered(&self, keep: impl Fn(Setting, &Noise) -> bool) -> Results {
        fn rows<T: Clone>(records: &[T], keep: impl Fn(&T) -> bool) -> Vec<T> {
            records.iter().filter(|r| keep(r)).cloned().collect()
        }
        let tune = |records: &[TuneRecord]| rows(records, |r| keep(r.setting, &r.noise));
        Results {
            pretrain: rows(&self.pretrain, |r| keep(r.setting, &r.noise)),
            spectral: rows(&self.spectral, |r| keep(r.setting, &r.noise)),
            tune: tune(&self.tune),
            selected: tune(&self.selected),
            noisy_downstream: tune(&self.noisy_downstream),
            // Published models only: no noise condition to filter on.
            knn: self.knn.clone(),
            auto: tune(&self.auto),
        }
    }

    /// The records of one setting.
    pub fn setting(&self, setting: Setting) -> Results {
        self.filtered(|s, _| s == setting)
    }

    /// Splits the records into the study's ratios (symmetric noise) and the
    /// real noise conditions, each its own set of results.
    pub fn split_real_noise(&self) -> (Results, Results) {
        (
            self.filtered(|_, noise| !noise.is_real()),
            self.filtered(|_, noise| noise.is_real()),
        )
    }

    /// These results with the noisy-downstream heads in place of the clean-label
    /// ones, so that the rules and tables of the clean heads read them unchanged.
    pub fn with_noisy_downstream_labels(&self) -> Results {
        Results {
            tune: self.noisy_downstream.clone(),
            selected: Vec::new(),
            noisy_downstream: Vec::new(),
            ..self.clone()
        }
    }

    /// Reads every table `run` lists, relative to `dir`.
    pub fn collect(run: &RunInfo, dir: &Path) -> Result<Results> {
        let at = |t: &TableEntry| -> PathBuf { dir.join(&t.path) };
        let mut results = Results::default();
        results.collect_pretrain(run, &at)?;
        results.collect_spectral(run, &at)?;
        results.tune = tune_records(run, TableKind::Tune, &at)?;
        results.selected = tune_records(run, TableKind::Selected, &at)?;
        results.noisy_downstream = tune_records(run, TableKind::NoisyDownstream, &at)?;
        results.auto = tune_records(run, TableKind::Auto, &at)?;
        results.knn = knn_records(run, &at)?;
        Ok(results)
    }

    /// The last epoch of every backbone, with its manifest's realised noise rate.
    fn collect_pretrain(
        &mut self,
        run: &RunInfo,
        at: &dyn Fn(&TableEntry) -> PathBuf,
    ) -> Result<()> {
        for t in run.tables(TableKind::Pretrain) {
            let path = at(t);
            let model = nml_core::ModelInfo::read(&path)
                .map_err(|e| ReportError::Invalid(e.to_string()))?;
            let last = model.last_epoch().ok_or_else(|| {
                ReportError::Invalid(format!("{}: no per-epoch metrics", path.display()))
            })?;
            let noise = run
                .tables(TableKind::Noise)
                .find(|n| n.ratio == t.ratio && n.seed == t.seed && n.noise == t.noise)
                .map(|n| -> Result<f64> {
                    Ok(nml_core::noise::NoiseSummary::read(&at(n))?.ratio_realised)
                })
                .transpose()?
                .unwrap_or(f64::NAN);
            self.pretrain.push(PretrainRecord {
                setting: t.setting,
                noise: noise_of(t),
                ratio: t.ratio,
                seed: t.seed,
                noise_realised: noise,
                test_acc: last.test_acc.ok_or_else(|| {
                    ReportError::Invalid(format!("{}: no test accuracy", path.display()))
                })?,
                // Contrastive runs report in-batch retrieval against the
                // captions they saw, and no clean-label training accuracy.
                train_acc_noisy: last.train_acc_seen,
                train_acc_clean: last.train_acc_clean.unwrap_or(f64::NAN),
                images_per_sec: last.images_per_sec,
            });
        }
        Ok(())
    }

    /// SVE, LSVR and effective rank of every analysed table.
    fn collect_spectral(
        &mut self,
        run: &RunInfo,
        at: &dyn Fn(&TableEntry) -> PathBuf,
    ) -> Result<()> {
        for t in run.tables(TableKind::Spectral) {
            let path = at(t);
            let frame = read_parquet(&path)?;
            let tables = strings(&frame, "table", &path)?;
            let metrics = strings(&frame, "metric", &path)?;
            let values = floats(&frame, "value", &path)?;
            let mut names: Vec<&String> = tables.iter().collect();
            names.dedup();
            for name in names {
                let get = |metric: &str| -> Result<f64> {
                    tables
                        .iter()
                        .zip(&metrics)
                        .zip(&values)
                        .find(|((t, m), _)| *t == name && m.as_str() == metric)
                        .map(|(_, v)| *v)
                        .ok_or_else(|| {
                            ReportError::Invalid(format!(
                                "{}: no `{metric}` for table `{name}`",
                                path.display()
                            ))
                        })
                };
                let task = name.split_once('/').map_or(name.as_str(), |(_, t)| t);
                self.spectral.push(SpectralRecord {
                    setting: t.setting,
                    noise: noise_of(t),
                    ratio: t.ratio,
                    seed: t.seed,
                    task: task.to_owned(),
                    domain: t.domain.clone(),
                    split: run.split_of(&t.domain),
                    sve: get("sve")?,
                    lsvr: get("lsvr")?,
                    effective_rank: get("effective_rank")?,
                });
            }
        }
        Ok(())
    }
}

/// Accuracy and the spectrum of z of every head, eval set and head seed, of the tables of `kind`.
fn tune_records(
    run: &RunInfo,
    kind: TableKind,
    at: &dyn Fn(&TableEntry) -> PathBuf,
) -> Result<Vec<TuneRecord>> {
    let mut records = Vec::new();
    for t in run.tables(kind) {
        let path = at(t);
        let frame = read_parquet(&path)?;
        // An `auto` table's rows say which method was kept.
        let variant = match (t.variant, kind) {
            (Some(v), _) => v,
            (None, TableKind::Auto) => {
                let method = strings(&frame, "method", &path)?;
                let name = method.first().map_or("", String::as_str);
                name.parse::<Variant>()
                    .map_err(|e| ReportError::Invalid(format!("{}: method: {e}", path.display())))?
            }
            (None, _) => {
                return Err(ReportError::Invalid(format!(
                    "run.json: the head table {} names no variant",
                    t.path
                )))
            }
        };
        let evals = strings(&frame, "eval", &path)?;
        let accuracy = floats(&frame, "accuracy", &path)?;
        let sve = floats(&frame, "sve", &path)?;
        let lsvr = floats(&frame, "lsvr", &path)?;
        // A table may hold several head seeds; each row says its own.
        let seeds = ints(&frame, "seed", &path)?;
        // Absent in tables written before two-view training existed.
        let two_view = frame
            .column("two_view")
            .ok()
            .and_then(|c| c.bool().ok().map(|b| b.get(0).unwrap_or(false)))
            .unwrap_or(false);
        let lr = floats(&frame, "lr", &path)?;
        let weight_decay = floats(&frame, "weight_decay", &path)?;
        let rows = if frame.column("rows").is_ok() {
            ints(&frame, "rows", &path)?
        } else {
            vec![0; evals.len()]
        };
        let balanced = if frame.column("balanced_accuracy").is_ok() {
            floats(&frame, "balanced_accuracy", &path)?
        } else {
            vec![f64::NAN; evals.len()]
        };
        for (i, domain) in evals.iter().enumerate() {
            let head = u64::try_from(seeds[i]).unwrap_or(t.seed);
            if !accuracy[i].is_finite() {
                return Err(ReportError::Invalid(format!(
                    "{}: accuracy of `{domain}` is not a number",
                    path.display()
                )));
            }
            records.push(TuneRecord {
                setting: t.setting,
                noise: noise_of(t),
                ratio: t.ratio,
                seed: match t.repeat {
                    Repeat::Head => head,
                    Repeat::Backbone => t.seed,
                },
                head,
                task: t.task.clone(),
                variant,
                domain: domain.clone(),
                split: split_of(run, t, domain),
                accuracy: accuracy[i],
                sve: sve[i],
                lsvr: lsvr[i],
                two_view,
                rows: u64::try_from(rows[i]).unwrap_or(0),
                lr: lr[i],
                weight_decay: weight_decay[i],
                balanced_accuracy: balanced[i],
            });
        }
    }
    Ok(records)
}

/// Where `eval` sits for the table `t`: as its entry says, else as the study's shape says.
fn split_of(run: &RunInfo, t: &TableEntry, eval: &str) -> Split {
    t.splits
        .get(eval)
        .copied()
        .unwrap_or_else(|| run.split_of(eval))
}

/// Every k-NN score of the study.
fn knn_records(run: &RunInfo, at: &dyn Fn(&TableEntry) -> PathBuf) -> Result<Vec<KnnRecord>> {
    let mut records = Vec::new();
    for t in run.tables(TableKind::Knn) {
        let path = at(t);
        let frame = read_parquet(&path)?;
        let evals = strings(&frame, "eval", &path)?;
        let ks = ints(&frame, "k", &path)?;
        let rows = ints(&frame, "rows", &path)?;
        let accuracy = floats(&frame, "accuracy", &path)?;
        let balanced = floats(&frame, "balanced_accuracy", &path)?;
        for (i, eval) in evals.iter().enumerate() {
            records.push(KnnRecord {
                task: t.task.clone(),
                domain: eval.clone(),
                split: split_of(run, t, eval),
                k: u64::try_from(ks[i]).unwrap_or(0),
                rows: u64::try_from(rows[i]).unwrap_or(0),
                accuracy: accuracy[i],
                balanced_accuracy: balanced[i],
            });
        }
    }
    Ok(records)
}
