//! Model selection on held-out rows: a validation split or a stratified,
//! seeded fraction of the training rows, and a grid of hyper-parameters
//! whose every combination is trained and scored on it. The test tables
//! are never read during selection.

use std::collections::BTreeMap;

use nml_core::FeatureTable;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::train::{TuneConfig, Tuned};
use crate::Method;
use crate::{Result, TuneError};

/// The (split, index) items of `table`'s eval view, grouped by label, in table order.
fn items_by_class(table: &FeatureTable) -> BTreeMap<i64, Vec<(String, i64)>> {
    let eval = table.eval_view();
    let mut by: BTreeMap<i64, Vec<(String, i64)>> = BTreeMap::new();
    for i in 0..eval.len() {
        by.entry(eval.label[i])
            .or_default()
            .push((eval.split[i].clone(), eval.index[i]));
    }
    by
}

/// Splits `train` (every view of an item goes with it) into (training, validation)
/// rows: `fraction` of each class, rounded, at least one where a class has two
/// items or more; an error names a class that would keep no training row.
pub fn hold_out_fraction(
    train: &FeatureTable,
    fraction: f64,
    seed: u64,
) -> Result<(FeatureTable, FeatureTable)> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(TuneError::Invalid(format!(
            "--val-fraction: must lie strictly between 0 and 1, got {fraction}"
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7661_6c69_6461_7465);
    let mut held = std::collections::HashSet::new();
    for (label, mut items) in items_by_class(train) {
        items.shuffle(&mut rng);
        let take = ((fraction * items.len() as f64).round() as usize).max(1);
        if take >= items.len() {
            let name = train
                .class_names
                .as_ref()
                .and_then(|n| n.get(label as usize))
                .map_or_else(|| label.to_string(), |n| format!("`{n}`"));
            return Err(TuneError::Invalid(format!(
                "--val-fraction {fraction} leaves class {name} ({} training item(s)) with no training row",
                items.len()
            )));
        }
        held.extend(items.into_iter().take(take));
    }
    let (mut keep, mut val) = (Vec::new(), Vec::new());
    for r in 0..train.len() {
        if held.contains(&(train.split[r].clone(), train.index[r])) {
            val.push(r);
        } else {
            keep.push(r);
        }
    }
    Ok((train.select(&keep), train.select(&val).eval_view()))
}

/// A hyper-parameter a grid may vary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GridKey {
    Lr,
    Wd,
    MseWeight,
    CovWeight,
    SvdWeight,
    SvdTopk,
    Epochs,
    BatchSize,
}

impl GridKey {
    const ALL: [(&'static str, GridKey); 8] = [
        ("lr", GridKey::Lr),
        ("wd", GridKey::Wd),
        ("mse-weight", GridKey::MseWeight),
        ("cov-weight", GridKey::CovWeight),
        ("svd-weight", GridKey::SvdWeight),
        ("svd-topk", GridKey::SvdTopk),
        ("epochs", GridKey::Epochs),
        ("batch-size", GridKey::BatchSize),
    ];

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("", |(n, _)| n)
    }

    /// `config` with this hyper-parameter set to `value`.
    fn apply(self, config: &mut TuneConfig, value: f64) {
        match self {
            GridKey::Lr => config.lr = value,
            GridKey::Wd => config.weight_decay = value,
            GridKey::MseWeight => config.mse_weight = value,
            GridKey::CovWeight => config.cov_weight = value,
            GridKey::SvdWeight => config.svd_weight = value,
            GridKey::SvdTopk => config.svd_topk = value as i64,
            GridKey::Epochs => config.epochs = value as usize,
            GridKey::BatchSize => config.batch_size = value as usize,
        }
    }

    /// Why this key cannot change the head trained from `base` under `grid`, if it cannot.
    fn inert(self, base: &TuneConfig, grid: &[(GridKey, Vec<f64>)]) -> Option<&'static str> {
        let regulariser = matches!(
            self,
            GridKey::MseWeight | GridKey::CovWeight | GridKey::SvdWeight | GridKey::SvdTopk
        );
        if regulariser && base.method == Method::Lp {
            return Some("the regularisers act on the MLP's z and --method lp has none");
        }
        let svd_on = base.svd_weight != 0.0
            || grid
                .iter()
                .any(|(k, v)| *k == GridKey::SvdWeight && v.iter().any(|&x| x != 0.0));
        (self == GridKey::SvdTopk && !svd_on)
            .then_some("the singular-value term is off (svd weight 0)")
    }

    fn integral(self) -> bool {
        matches!(
            self,
            GridKey::SvdTopk | GridKey::Epochs | GridKey::BatchSize
        )
    }
}

/// A grid point: each varied hyper-parameter and its value, in grid order.
pub type GridLabel = Vec<(GridKey, f64)>;

/// The grid searched when none is given (`nml-tune fit`, and `nml-tune` with
/// validation rows): learning rate × weight decay around the method's recipe.
pub fn default_grid(method: Method) -> Vec<String> {
    let specs: [&str; 2] = if method == Method::Lp {
        ["lr=1e-3,1e-2,1e-1", "wd=0,1e-4,1e-2"]
    } else {
        ["lr=1e-4,1e-3,1e-2", "wd=1e-4,1e-2"]
    };
    specs.iter().map(|s| (*s).to_owned()).collect()
}

/// One `--grid KEY=V1,V2,...`.
pub fn parse_grid(spec: &str) -> Result<(GridKey, Vec<f64>)> {
    let bad = |why: String| TuneError::Invalid(format!("--grid `{spec}`: {why}"));
    let (key, values) = spec
        .split_once('=')
        .ok_or_else(|| bad("expected KEY=V1,V2,...".to_owned()))?;
    let key = GridKey::ALL
        .iter()
        .find(|(n, _)| *n == key.trim())
        .map(|(_, k)| *k)
        .ok_or_else(|| {
            bad(format!(
                "unknown key `{key}`; one of {}",
                GridKey::ALL.map(|(n, _)| n).join(", ")
            ))
        })?;
    let mut out = Vec::new();
    for v in values.split(',') {
        let v = v.trim();
        if v.is_empty() {
            return Err(bad("an empty value".to_owned()));
        }
        let x: f64 = v
            .parse()
            .map_err(|_| bad(format!("`{v}` is not a number")))?;
        if key.integral() && x.fract() != 0.0 {
            return Err(bad(format!("`{v}`: {} takes whole numbers", key.name())));
        }
        if out.contains(&x) {
            return Err(bad(format!("`{v}` is listed twice")));
        }
        out.push(x);
    }
    Ok((key, out))
}

/// Every combination of `grid` applied to `base`, in grid order (the last key varies fastest),
/// each validated; `(key, value)` pairs label it.
pub fn combinations(
    base: &TuneConfig,
    grid: &[(GridKey, Vec<f64>)],
) -> Result<Vec<(GridLabel, TuneConfig)>> {
    for (i, (key, _)) in grid.iter().enumerate() {
        if grid[..i].iter().any(|(k, _)| k == key) {
            return Err(TuneError::Invalid(format!(
                "--grid: `{}` is given twice",
                key.name()
            )));
        }
    }
    for (key, values) in grid {
        if let Some(why) = key.inert(base, grid) {
            return Err(TuneError::Invalid(format!(
                "--grid {}: {why}, so every value would train the same head",
                key.name()
            )));
        }
        if values.is_empty() {
            return Err(TuneError::Invalid(format!(
                "--grid {}: no values",
                key.name()
            )));
        }
    }
    let mut out: Vec<(GridLabel, TuneConfig)> = vec![(Vec::new(), base.clone())];
    for (key, values) in grid {
        out = out
            .into_iter()
            .flat_map(|(label, config)| {
                values.iter().map(move |&v| {
                    let mut c = config.clone();
                    key.apply(&mut c, v);
                    let mut l = label.clone();
                    l.push((*key, v));
                    (l, c)
                })
            })
            .collect();
    }
    for (label, config) in &out {
        config
            .validate()
            .map_err(|e| TuneError::Invalid(format!("--grid {}: {e}", describe(label))))?;
    }
    Ok(out)
}

/// `lr=0.001 wd=0.0001`.
pub fn describe(label: &[(GridKey, f64)]) -> String {
    label
        .iter()
        .map(|(k, v)| format!("{}={v}", k.name()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One trained grid point: its label, seed and validation accuracy (NaN
/// where the head diverged, with the reason).
#[derive(Debug, Clone, PartialEq)]
pub struct GridRow {
    pub label: GridLabel,
    pub seed: u64,
    pub validation_accuracy: f64,
    pub diverged: Option<String>,
}

/// What selection chose: the grid point with the best mean validation
/// accuracy over seeds (the first on ties; a point with a diverged seed is
/// never chosen), and its heads, one per seed.
pub struct Selected {
    pub label: GridLabel,
    pub config: TuneConfig,
    pub validation_accuracy: f64,
    pub heads: Vec<(u64, Tuned)>,
    pub grid: Vec<GridRow>,
}

/// How a grid is trained: the heads of one shape together in one pass
/// ([`crate::grid::fit_together`]), or each on its own (the same heads up to
/// rounding; the benchmark's baseline).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GridTraining {
    Together,
    OneByOne,
}

impl GridTraining {
    /// What is faster for `method` on `device`: linear probes share their one
    /// product with the features and train 2.5× faster together on the CPU;
    /// NMTune heads share no product there and ran 1.4× faster one by one
    /// (`cargo bench -p nml-tune`, docs/PERFORMANCE.md), and MLP heads are the
    /// same network without the regularisers.
    /// On CUDA, one pass saves kernel launches for every method.
    pub fn fastest(method: Method, device: tch::Device) -> GridTraining {
        if method == Method::Lp || device.is_cuda() {
            GridTraining::Together
        } else {
            GridTraining::OneByOne
        }
    }
}

/// Every grid point's head for one seed, in `combos` order: trained together
/// where their shapes allow (or one by one), scored by validation accuracy.
fn train_seed(
    combos: &[(GridLabel, TuneConfig)],
    train: &FeatureTable,
    rows: &FeatureTable,
    classes: usize,
    (seed, device): (u64, tch::Device),
    training: GridTraining,
) -> Result<Vec<crate::grid::Outcome>> {
    let mut outcomes: Vec<Option<crate::grid::Outcome>> = combos.iter().map(|_| None).collect();
    let mut pending: Vec<usize> = (0..combos.len()).collect();
    while let Some(&lead) = pending.first() {
        let group: Vec<usize> = match training {
            GridTraining::Together => pending
                .iter()
                .copied()
                .filter(|&i| crate::grid::shares_pass(&combos[lead].1, &combos[i].1))
                .collect(),
            GridTraining::OneByOne => vec![lead],
        };
        pending.retain(|i| !group.contains(i));
        let configs: Vec<TuneConfig> = group.iter().map(|&i| combos[i].1.clone()).collect();
        let mut source =
            crate::train::training_source(configs[0].two_view, train, rows, seed, device)?;
        let trained = match training {
            GridTraining::Together => crate::grid::fit_together(
                &configs,
                source.as_mut(),
                &rows.label,
                classes,
                seed,
                device,
            )?,
            GridTraining::OneByOne => {
                vec![match crate::fit(
                    &configs[0],
                    source.as_mut(),
                    &rows.label,
                    classes,
                    seed,
                    device,
                ) {
                    Err(e @ TuneError::Diverged(_)) => Err(e),
                    other => Ok(other?),
                }]
            }
        };
        for (i, outcome) in group.into_iter().zip(trained) {
            outcomes[i] = Some(outcome);
        }
    }
    Ok(outcomes
        .into_iter()
        .map(|o| o.expect("every point trained"))
        .collect())
}

/// Trains every combination of `grid` on `train` for every seed and scores it
/// on `val` by accuracy; nothing else is read. Only the best combination's
/// heads are kept (their `results` empty: the caller evaluates them).
pub fn select(
    base: &TuneConfig,
    grid: &[(GridKey, Vec<f64>)],
    train: &FeatureTable,
    val: (&std::path::Path, &FeatureTable),
    seeds: &[u64],
    (device, training): (tch::Device, GridTraining),
) -> Result<Selected> {
    let combos = combinations(base, grid)?;
    let rows = train.eval_view();
    let evals = vec![("validation".to_owned(), val.0.to_owned(), val.1.clone())];
    let classes = crate::train::check_inputs(&rows, &evals)?;
    // [point][seed]: the head, or why it diverged.
    let mut heads: Vec<Vec<(u64, crate::grid::Outcome)>> =
        combos.iter().map(|_| Vec::new()).collect();
    let mut grid_rows = Vec::new();
    for &seed in seeds {
        let outcomes = train_seed(&combos, train, &rows, classes, (seed, device), training)?;
        for (point, outcome) in outcomes.into_iter().enumerate() {
            let label = &combos[point].0;
            let (accuracy, diverged) = match &outcome {
                Ok((_, head)) => (crate::train::accuracy(head, val.1, device), None),
                Err(why) => (f64::NAN, Some(why.to_string())),
            };
            tracing::info!(grid = %describe(label), seed, validation = format!("{accuracy:.4}"), "grid point");
            grid_rows.push(GridRow {
                label: label.clone(),
                seed,
                validation_accuracy: accuracy,
                diverged,
            });
            heads[point].push((seed, outcome));
        }
    }
    let mean = |point: usize| {
        let scores: Vec<f64> = grid_rows
            .iter()
            .filter(|r| r.label == combos[point].0)
            .map(|r| r.validation_accuracy)
            .collect();
        scores.iter().sum::<f64>() / scores.len() as f64
    };
    let best = (0..combos.len())
        .filter(|&p| mean(p).is_finite())
        .fold(None, |best: Option<usize>, p| match best {
            Some(b) if mean(b) >= mean(p) => Some(b),
            _ => Some(p),
        })
        .ok_or_else(|| {
            let why = grid_rows
                .iter()
                .find_map(|r| r.diverged.clone())
                .unwrap_or_default();
            TuneError::Diverged(format!("--grid: every combination diverged ({why})"))
        })?;
    let (label, config) = combos[best].clone();
    let kept = std::mem::take(&mut heads[best])
        .into_iter()
        .map(|(seed, outcome)| {
            let (vs, head) = outcome.expect("the chosen point did not diverge");
            (
                seed,
                Tuned {
                    vs,
                    head,
                    classes,
                    class_names: rows.class_names.clone(),
                    results: Vec::new(),
                },
            )
        })
        .collect();
    Ok(Selected {
        label,
        config,
        validation_accuracy: mean(best),
        heads: kept,
        grid: grid_rows,
    })
}

/// `grid.parquet`: a row per combination and seed (one column per grid key,
/// seed, validation_accuracy, chosen).
pub fn grid_frame(selected: &Selected) -> Result<polars::prelude::DataFrame> {
    use polars::prelude::*;
    let keys: Vec<GridKey> = selected.label.iter().map(|(k, _)| *k).collect();
    let mut columns: Vec<Column> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            Column::new(
                k.name().replace('-', "_").into(),
                selected
                    .grid
                    .iter()
                    .map(|r| r.label[i].1)
                    .collect::<Vec<f64>>(),
            )
        })
        .collect();
    columns.push(Column::new(
        "seed".into(),
        selected
            .grid
            .iter()
            .map(|r| r.seed as i64)
            .collect::<Vec<_>>(),
    ));
    columns.push(Column::new(
        "validation_accuracy".into(),
        selected
            .grid
            .iter()
            .map(|r| r.validation_accuracy)
            .collect::<Vec<_>>(),
    ));
    columns.push(Column::new(
        "diverged".into(),
        selected
            .grid
            .iter()
            .map(|r| r.diverged.clone())
            .collect::<Vec<Option<String>>>(),
    ));
    columns.push(Column::new(
        "chosen".into(),
        selected
            .grid
            .iter()
            .map(|r| r.label == selected.label)
            .collect::<Vec<_>>(),
    ));
    Ok(DataFrame::new(selected.grid.len(), columns)?)
}
