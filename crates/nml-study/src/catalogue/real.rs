//! The `real-models` benchmark as a catalogue: published models pre-trained
//! on noisy data, the datasets of the data folder, and the tasks, each one
//! (model, dataset, source split and domain, evaluation sets). Adding a model
//! or a dataset is one entry here; the plan, the report's tables and claim 6
//! read the entries.

use std::fmt;

use nml_spec::Arch;
use serde::{Deserialize, Serialize};

use crate::types::{Profile, Split};

/// What a model sees: its report rows are pooled apart (claim 6 per modality).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    Vision,
    Text,
}

impl Modality {
    pub const ALL: [Modality; 2] = [Modality::Vision, Modality::Text];

    pub fn name(self) -> &'static str {
        match self {
            Modality::Vision => "vision",
            Modality::Text => "text",
        }
    }
}

impl fmt::Display for Modality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a published model's features are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoder {
    /// Image weights `nml-features extract --arch` runs at `input_size` pixels
    /// (images of another size are resized), with `views` augmented views of
    /// the rows heads train on for two-view MLP and NMTune heads.
    Image {
        weights: &'static str,
        arch: Arch,
        input_size: u32,
    },
    /// A sentence encoder folder `nml-features text` runs (one embedding per
    /// text, a black box: heads stay single-view).
    Text { folder: &'static str },
}

/// A published backbone pre-trained on noisy data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RealModel {
    /// Its name in step names, task names and the report.
    pub name: &'static str,
    /// What it was pre-trained on, for the report.
    pub about: &'static str,
    pub encoder: Encoder,
    pub modality: Modality,
}

impl RealModel {
    /// The width of its features (MiniLM's sentence embedding: 384).
    pub fn feature_dim(&self) -> u32 {
        match self.encoder {
            Encoder::Image { arch, .. } => u32::try_from(arch.feature_dim()).unwrap_or(u32::MAX),
            Encoder::Text { .. } => 384,
        }
    }
}

/// MobileNetV2, ImageNet-1k (web images with label noise), at its native 224 px.
pub const MOBILENET_V2: RealModel = RealModel {
    name: "mobilenet-v2",
    about: "MobileNetV2 (ImageNet-1k, 224 px)",
    encoder: Encoder::Image {
        weights: "models/mobilenet_v2_imagenet.safetensors",
        arch: Arch::MobileNetV2,
        input_size: 224,
    },
    modality: Modality::Vision,
};

/// all-MiniLM-L6-v2: a billion noisy web sentence pairs, its own 256-token window.
pub const MINILM: RealModel = RealModel {
    name: "all-minilm-l6-v2",
    about: "all-MiniLM-L6-v2 (1B web sentence pairs)",
    encoder: Encoder::Text {
        folder: "models/all-minilm-l6-v2",
    },
    modality: Modality::Text,
};

/// Every model of the catalogue.
pub const MODELS: [RealModel; 2] = [MOBILENET_V2, MINILM];

/// A dataset file of the data folder (`NAME.parquet`), imported into the
/// study with at most `per_class` rows per (split, domain, class) where its
/// full size costs too much on 2 cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RealDataset {
    pub name: &'static str,
    /// Splits the encoder reads (none: every row).
    pub splits: Option<&'static str>,
    /// The cap of the quick and full profiles (the smoke profile caps every dataset).
    pub per_class: Option<usize>,
}

/// The datasets, each imported once and encoded once per model that reads it.
pub const DATASETS: [RealDataset; 8] = [
    RealDataset {
        name: "pacs",
        splits: None,
        per_class: None,
    },
    // 500 per class of train and of test: 10 × 500 training images with 8
    // views each at 224 px cost 7 minutes on 2 cores; all 50,000 would take 70.
    RealDataset {
        name: "cifar10",
        splits: None,
        per_class: Some(500),
    },
    // The dev split (6,735 sentences) trains; train's 60,614 are not encoded.
    RealDataset {
        name: "sst2",
        splits: Some("dev,test"),
        per_class: None,
    },
    RealDataset {
        name: "sentiment-ood",
        splits: None,
        per_class: None,
    },
    RealDataset {
        name: "cola",
        splits: None,
        per_class: None,
    },
    RealDataset {
        name: "rte",
        splits: None,
        per_class: None,
    },
    RealDataset {
        name: "mrpc",
        splits: Some("train,test"),
        per_class: None,
    },
    RealDataset {
        name: "sick",
        splits: Some("train,test"),
        per_class: None,
    },
];

/// Rows per (split, domain, class) of every dataset in the smoke profile.
pub const SMOKE_PER_CLASS: usize = 12;

/// One evaluation of a task's heads: `split` (and `domain`) of `dataset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealEval {
    pub name: String,
    pub dataset: &'static str,
    pub split: &'static str,
    pub domain: Option<&'static str>,
    /// In domain (the source's distribution) or out of domain.
    pub kind: Split,
}

/// One task: `model`'s features of `dataset`, heads trained on `train_split`
/// (and `train_domain`), evaluated on `evals`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealTask {
    pub model: RealModel,
    pub dataset: &'static str,
    pub train_split: &'static str,
    pub train_domain: Option<&'static str>,
    pub evals: Vec<RealEval>,
    /// Kept by the quick profile.
    pub quick: bool,
}

impl RealTask {
    /// `model/dataset`, with the source domain where the dataset has several.
    pub fn name(&self) -> String {
        match self.train_domain {
            Some(d) => format!("{}/{}-{d}", self.model.name, self.dataset),
            None => format!("{}/{}", self.model.name, self.dataset),
        }
    }
}

/// PACS's domains, the order of the dataset.
pub const PACS_DOMAINS: [&str; 4] = ["photo", "art_painting", "cartoon", "sketch"];

fn eval(
    name: &str,
    dataset: &'static str,
    split: &'static str,
    domain: Option<&'static str>,
    kind: Split,
) -> RealEval {
    RealEval {
        name: name.to_owned(),
        dataset,
        split,
        domain,
        kind,
    }
}

/// Every task of the catalogue, in the order the study runs them.
pub fn tasks() -> Vec<RealTask> {
    let mut tasks = Vec::new();
    // Heads on each PACS domain in turn, tested on all four: 4 ID and 12 OOD
    // pairs (the paper trains on DomainNet's real and sketch).
    for source in PACS_DOMAINS {
        tasks.push(RealTask {
            model: MOBILENET_V2,
            dataset: "pacs",
            train_split: "train",
            train_domain: Some(source),
            evals: PACS_DOMAINS
                .iter()
                .map(|&d| {
                    let kind = if d == source { Split::Id } else { Split::Ood };
                    eval(d, "pacs", "test", Some(d), kind)
                })
                .collect(),
            quick: source == "photo",
        });
    }
    tasks.push(RealTask {
        model: MOBILENET_V2,
        dataset: "cifar10",
        train_split: "train",
        train_domain: None,
        evals: vec![eval("cifar10", "cifar10", "test", None, Split::Id)],
        quick: false,
    });
    let mut sst2 = vec![eval("sst2", "sst2", "test", None, Split::Id)];
    for d in ["amazon", "imdb", "yelp"] {
        sst2.push(eval(d, "sentiment-ood", "test", Some(d), Split::Ood));
    }
    tasks.push(RealTask {
        model: MINILM,
        dataset: "sst2",
        train_split: "dev",
        train_domain: None,
        evals: sst2,
        quick: true,
    });
    tasks.push(RealTask {
        model: MINILM,
        dataset: "cola",
        train_split: "train",
        train_domain: None,
        evals: vec![
            eval("cola-id", "cola", "test", Some("in-domain"), Split::Id),
            eval(
                "cola-ood",
                "cola",
                "test",
                Some("out-of-domain"),
                Split::Ood,
            ),
        ],
        quick: true,
    });
    for (dataset, test, quick) in [
        ("rte", "dev", true),
        ("mrpc", "test", true),
        ("sick", "test", false),
    ] {
        tasks.push(RealTask {
            model: MINILM,
            dataset,
            train_split: "train",
            train_domain: None,
            evals: vec![eval(dataset, dataset, test, None, Split::Id)],
            quick,
        });
    }
    tasks
}

/// The tasks `profile` runs: the quick profile keeps PACS from photo, SST-2
/// with its OOD sets, CoLA, RTE and MRPC (12 comparisons); smoke and full keep all.
pub fn tasks_of(profile: Profile) -> Vec<RealTask> {
    tasks()
        .into_iter()
        .filter(|t| profile != Profile::Quick || t.quick)
        .collect()
}

/// The task named `name`.
pub fn task(name: &str) -> Option<RealTask> {
    tasks().into_iter().find(|t| t.name() == name)
}

/// Augmented views cached per training image for two-view heads: 8 at 224 px
/// (16 at 96 px cost the same), 2 in the smoke profile.
pub fn views(profile: Profile) -> u32 {
    match profile {
        Profile::Smoke => 2,
        Profile::Quick | Profile::Full | Profile::Gpu => 8,
    }
}

/// The data-folder files the catalogue reads.
pub fn files() -> Vec<String> {
    let mut files: Vec<String> = DATASETS
        .iter()
        .map(|d| format!("{}.parquet", d.name))
        .collect();
    for model in MODELS {
        match model.encoder {
            Encoder::Image { weights, .. } => files.push(weights.to_owned()),
            Encoder::Text { folder } => {
                for f in ["model.safetensors", "tokenizer.json", "config.json"] {
                    files.push(format!("{folder}/{f}"));
                }
            }
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_reads_catalogued_data_and_has_an_id_eval() {
        let names: Vec<String> = tasks().iter().map(RealTask::name).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        let comparisons: usize = tasks().iter().map(|t| t.evals.len()).sum();
        assert_eq!(comparisons, 4 * 4 + 1 + 4 + 2 + 3);
        for t in tasks() {
            assert!(DATASETS.iter().any(|d| d.name == t.dataset), "{}", t.name());
            assert_eq!(
                t.evals.iter().filter(|e| e.kind == Split::Id).count(),
                1,
                "{}",
                t.name()
            );
            for e in &t.evals {
                assert!(DATASETS.iter().any(|d| d.name == e.dataset), "{}", e.name);
            }
        }
        let quick: usize = tasks_of(Profile::Quick).iter().map(|t| t.evals.len()).sum();
        assert!(quick >= 10, "{quick}");
        assert_eq!(
            task("mobilenet-v2/pacs-sketch").unwrap().train_domain,
            Some("sketch")
        );
    }
}
