//! The noisy pre-training study on a benchmark: for every seed and every
//! pre-training condition (the ratios, real noise, caption swaps), corrupt →
//! pre-train → extract each task → tune each head → spectrum per domain;
//! then the spectrum figure. One function per stage.
//!
//! The noisy-downstream arm (claim 7): per seed, each task manifest's training
//! labels get [`DOWNSTREAM_NOISE`]% symmetric noise (`nml-noise`, keyed by the
//! seed), and every backbone of the symmetric ratios trains LP, MLP and NMTune
//! again on those labels, from the same features; test labels stay clean.

use nml_spec::features::{ExtractArgs, FeaturesArgs, FeaturesCommand};
use nml_spec::{
    AugmentKind, DeviceSpec, Method, NoiseArgs, NoiseKindArg, Objective, Precision, PretrainArgs,
    TuneArgs,
};

use super::spectra::{figure, spectral};
use super::{Invocation, Placement, Plan, Tune};
use crate::catalogue::{NoisyBenchmark, Task};
use crate::estimate::Work;
use crate::record::TableEntry;
use crate::types::{
    Noise, Repeat, Setting, Sizes, Stage, TableKind, Variant, DOWNSTREAM_NOISE, RATIOS,
};

/// One pre-training condition: tag, setting, noise, ratio, and how `nml-noise` makes it.
pub(super) struct Condition {
    pub(super) tag: String,
    pub(super) setting: Setting,
    pub(super) noise: Noise,
    pub(super) ratio: u32,
    pub(super) kind: NoiseKindArg,
    /// The label column of real noise (`--kind column`).
    pub(super) column: Option<String>,
}

impl Condition {
    /// `nml-noise` of `input` into `output` for this condition, drawn with `seed`.
    fn noise(&self, input: &str, output: &str, seed: u64) -> NoiseArgs {
        let mut args = NoiseArgs::new(input, output, self.kind);
        args.ratio = (self.kind != NoiseKindArg::Column).then(|| ratio_value(self.ratio));
        args.column = self.column.clone();
        args.seed = seed;
        args
    }

    /// An index entry of this condition's `kind` table for `seed` at `path`.
    pub(super) fn entry(&self, kind: TableKind, seed: u64, path: &str) -> TableEntry {
        TableEntry {
            kind,
            setting: self.setting,
            noise: self.noise.clone(),
            ratio: self.ratio,
            seed,
            task: String::new(),
            variant: None,
            domain: String::new(),
            repeat: Repeat::Backbone,
            splits: Default::default(),
            path: path.to_owned(),
        }
    }
}

/// What every step of one (seed, condition) shares.
pub(super) struct Cell<'a> {
    pub(super) benchmark: &'a NoisyBenchmark,
    pub(super) sizes: &'a Sizes,
    pub(super) device: DeviceSpec,
    /// Where the heads train.
    pub(super) heads: DeviceSpec,
    pub(super) precision: Precision,
    pub(super) seed: u64,
    pub(super) condition: &'a Condition,
    /// `s{seed}-{tag}`: the steps' name suffix.
    pub(super) tag: String,
    /// `s{seed}/{tag}`: the outputs' folder.
    pub(super) dir: String,
}

/// Builds every step of the study for `benchmark` at `sizes` (without the report step).
pub fn build(
    benchmark: &NoisyBenchmark,
    sizes: &Sizes,
    seed: u64,
    placement: impl Into<Placement>,
) -> Plan {
    let Placement {
        device,
        precision,
        threads,
        heads,
    } = placement.into();
    let seeds: Vec<u64> = (0..u64::from(sizes.seeds)).map(|i| seed + i).collect();
    let mut plan = Plan::new(seeds.clone(), threads);
    let data: Vec<usize> = benchmark
        .data
        .iter()
        .map(|d| {
            let (name, args, outputs) = (d.name.clone(), d.args.clone(), d.outputs.clone());
            plan.add(
                name,
                Stage::Data,
                Invocation::Data(Box::new(args)),
                outputs,
                vec![],
                Work::Data { images: d.images },
            )
        })
        .collect();
    let conditions = conditions(benchmark);
    for &s in &seeds {
        let noisy_tasks: Vec<usize> = benchmark
            .tasks
            .iter()
            .map(|task| corrupt_task(&mut plan, task, s, &data))
            .collect();
        for condition in &conditions {
            let cell = Cell {
                benchmark,
                sizes,
                device,
                heads,
                precision,
                seed: s,
                condition,
                tag: format!("s{s}-{}", condition.tag),
                dir: format!("s{s}/{}", condition.tag),
            };
            let corrupt = corrupt(&mut plan, &cell, data[0]);
            let pretrain = pretrain(&mut plan, &cell, corrupt);
            let features: Vec<usize> = benchmark
                .tasks
                .iter()
                .zip(&noisy_tasks)
                .map(|(task, &noisy_task)| {
                    let extract = extract(&mut plan, &cell, task, pretrain, &data);
                    tune(&mut plan, &cell, task, extract);
                    if condition.setting == Setting::Supervised
                        && condition.noise == Noise::Symmetric
                    {
                        tune_noisy_labels(&mut plan, &cell, task, extract, noisy_task);
                    }
                    extract
                })
                .collect();
            spectral(&mut plan, &cell, &features);
        }
    }
    figure(&mut plan, benchmark, sizes, seeds[0]);
    plan
}

/// The ratios (symmetric), the real noise conditions, and the caption-swap ratios.
fn conditions(benchmark: &NoisyBenchmark) -> Vec<Condition> {
    let mut conditions: Vec<Condition> = RATIOS
        .iter()
        .map(|&ratio| Condition {
            tag: format!("n{ratio:02}"),
            setting: Setting::Supervised,
            noise: Noise::Symmetric,
            ratio,
            kind: NoiseKindArg::Symmetric,
            column: None,
        })
        .collect();
    conditions.extend(benchmark.real_noise.iter().map(|r| Condition {
        tag: r.name.clone(),
        setting: Setting::Supervised,
        noise: Noise::Real(r.name.clone()),
        ratio: r.nominal,
        kind: NoiseKindArg::Column,
        column: Some(r.column.clone()),
    }));
    // CLIP-style pre-training: the ratio is the fraction of image–text pairs
    // whose caption was swapped with another pair's.
    if benchmark.contrastive {
        conditions.extend(RATIOS.iter().map(|&ratio| Condition {
            tag: format!("clip-n{ratio:02}"),
            setting: Setting::Contrastive,
            noise: Noise::CaptionSwap,
            ratio,
            kind: NoiseKindArg::CaptionSwap,
            column: None,
        }));
    }
    conditions
}

/// A ratio in percent as `--ratio` takes it.
fn ratio_value(percent: u32) -> f64 {
    f64::from(percent) / 100.0
}

/// `nml-noise` of the pre-training manifest.
fn corrupt(plan: &mut Plan, cell: &Cell, data: usize) -> usize {
    let (s, tag) = (cell.seed, &cell.condition.tag);
    let noisy = format!("noisy/s{s}/pretrain-{tag}.parquet");
    let summary = format!("noisy/s{s}/pretrain-{tag}.noise.json");
    let args = cell
        .condition
        .noise(&cell.benchmark.pretrain_manifest, &noisy, s);
    let step = plan.add(
        format!("corrupt-{}", cell.tag),
        Stage::Corrupt,
        Invocation::Noise(Box::new(args)),
        vec![noisy, summary.clone()],
        vec![data],
        Work::Corrupt {
            rows: cell.benchmark.pretrain_rows + cell.benchmark.pretrain_test_rows,
        },
    );
    plan.tables
        .push(cell.condition.entry(TableKind::Noise, s, &summary));
    step
}

/// `nml-noise` of a task manifest's training labels for the noisy-downstream arm of `seed`.
fn corrupt_task(plan: &mut Plan, task: &Task, seed: u64, data: &[usize]) -> usize {
    let noisy = format!(
        "noisy/s{seed}/{}-labels{DOWNSTREAM_NOISE:02}.parquet",
        task.name
    );
    let summary = format!(
        "noisy/s{seed}/{}-labels{DOWNSTREAM_NOISE:02}.noise.json",
        task.name
    );
    let mut noise = NoiseArgs::new(&task.manifest, &noisy, NoiseKindArg::Symmetric);
    noise.ratio = Some(ratio_value(DOWNSTREAM_NOISE));
    noise.seed = seed;
    plan.add(
        format!("corrupt-labels-s{seed}-{}", task.name),
        Stage::Corrupt,
        Invocation::Noise(Box::new(noise)),
        vec![noisy, summary],
        data.to_vec(),
        Work::Corrupt {
            rows: task.rows.all,
        },
    )
}

/// `nml-pretrain` on the corrupted manifest, resumable.
fn pretrain(plan: &mut Plan, cell: &Cell, corrupt: usize) -> usize {
    let model = format!("pretrain/{}", cell.dir);
    let noisy = &plan.steps[corrupt].outputs[0].clone();
    let mut args = PretrainArgs::new(noisy, cell.sizes.arch, cell.sizes.epochs as usize, &model);
    args.seed = cell.seed;
    args.device = cell.device;
    args.precision = cell.precision;
    args.resume = true;
    args.input_size = cell.benchmark.pretrain_input_size;
    args.objective = match cell.condition.setting {
        Setting::Supervised => Objective::Supervised,
        Setting::Contrastive => Objective::Contrastive,
    };
    let info = format!("{model}/model.json");
    // Every epoch trains on the training rows and evaluates the held-out ones
    // (a forward pass, about a third of a training step).
    let b = cell.benchmark;
    let work = Work::Pretrain {
        arch: cell.sizes.arch,
        objective: args.objective,
        px: b.px,
        images: (b.pretrain_rows + b.pretrain_test_rows / 3) * u64::from(cell.sizes.epochs),
    };
    let step = plan.add(
        format!("pretrain-{}", cell.tag),
        Stage::Pretrain,
        Invocation::Pretrain(Box::new(args)),
        vec![format!("{model}/model.safetensors"), info.clone()],
        vec![corrupt],
        work,
    );
    plan.steps[step].scratch = vec![format!("{model}/resume.safetensors")];
    plan.tables
        .push(cell.condition.entry(TableKind::Pretrain, cell.seed, &info));
    step
}

/// `nml-features extract` of one task with the pre-trained backbone.
fn extract(plan: &mut Plan, cell: &Cell, task: &Task, pretrain: usize, data: &[usize]) -> usize {
    let features = format!("features/{}/{}.parquet", cell.dir, task.name);
    let model = format!("pretrain/{}", cell.dir);
    let mut args = ExtractArgs::new(&model, &task.manifest, "cache/features", cell.device);
    args.precision = cell.precision;
    args.out = Some(features.clone().into());
    args.resize = cell.benchmark.extract_resize;
    if cell.sizes.views > 0 {
        // Views only for the rows heads train on: the train split of the source domain.
        args.views.views = cell.sizes.views;
        args.views.view_split = Some("train".to_owned());
        if task.domains {
            args.views.view_domain = Some(cell.benchmark.id_domain.clone());
        }
        if cell.condition.setting == Setting::Contrastive {
            // open_clip's train transform, as the official CLIP runs use.
            args.views.augment = Some(AugmentKind::RrcNoflip);
        }
    }
    let mut deps = vec![pretrain];
    deps.extend(data);
    let work = Work::Extract {
        arch: cell.sizes.arch,
        px: cell.benchmark.px,
        images: task.rows.all + u64::from(cell.sizes.views) * task.rows.train,
    };
    plan.add(
        format!("features-{}-{}", cell.tag, task.name),
        Stage::Features,
        Invocation::Features(Box::new(FeaturesArgs::new(FeaturesCommand::Extract(args)))),
        vec![features],
        deps,
        work,
    )
}

/// The heads of one task: LP, MLP and NMTune, plus the ablation at its ratio.
fn tune(plan: &mut Plan, cell: &Cell, task: &Task, extract: usize) {
    let c = cell.condition;
    let mut variants = Variant::METHODS.to_vec();
    if c.setting == Setting::Supervised
        && c.noise == Noise::Symmetric
        && c.ratio == cell.sizes.ablation_ratio
    {
        variants.extend(Variant::ABLATED);
    }
    for variant in variants {
        head(plan, cell, task, variant, extract, None);
    }
}

/// LP, MLP and NMTune of one task again, trained on the task's noisy labels
/// (`noisy_task`'s manifest) from the same features.
fn tune_noisy_labels(plan: &mut Plan, cell: &Cell, task: &Task, extract: usize, noisy_task: usize) {
    for variant in Variant::METHODS {
        head(plan, cell, task, variant, extract, Some(noisy_task));
    }
}

/// One head's `nml-tune` step: trained on the source domain's train rows of
/// `extract`'s features (with `labels`' training labels when given), evaluated
/// on the test rows of every domain.
fn head(
    plan: &mut Plan,
    cell: &Cell,
    task: &Task,
    variant: Variant,
    extract: usize,
    labels: Option<usize>,
) {
    let (benchmark, c) = (cell.benchmark, cell.condition);
    let features = plan.steps[extract].outputs[0].clone();
    let domains = std::iter::once(&benchmark.id_domain).chain(&benchmark.ood_domains);
    let evals: Vec<String> = if task.domains {
        domains
            .map(|d| format!("{d}={features}:test:{d}"))
            .collect()
    } else {
        vec![format!("{}={features}:test", task.name)]
    };
    let (suffix, kind) = match labels {
        Some(_) => (
            format!("-labels{DOWNSTREAM_NOISE:02}"),
            TableKind::NoisyDownstream,
        ),
        None => (String::new(), TableKind::Tune),
    };
    let run = format!("tune/{}/{}{suffix}/{variant}", cell.dir, task.name);
    let mut args = TuneArgs::new(&features, variant.method(), evals, &run);
    if task.domains {
        args.train_domain = Some(benchmark.id_domain.clone());
    }
    args.train_labels = labels.map(|step| plan.steps[step].outputs[0].clone().into());
    args.two_view = two_view(variant, cell.sizes.views);
    if let Some(w) = variant.weights() {
        args.mse_weight = Some(w.consistency);
        args.cov_weight = Some(w.covariance);
        args.svd_weight = Some(w.singular);
    }
    let mut entry = c.entry(kind, cell.seed, "");
    entry.task = task.name.clone();
    entry.variant = Some(variant);
    let seeds = head_seeds(cell.seed, cell.sizes.heads);
    let at = Tune {
        seeds: &seeds,
        device: cell.heads,
        run: &run,
        deps: std::iter::once(extract).chain(labels).collect(),
        rows: task.rows.train,
        dim: feature_dim(cell.sizes.arch),
    };
    plan.add_tune(
        format!("tune-{}-{}{suffix}-{variant}", cell.tag, task.name),
        args,
        &at,
        entry,
    );
}

/// The head seeds of backbone `seed`: `seed`, `seed + 1000`, ... (`heads` of them,
/// comma-separated), distinct across the study's backbone seeds.
pub(super) fn head_seeds(seed: u64, heads: u32) -> String {
    let seeds: Vec<String> = (0..u64::from(heads.max(1)))
        .map(|i| (seed + HEAD_SEED_STRIDE * i).to_string())
        .collect();
    seeds.join(",")
}

/// The gap between a backbone's head seeds; above any study's count of backbone seeds.
const HEAD_SEED_STRIDE: u64 = 1000;

/// The width of `arch`'s features.
pub(super) fn feature_dim(arch: nml_spec::Arch) -> u32 {
    u32::try_from(arch.feature_dim()).unwrap_or(u32::MAX)
}

/// MLP and NMTune heads train on two cached views per step when there are
/// views to draw from (the official loop); the linear probe on the eval view.
pub(super) fn two_view(variant: Variant, views: u32) -> bool {
    views >= 2 && variant.method() != Method::Lp
}
