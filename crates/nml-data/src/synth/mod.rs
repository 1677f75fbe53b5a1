//! `nml-data synth`: the embedded synthetic benchmark.
//!
//! Classes are (shape × texture × palette) combinations of the factors in
//! [`render`]; 640 combinations exist.
//! The pre-training corpus takes `pretrain_classes` of them, in photo style.
//! Each downstream task takes `classes_per_task` *other* combinations (never a
//! pre-training class, never another task's), with distinct (shape, texture)
//! pairs so every class stays recognisable without colour; every task is
//! rendered in all four styles, so a head trained on `photo` (in-domain) is
//! tested on `sketch`, `cartoon` and `painting` (out-of-domain), as the paper
//! does with DomainNet.
//!
//! Output folder:
//! - `benchmark.json`: config, seed, every class's factors, the files;
//! - `pretrain.parquet`: splits `train`/`test`, domain `photo`;
//! - `task-K.parquet`: splits `train`/`test`, domains photo, sketch, cartoon, painting;
//! - `contact/*.png`: a contact sheet per manifest and split.
//!
//! Images are PNG bytes (`image_format = png`), RGB, `image_size`² pixels;
//! every row also has a `text` caption ([`caption`]) for image–text pre-training.
//! Every image has its own RNG seeded from (seed, manifest, domain, split,
//! index), so generation is parallel and yet identical for a seed.

pub mod caption;
pub mod render;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use nml_core::{Manifest, Sample};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{contact, encode_png, DataError, Result};
use render::{Factors, Style, PALETTES, SHAPES, TEXTURES};

pub use nml_spec::{Preset, SynthSizes};

/// Everything that determines a synthetic benchmark: its sizes (nml-spec's,
/// flattened, so `benchmark.json` keeps its fields) and its seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynthConfig {
    pub preset: Option<Preset>,
    pub seed: u64,
    #[serde(flatten)]
    pub sizes: SynthSizes,
}

impl SynthConfig {
    /// The config of a preset.
    pub fn preset(preset: Preset, seed: u64) -> SynthConfig {
        SynthConfig::of_sizes(Some(preset), seed, preset.sizes())
    }

    /// The config of `sizes` (`preset`: the preset they are, if they are one).
    pub fn of_sizes(preset: Option<Preset>, seed: u64, sizes: SynthSizes) -> SynthConfig {
        SynthConfig {
            preset,
            seed,
            sizes,
        }
    }

    /// Number of images the config produces.
    pub fn total_images(&self) -> usize {
        self.sizes.pretrain_classes
            * (self.sizes.pretrain_train_per_class + self.sizes.pretrain_test_per_class)
            + self.sizes.tasks
                * self.sizes.classes_per_task
                * (self.sizes.task_train_per_class + self.sizes.task_test_per_class)
                * Style::ALL.len()
    }

    fn validate(&self) -> Result<()> {
        let combos = SHAPES.len() * TEXTURES.len() * PALETTES.len();
        let needed = self.sizes.pretrain_classes + self.sizes.tasks * self.sizes.classes_per_task;
        let problem = if self.sizes.image_size < 8 || self.sizes.image_size > 512 {
            Some(format!(
                "image size {} is outside 8..=512",
                self.sizes.image_size
            ))
        } else if needed > combos {
            Some(format!(
                "{needed} classes requested but only {combos} factor combinations exist"
            ))
        } else if self.sizes.classes_per_task > SHAPES.len() * TEXTURES.len() {
            Some(format!(
                "at most {} classes per task",
                SHAPES.len() * TEXTURES.len()
            ))
        } else if self
            .sizes
            .task_palettes
            .is_some_and(|n| n == 0 || n > PALETTES.len() || n > self.sizes.classes_per_task)
        {
            Some(format!(
                "palettes per task must be 1..={} and at most the classes per task",
                PALETTES.len()
            ))
        } else if self.sizes.pretrain_classes < 2 || self.sizes.classes_per_task < 2 {
            Some("every dataset needs at least 2 classes".to_owned())
        } else {
            None
        };
        problem.map_or(Ok(()), |p| Err(DataError::Invalid(p)))
    }
}

/// What `benchmark.json` records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkInfo {
    pub config: SynthConfig,
    pub pretrain: DatasetInfo,
    pub tasks: Vec<DatasetInfo>,
    pub domains: Vec<String>,
    /// The in-domain (source) style: heads are trained here.
    pub source_domain: String,
    /// What each knob of the config does to the downstream tasks ([`KNOBS`]).
    #[serde(default)]
    pub knobs: Vec<Knob>,
    /// The code that generated it ([`nml_spec::code_version`]; empty in older files).
    #[serde(default)]
    pub code_version: String,
}

/// One knob of [`SynthConfig`] and what it does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Knob {
    pub name: String,
    pub effect: String,
}

/// The knobs that set how hard the downstream tasks are, and what each does
/// (measured accuracies: docs/benchmark.md).
pub const KNOBS: [(&str, &str); 5] = [
    (
        "tasks",
        "downstream tasks: a study averages its accuracies over them, and more tasks average out \
         how differently two backbones suit one task, the largest part of the seed spread",
    ),
    (
        "classes_per_task",
        "more classes lower in-domain and out-of-domain accuracy; chance is 1/classes",
    ),
    (
        "task_train_per_class",
        "labelled images per class and domain: fewer (few-shot) make in-domain accuracy depend on \
         the backbone's features more than on the head",
    ),
    (
        "task_test_per_class",
        "test images per class and domain: more narrow one accuracy's binomial error; they barely \
         narrow the spread between seeds (200 instead of 100: under 0.1 point), which is the heads' \
         and backbones' own variation",
    ),
    (
        "task_palettes",
        "palettes per task: null gives every class its own palette (colour alone nearly names a \
         class in photo, in-domain accuracy near 100%); n makes the classes share n palettes, so \
         classes of one palette differ in shape and texture only (fine-grained), which lowers \
         in-domain accuracy",
    ),
];

/// One manifest of the benchmark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetInfo {
    pub name: String,
    pub file: String,
    pub classes: Vec<ClassInfo>,
    pub rows: usize,
}

/// One class: its name and factors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassInfo {
    pub name: String,
    pub factors: Factors,
}

/// Chooses the classes: pre-training first, then tasks of distinct (shape, texture) pairs.
pub fn assign_classes(config: &SynthConfig) -> Result<(Vec<Factors>, Vec<Vec<Factors>>)> {
    config.validate()?;
    let mut combos: Vec<Factors> = (0..SHAPES.len())
        .flat_map(|shape| {
            (0..TEXTURES.len()).flat_map(move |texture| {
                (0..PALETTES.len()).map(move |palette| Factors {
                    shape,
                    texture,
                    palette,
                })
            })
        })
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    combos.shuffle(&mut rng);
    let pretrain: Vec<Factors> = combos.drain(..config.sizes.pretrain_classes).collect();
    let mut palettes: Vec<usize> = (0..PALETTES.len()).collect();
    palettes.shuffle(&mut rng);
    let mut tasks = Vec::with_capacity(config.sizes.tasks);
    for k in 0..config.sizes.tasks {
        // With n palettes per task: task k's n palettes (the seed's palette order,
        // taken n at a time) and how many classes each still takes (an even split).
        // None: any palette.
        let mut quota: Option<Vec<(usize, usize)>> = config.sizes.task_palettes.map(|n| {
            (0..n)
                .map(|j| {
                    let share = config.sizes.classes_per_task / n
                        + usize::from(j < config.sizes.classes_per_task % n);
                    (palettes[(k * n + j) % palettes.len()], share)
                })
                .collect()
        });
        let mut pairs = HashSet::new();
        let mut task = Vec::new();
        combos.retain(|f| {
            let slot = quota
                .as_ref()
                .map(|q| q.iter().position(|&(p, left)| p == f.palette && left > 0));
            if task.len() < config.sizes.classes_per_task
                && slot != Some(None)
                && pairs.insert((f.shape, f.texture))
            {
                if let (Some(q), Some(Some(j))) = (quota.as_mut(), slot) {
                    q[j].1 -= 1;
                }
                task.push(*f);
                false
            } else {
                true
            }
        });
        if task.len() < config.sizes.classes_per_task {
            return Err(DataError::Invalid(format!(
                "task {k}: only {} classes with distinct shape and texture{} are left",
                task.len(),
                if config.sizes.task_palettes.is_some() {
                    " in the task's palettes"
                } else {
                    ""
                }
            )));
        }
        tasks.push(task);
    }
    Ok((pretrain, tasks))
}

/// Generates the whole benchmark into `out`; returns what `benchmark.json` holds.
pub fn generate(config: &SynthConfig, out: &Path) -> Result<BenchmarkInfo> {
    let (pretrain_classes, task_classes) = assign_classes(config)?;
    let mut datasets = Vec::new();
    let pretrain = build(
        config,
        "pretrain",
        &pretrain_classes,
        &[Style::Photo],
        config.sizes.pretrain_train_per_class,
        config.sizes.pretrain_test_per_class,
    )?;
    datasets.push(("pretrain".to_owned(), pretrain, pretrain_classes));
    for (k, classes) in task_classes.into_iter().enumerate() {
        let name = format!("task-{k}");
        let manifest = build(
            config,
            &name,
            &classes,
            &Style::ALL,
            config.sizes.task_train_per_class,
            config.sizes.task_test_per_class,
        )?;
        datasets.push((name, manifest, classes));
    }
    let mut infos = Vec::new();
    for (name, mut manifest, classes) in datasets {
        manifest
            .metadata
            .insert("nml.synth".to_owned(), serde_json::to_string(config)?);
        manifest
            .metadata
            .insert("nml.dataset".to_owned(), name.clone());
        let file = format!("{name}.parquet");
        manifest.write(out.join(&file))?;
        contact::write_sheets(&manifest, &out.join("contact"), &name)?;
        infos.push(DatasetInfo {
            name,
            file,
            rows: manifest.len(),
            classes: classes
                .iter()
                .map(|f| ClassInfo {
                    name: f.name(),
                    factors: *f,
                })
                .collect(),
        });
    }
    let pretrain = infos.remove(0);
    let info = BenchmarkInfo {
        config: config.clone(),
        pretrain,
        tasks: infos,
        domains: Style::ALL.iter().map(|s| s.name().to_owned()).collect(),
        source_domain: Style::Photo.name().to_owned(),
        knobs: KNOBS
            .iter()
            .map(|(name, effect)| Knob {
                name: (*name).to_owned(),
                effect: (*effect).to_owned(),
            })
            .collect(),
        code_version: nml_spec::code_version(),
    };
    nml_core::write_json_atomic(out.join("benchmark.json"), &info)?;
    Ok(info)
}

/// Path of the benchmark description inside an output folder.
pub fn info_path(out: &Path) -> PathBuf {
    out.join("benchmark.json")
}

/// Renders one manifest: every class × style × split, in parallel.
fn build(
    config: &SynthConfig,
    name: &str,
    classes: &[Factors],
    styles: &[Style],
    train: usize,
    test: usize,
) -> Result<Manifest> {
    let mut jobs = Vec::new();
    for &style in styles {
        for (label, &factors) in classes.iter().enumerate() {
            for (split, count) in [("train", train), ("test", test)] {
                for i in 0..count {
                    jobs.push((style, label, factors, split, i));
                }
            }
        }
    }
    let dataset_tag = nml_core::hash_bytes(name.as_bytes());
    let samples: Vec<Sample> = jobs
        .par_iter()
        .enumerate()
        .map(|(index, &(style, label, factors, split, i))| {
            let key = nml_core::KeyBuilder::new("nml-data/synth")
                .hash("dataset", dataset_tag)
                .str("style", style.name())
                .str("split", split)
                .bytes("label", &(label as u64).to_le_bytes())
                .bytes("i", &(i as u64).to_le_bytes())
                .bytes("seed", &config.seed.to_le_bytes())
                .finish();
            let mut rng = ChaCha8Rng::from_seed(*key.as_bytes());
            let (pixels, scene) =
                render::render_scene(factors, style, config.sizes.image_size, &mut rng);
            let text = caption::caption(factors, style, &scene, &mut rng);
            let png = encode_png(&pixels, config.sizes.image_size, config.sizes.image_size)?;
            Ok(Sample {
                index: index as i64,
                split: split.to_owned(),
                label: label as i64,
                image: Some((png, "png".to_owned())),
                domain: Some(style.name().to_owned()),
                text: Some(text),
                ..Sample::default()
            })
        })
        .collect::<Result<_>>()?;
    Ok(Manifest::from_samples(
        classes.iter().map(Factors::name).collect(),
        samples,
    )?)
}
