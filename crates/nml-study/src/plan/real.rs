//! The `real-models` study: published backbones pre-trained on noisy data
//! used as black boxes, no pre-training here; what runs is read from the
//! catalogue ([`crate::catalogue::real`]).

use std::collections::BTreeMap;

use nml_spec::data::{DataArgs, DataCommand, ImportCommand, ParquetImport};
use nml_spec::features::{ExtractArgs, FeaturesArgs, FeaturesCommand, TextArgs};
use nml_spec::{Protocol, TuneArgs};

use super::{Invocation, Placement, Plan, Tune};
use crate::catalogue::facts::{self, Facts};
use crate::catalogue::real::{self, Encoder, Modality, RealModel, RealTask, DATASETS};
use crate::estimate::Work;
use crate::record::TableEntry;
use crate::types::{Noise, Profile, Repeat, Setting, Stage, TableKind, Variant};

/// The share of each class's training rows held out to choose the `auto` heads.
const VAL_FRACTION: f64 = 0.1;

/// Head epochs of the smoke profile (the others use the official 30).
const SMOKE_EPOCHS: usize = 2;

/// Every task of `profile` ([`real::tasks_of`]) on the files of `data_dir`:
/// each dataset imported (capped per class where the catalogue says), encoded
/// once per model that reads it (images with cached views of the rows heads
/// train on), then per task LP, MLP and NMTune with the paper's fixed recipe
/// over `seeds`, k-NN (k = 10, 20; no seed), and `auto` (the three chosen on a
/// 10 % validation fraction from their default grids, the best refit on every
/// training row) with the first seed: selection trains 21 heads per seed.
/// Text tasks before vision tasks, `auto` last.
pub fn build_real(
    data_dir: &str,
    profile: Profile,
    seeds: &[u64],
    placement: impl Into<Placement>,
) -> Plan {
    let placement = placement.into();
    let tasks = real::tasks_of(profile);
    let mut plan = Plan::new(seeds.to_vec(), placement.threads);
    let imported = imports(&mut plan, data_dir, profile, &tasks);
    // (model, dataset) → (feature table, its step).
    let mut features: BTreeMap<(&str, &str), (String, usize)> = BTreeMap::new();
    let mut ordered: Vec<&RealTask> = tasks.iter().collect();
    ordered.sort_by_key(|t| t.model.modality != Modality::Text);
    for task in &ordered {
        let mut datasets = vec![task.dataset];
        datasets.extend(task.evals.iter().map(|e| e.dataset));
        for dataset in datasets {
            if features.contains_key(&(task.model.name, dataset)) {
                continue;
            }
            let step = encode(
                &mut plan,
                data_dir,
                (task.model, dataset),
                &imported[dataset],
                (profile, &tasks),
                placement,
            );
            features.insert((task.model.name, dataset), step);
        }
        heads(
            &mut plan,
            task,
            &features,
            profile,
            placement,
            Recipes::Fixed,
        );
    }
    for task in &ordered {
        heads(
            &mut plan,
            task,
            &features,
            profile,
            placement,
            Recipes::Auto,
        );
    }
    plan
}

/// `nml-data import parquet` of every dataset the tasks read; its output and step by name.
fn imports(
    plan: &mut Plan,
    data_dir: &str,
    profile: Profile,
    tasks: &[RealTask],
) -> BTreeMap<&'static str, (String, usize)> {
    let mut out = BTreeMap::new();
    for dataset in DATASETS {
        let used = tasks.iter().any(|t| {
            t.dataset == dataset.name || t.evals.iter().any(|e| e.dataset == dataset.name)
        });
        if !used {
            continue;
        }
        let manifest = format!("data/{}.parquet", dataset.name);
        let per_class = per_class(profile, dataset.name);
        let import = ParquetImport {
            input: format!("{data_dir}/{}.parquet", dataset.name).into(),
            out: manifest.clone().into(),
            max_per_class: per_class,
            caption_template: None,
        };
        let step = plan.add(
            format!("data-{}", dataset.name),
            Stage::Data,
            Invocation::Data(Box::new(DataArgs::quiet(DataCommand::Import(
                ImportCommand::Parquet(import),
            )))),
            vec![manifest.clone()],
            vec![],
            Work::Data {
                images: Facts::of(dataset.name).rows(per_class, |_| true),
            },
        );
        out.insert(dataset.name, (manifest, step));
    }
    out
}

/// The import's rows per (split, domain, class) of `dataset` in `profile`.
fn per_class(profile: Profile, dataset: &str) -> Option<usize> {
    match profile {
        Profile::Smoke => Some(real::SMOKE_PER_CLASS),
        Profile::Quick | Profile::Full | Profile::Gpu => DATASETS
            .iter()
            .find(|d| d.name == dataset)
            .and_then(|d| d.per_class),
    }
}

/// The feature step of `model` on `dataset`: its table and index.
fn encode(
    plan: &mut Plan,
    data_dir: &str,
    (model, dataset): (RealModel, &str),
    (manifest, import): &(String, usize),
    (profile, tasks): (Profile, &[RealTask]),
    placement: Placement,
) -> (String, usize) {
    let out = format!("features/{}/{dataset}.parquet", model.name);
    let splits = DATASETS
        .iter()
        .find(|d| d.name == dataset)
        .and_then(|d| d.splits)
        .map(str::to_owned);
    let facts = Facts::of(dataset);
    let per_class = per_class(profile, dataset);
    let encoded = facts.rows(per_class, |p| facts::in_splits(p, splits.as_deref()));
    let work;
    let command = match model.encoder {
        Encoder::Image {
            weights,
            arch,
            input_size,
        } => {
            let mut args = ExtractArgs::new(
                format!("{data_dir}/{weights}"),
                manifest,
                "cache/features",
                placement.device,
            );
            args.arch = Some(arch);
            args.precision = placement.precision;
            args.input_size = Some(input_size);
            args.resize = true;
            args.splits = splits;
            // Views of the rows heads train on: the training split, of the one
            // source domain where a single task trains on this dataset.
            let training: Vec<&RealTask> = tasks
                .iter()
                .filter(|t| t.model == model && t.dataset == dataset)
                .collect();
            if let Some(first) = training.first() {
                args.views.views = real::views(profile);
                args.views.view_split = Some(first.train_split.to_owned());
                args.views.view_domain = match training.as_slice() {
                    [one] => one.train_domain.map(str::to_owned),
                    _ => None,
                };
            }
            let viewed = match &args.views.view_split {
                Some(split) => facts.rows(per_class, |p| {
                    p.split == split
                        && args
                            .views
                            .view_domain
                            .as_ref()
                            .is_none_or(|d| p.domain == Some(d.as_str()))
                }),
                None => 0,
            };
            work = Work::Extract {
                arch,
                px: input_size,
                images: encoded + u64::from(args.views.views) * viewed,
            };
            args.out = Some(out.clone().into());
            FeaturesCommand::Extract(args)
        }
        Encoder::Text { folder } => {
            let chars = facts.chars(per_class, |p| facts::in_splits(p, splits.as_deref()));
            let mut args = TextArgs::new(
                format!("{data_dir}/{folder}"),
                manifest,
                "cache/features",
                placement.device,
            );
            args.splits = splits;
            args.out = Some(out.clone().into());
            work = Work::Text { chars };
            FeaturesCommand::Text(args)
        }
    };
    let step = plan.add(
        format!("features-{}-{dataset}", model.name),
        Stage::Features,
        Invocation::Features(Box::new(FeaturesArgs::new(command))),
        vec![out.clone()],
        vec![*import],
        work,
    );
    (out, step)
}

/// Which heads a pass over the tasks adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recipes {
    /// LP, MLP and NMTune with the paper's recipe, and k-NN.
    Fixed,
    /// The head chosen on validation.
    Auto,
}

/// The tune steps of `task` for `recipes`.
fn heads(
    plan: &mut Plan,
    task: &RealTask,
    features: &BTreeMap<(&str, &str), (String, usize)>,
    profile: Profile,
    placement: Placement,
    recipes: Recipes,
) {
    let name = task.name();
    let (train, train_step) = &features[&(task.model.name, task.dataset)];
    let mut deps = vec![*train_step];
    let evals: Vec<String> = task
        .evals
        .iter()
        .map(|e| {
            let (table, step) = &features[&(task.model.name, e.dataset)];
            if !deps.contains(step) {
                deps.push(*step);
            }
            let mut spec = format!("{}={table}:{}", e.name, e.split);
            if let Some(d) = e.domain {
                spec.push(':');
                spec.push_str(d);
            }
            spec
        })
        .collect();
    let splits: BTreeMap<String, crate::types::Split> = task
        .evals
        .iter()
        .map(|e| (e.name.clone(), e.kind))
        .collect();
    let two_view = matches!(task.model.encoder, Encoder::Image { .. });
    let facts = Facts::of(task.dataset);
    let rows = facts.rows(per_class(profile, task.dataset), |p| {
        p.split == task.train_split
            && (task.train_domain.is_none() || p.domain == task.train_domain)
    });
    let protocols: Vec<(Protocol, TableKind, Option<Variant>)> = match recipes {
        Recipes::Fixed => Variant::METHODS
            .iter()
            .map(|&v| (Protocol::from(v.method()), TableKind::Tune, Some(v)))
            .chain([(Protocol::Knn, TableKind::Knn, None)])
            .collect(),
        Recipes::Auto => vec![(Protocol::Auto, TableKind::Auto, None)],
    };
    let all_seeds: Vec<String> = plan.seeds.iter().map(u64::to_string).collect();
    let (all_seeds, first_seed) = (all_seeds.join(","), plan.seeds[0].to_string());
    for (protocol, kind, variant) in protocols {
        let run = format!("tune/{name}/{protocol}");
        let mut args = TuneArgs::new(train, protocol, evals.clone(), &run);
        args.train_split = task.train_split.to_owned();
        args.train_domain = task.train_domain.map(str::to_owned);
        if profile == Profile::Smoke && protocol != Protocol::Knn {
            args.epochs = SMOKE_EPOCHS;
        }
        match protocol {
            Protocol::Mlp | Protocol::Nmtune | Protocol::Auto => args.two_view = two_view,
            Protocol::Lp | Protocol::Knn => {}
        }
        if protocol == Protocol::Auto {
            args.val_fraction = Some(VAL_FRACTION);
        }
        let entry = TableEntry {
            kind,
            setting: Setting::Supervised,
            noise: Noise::None,
            ratio: 0,
            seed: plan.seeds[0],
            task: name.clone(),
            variant,
            domain: String::new(),
            repeat: Repeat::Head,
            splits: splits.clone(),
            path: String::new(),
        };
        let seeds = match protocol {
            Protocol::Auto => &first_seed,
            _ => &all_seeds,
        };
        let at = Tune {
            seeds,
            device: placement.heads,
            run: &run,
            deps: deps.clone(),
            rows,
            dim: task.model.feature_dim(),
        };
        plan.add_tune(
            format!("tune-{}-{protocol}", name.replace('/', "-")),
            args,
            &at,
            entry,
        );
    }
}
