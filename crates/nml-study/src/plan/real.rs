//! The `real-models` study: published backbones pre-trained on noisy data
//! used as black boxes, no pre-training here.

use nml_spec::features::{ExtractArgs, FeaturesArgs, FeaturesCommand, TextArgs};
use nml_spec::{Arch, TuneArgs};

use super::{Invocation, Placement, Plan, Tune};
use crate::record::TableEntry;
use crate::types::{Noise, Repeat, Setting, Stage, TableKind, Variant};

/// Augmented views cached per PACS image for MobileNetV2's two-view heads.
pub const REAL_VIEWS: u32 = 16;

/// The share of each class's training rows held out to choose the selected heads.
const VAL_FRACTION: f64 = 0.1;

/// MobileNetV2 (ImageNet-1k) features of PACS, heads trained on photo and
/// tested on every domain; all-MiniLM-L6-v2 (a billion noisy web sentence
/// pairs) embeddings of SST-2, heads trained on the dev split (6,735
/// sentences; all 60,614 train sentences take about 7 minutes more on 2
/// cores) and tested on the test split. LP, MLP and NMTune, with `seeds`
/// head seeds each, with the paper's fixed recipe and again with the
/// hyper-parameters chosen on a validation fraction from nml-tune's default
/// grid ([`TableKind::Selected`]). `data_dir` holds [`crate::catalogue::REAL_MODEL_FILES`].
pub fn build_real(data_dir: &str, seeds: &[u64], placement: impl Into<Placement>) -> Plan {
    let placement = placement.into();
    let device = placement.device;
    let mut plan = Plan::new(seeds.to_vec());
    let (vision, text) = features(&mut plan, data_dir, placement);
    let pacs = plan.steps[vision].outputs[0].clone();
    let sst2 = plan.steps[text].outputs[0].clone();
    let pacs_evals: Vec<String> = ["photo", "art_painting", "cartoon", "sketch"]
        .iter()
        .map(|d| format!("{d}={pacs}:test:{d}"))
        .collect();
    let sst2_evals = vec![format!("sst2={sst2}:test")];
    let jobs = [
        (
            "mobilenet-v2/pacs",
            "train",
            Some("photo"),
            &pacs,
            &pacs_evals,
            vision,
        ),
        (
            "all-minilm-l6-v2/sst2",
            "dev",
            None,
            &sst2,
            &sst2_evals,
            text,
        ),
    ];
    let seed_list: Vec<String> = seeds.iter().map(u64::to_string).collect();
    let seed_list = seed_list.join(",");
    // The fixed recipe first, then the heads selected on validation, their
    // cheaper task (SST-2) first.
    for recipe in [TableKind::Tune, TableKind::Selected] {
        let mut order = jobs;
        if recipe == TableKind::Selected {
            order.reverse();
        }
        for (task, train_split, domain, features, evals, dep) in order {
            for variant in Variant::METHODS {
                // MobileNetV2 runs here, so its views are cached; MiniLM's sentence
                // embeddings come one per text (a black box), so its heads stay single-view.
                let views = if dep == vision { REAL_VIEWS } else { 0 };
                let method = variant.method();
                let suffix = if recipe == TableKind::Selected {
                    "-selected"
                } else {
                    ""
                };
                let run = format!("tune/{task}/{method}{suffix}");
                let mut args = TuneArgs::new(features, method, evals.clone(), &run);
                args.train_split = train_split.to_owned();
                args.train_domain = domain.map(str::to_owned);
                args.two_view = super::noisy::two_view(variant, views);
                if recipe == TableKind::Selected {
                    // nml-tune's default grid for the method (as `nml-tune fit`).
                    args.val_fraction = Some(VAL_FRACTION);
                }
                let entry = TableEntry {
                    kind: recipe,
                    setting: Setting::Supervised,
                    noise: Noise::None,
                    ratio: 0,
                    seed: seeds[0],
                    task: task.to_owned(),
                    variant: Some(variant),
                    domain: String::new(),
                    repeat: Repeat::Head,
                    path: String::new(),
                };
                let at = Tune {
                    seeds: &seed_list,
                    device,
                    run: &run,
                    deps: vec![dep],
                };
                plan.add_tune(
                    format!("tune-{}-{method}{suffix}", task.replace('/', "-")),
                    args,
                    &at,
                    entry,
                );
            }
        }
    }
    plan
}

/// The two feature steps: MobileNetV2 on PACS, MiniLM on SST-2; their indices.
fn features(plan: &mut Plan, data_dir: &str, placement: Placement) -> (usize, usize) {
    let device = placement.device;
    let at = |f: &str| format!("{data_dir}/{f}");
    let pacs = "features/mobilenet-v2/pacs.parquet".to_owned();
    let mut vision = ExtractArgs::new(
        at("models/mobilenet_v2_imagenet.safetensors"),
        at("pacs.parquet"),
        "cache/features",
        device,
    );
    vision.arch = Some(Arch::MobileNetV2);
    vision.precision = placement.precision;
    vision.input_size = Some(96);
    vision.views.views = REAL_VIEWS;
    vision.views.view_split = Some("train".to_owned());
    vision.views.view_domain = Some("photo".to_owned());
    vision.out = Some(pacs.clone().into());
    let vision = plan.add(
        "features-mobilenet-v2-pacs".to_owned(),
        Stage::Features,
        Invocation::Features(Box::new(FeaturesArgs::new(FeaturesCommand::Extract(
            vision,
        )))),
        vec![pacs],
        vec![],
    );
    let sst2 = "features/all-minilm-l6-v2/sst2.parquet".to_owned();
    let mut text = TextArgs::new(
        at("models/all-minilm-l6-v2"),
        at("sst2.parquet"),
        "cache/features",
        device,
    );
    text.splits = Some("dev,test".to_owned());
    text.out = Some(sst2.clone().into());
    let text = plan.add(
        "features-minilm-sst2".to_owned(),
        Stage::Features,
        Invocation::Features(Box::new(FeaturesArgs::new(FeaturesCommand::Text(text)))),
        vec![sst2],
        vec![],
    );
    (vision, text)
}
