//! The benchmarks a study can run on: the data steps that write them, the
//! pre-training set, the downstream tasks and their domains.

use std::path::{Path, PathBuf};

use nml_spec::data::{DataArgs, DataCommand, ImportCommand, ParquetImport, SynthArgs};

use crate::record::Shape;
use crate::types::{Benchmark, Profile, Sizes, RATIOS};
use facts::Facts;

pub mod facts;
pub mod real;
use crate::{Result, StudyError};

/// A downstream task: a manifest whose rows carry a domain (heads train on
/// the ID domain, every domain is evaluated) or none (heads train on `train`,
/// test on `test`, which counts as in-domain under the task's name).
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub name: String,
    pub manifest: String,
    pub domains: bool,
    /// The task's images are the pre-training corpus's, with clean labels: heads
    /// on it re-probe the pre-training data, which is not transfer, so it counts
    /// neither ID nor OOD (split `re-probe`) and no claim reads it.
    pub reprobe: bool,
    /// Its row counts, for the study's estimate.
    pub rows: TaskRows,
}

/// How many rows a task's steps compute on ([`crate::estimate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TaskRows {
    /// Every row of its manifest (what extraction encodes, views aside).
    pub all: u64,
    /// The rows heads train on: the training split of the ID domain, or of the task.
    pub train: u64,
    /// The test rows of one domain (a spectrum's rows), or of the task.
    pub test: u64,
}

/// An `nml-data` command that writes benchmark data.
#[derive(Debug, Clone, PartialEq)]
pub struct DataStep {
    /// Step name; the first data step is `data`.
    pub name: String,
    pub args: DataArgs,
    pub outputs: Vec<String>,
    /// Images (or rows) it writes, for the study's estimate.
    pub images: u64,
}

/// Real label noise of the pre-training set: a label column used as noisy labels.
#[derive(Debug, Clone, PartialEq)]
pub struct RealNoise {
    /// Name in step names and the report (e.g. `cifar10n-aggre`).
    pub name: String,
    /// The manifest column holding the noisy labels.
    pub column: String,
    /// Its published noise rate in percent, rounded: where it sits among the ratios.
    pub nominal: u32,
}

/// A benchmark for the noisy pre-training study.
#[derive(Debug, Clone, PartialEq)]
pub struct NoisyBenchmark {
    pub data: Vec<DataStep>,
    pub pretrain_manifest: String,
    /// Training rows of the pre-training manifest (the estimate's images per epoch).
    pub pretrain_rows: u64,
    /// Its held-out rows, evaluated every epoch.
    pub pretrain_test_rows: u64,
    /// The side of the images the backbones train and extract at.
    pub px: u32,
    /// The backbones' input side, when not the architecture's own (CIFAR-10's 32 px).
    pub pretrain_input_size: Option<u32>,
    /// Task images are resized to the backbone's input on extraction (PACS's to CIFAR's 32 px).
    pub extract_resize: bool,
    pub tasks: Vec<Task>,
    pub id_domain: String,
    pub ood_domains: Vec<String>,
    /// Real noise conditions pre-trained beside the synthetic ratios.
    pub real_noise: Vec<RealNoise>,
    /// Also pre-train CLIP-style on the manifest's captions, swapped at each ratio.
    pub contrastive: bool,
}

/// What a study runs: the noisy pre-training study on a benchmark, or
/// published models as black boxes (their data folder).
#[derive(Debug, Clone, PartialEq)]
pub enum Study {
    Noisy(NoisyBenchmark),
    RealModels(PathBuf),
}

/// Files the `cifar10-pacs` study reads from its data folder.
pub const CIFAR10_PACS_FILES: [&str; 2] = ["cifar10.parquet", "pacs.parquet"];

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

impl Study {
    /// The study of `benchmark` at `sizes`, and its data folder made absolute;
    /// a real benchmark needs `data_dir` holding its files.
    pub fn new(
        benchmark: Benchmark,
        data_dir: Option<&Path>,
        sizes: &Sizes,
        seed: u64,
    ) -> Result<(Study, Option<PathBuf>)> {
        if sizes.profile == Profile::Gpu && benchmark != Benchmark::Cifar10Pacs {
            return Err(StudyError::Invalid(format!(
                "--profile gpu is sized for --benchmark cifar10-pacs; for {benchmark} use full (or quick)"
            )));
        }
        match benchmark {
            Benchmark::Synth => {
                if data_dir.is_some() {
                    return Err(StudyError::Invalid(
                        "--data-dir is for real benchmarks; `synth` generates its data".to_owned(),
                    ));
                }
                Ok((Study::Noisy(synth(sizes, seed)), None))
            }
            Benchmark::RealModels => {
                let files = real::files();
                let files: Vec<&str> = files.iter().map(String::as_str).collect();
                let dir = check_data_dir(benchmark, data_dir, &files)?;
                Ok((Study::RealModels(dir.clone()), Some(dir)))
            }
            Benchmark::Cifar10Pacs => {
                let dir = check_data_dir(benchmark, data_dir, &CIFAR10_PACS_FILES)?;
                Ok((Study::Noisy(cifar10_pacs(&dir, sizes)), Some(dir)))
            }
        }
    }

    /// The study's shape, as `run.json` records it for the report.
    pub fn shape(&self, sizes: &Sizes) -> Shape {
        match self {
            Study::Noisy(b) => Shape {
                tasks: b.tasks.iter().map(|t| t.name.clone()).collect(),
                id_domain: b.id_domain.clone(),
                ood_domains: b.ood_domains.clone(),
                id_evals: b
                    .tasks
                    .iter()
                    .filter(|t| !t.domains && !t.reprobe)
                    .map(|t| t.name.clone())
                    .collect(),
                reprobe_evals: b
                    .tasks
                    .iter()
                    .filter(|t| t.reprobe)
                    .map(|t| t.name.clone())
                    .collect(),
                arch: sizes.arch.to_string(),
                epochs: sizes.epochs,
                ratios: RATIOS.to_vec(),
                ablation_ratio: sizes.ablation_ratio,
                views: sizes.views,
            },
            // Each tune table says where its evals sit (`TableEntry::splits`).
            Study::RealModels(_) => Shape {
                tasks: real::tasks_of(sizes.profile)
                    .iter()
                    .map(real::RealTask::name)
                    .collect(),
                id_domain: String::new(),
                ood_domains: Vec::new(),
                id_evals: Vec::new(),
                reprobe_evals: Vec::new(),
                arch: real::MODELS
                    .iter()
                    .map(|m| m.about)
                    .collect::<Vec<_>>()
                    .join(", "),
                epochs: 0,
                ratios: vec![0],
                ablation_ratio: 0,
                views: real::views(sizes.profile),
            },
        }
    }
}

/// Checks that `dir` is a folder holding `files`; returns it absolute.
fn check_data_dir(benchmark: Benchmark, dir: Option<&Path>, files: &[&str]) -> Result<PathBuf> {
    let invalid = |m: String| StudyError::Invalid(m);
    let dir = dir.ok_or_else(|| {
        invalid(format!(
            "--benchmark {benchmark} needs --data-dir DIR (a folder with {}, e.g. ../shared/data)",
            files.join(", ")
        ))
    })?;
    if !dir.is_dir() {
        return Err(invalid(format!(
            "--data-dir {}: no such folder",
            dir.display()
        )));
    }
    let missing: Vec<&str> = files
        .iter()
        .copied()
        .filter(|f| !dir.join(f).is_file())
        .collect();
    if !missing.is_empty() {
        return Err(invalid(format!(
            "--data-dir {}: missing {}; the {benchmark} benchmark needs {}",
            dir.display(),
            missing.join(" and "),
            files.join(", ")
        )));
    }
    std::path::absolute(dir).map_err(|source| StudyError::Io {
        path: dir.to_owned(),
        source,
    })
}

/// The embedded synthetic benchmark: one `nml-data synth` step.
fn synth(sizes: &Sizes, seed: u64) -> NoisyBenchmark {
    let synth = SynthArgs {
        tasks: Some(sizes.tasks),
        ..SynthArgs::new(sizes.profile.preset(), seed, "data")
    };
    let (n, _) = synth.sizes();
    // Every task has the same four domains (photo and the three OOD ones).
    let domains = 4;
    let per_task = TaskRows {
        all: (n.classes_per_task * domains * (n.task_train_per_class + n.task_test_per_class))
            as u64,
        train: (n.classes_per_task * n.task_train_per_class) as u64,
        test: (n.classes_per_task * n.task_test_per_class) as u64,
    };
    let tasks: Vec<Task> = (0..sizes.tasks)
        .map(|k| Task {
            name: format!("task-{k}"),
            manifest: format!("data/task-{k}.parquet"),
            domains: true,
            reprobe: false,
            rows: per_task,
        })
        .collect();
    let mut outputs = strings(&["data/benchmark.json", "data/pretrain.parquet"]);
    outputs.extend(tasks.iter().map(|t| t.manifest.clone()));
    let pretrain_rows = (n.pretrain_classes * n.pretrain_train_per_class) as u64;
    let pretrain_test_rows = (n.pretrain_classes * n.pretrain_test_per_class) as u64;
    NoisyBenchmark {
        data: vec![DataStep {
            name: "data".to_owned(),
            args: DataArgs::quiet(DataCommand::Synth(synth)),
            outputs,
            images: pretrain_rows + pretrain_test_rows + per_task.all * sizes.tasks as u64,
        }],
        pretrain_manifest: "data/pretrain.parquet".to_owned(),
        pretrain_rows,
        pretrain_test_rows,
        px: n.image_size,
        pretrain_input_size: None,
        extract_resize: false,
        tasks,
        id_domain: "photo".to_owned(),
        ood_domains: strings(&["sketch", "cartoon", "painting"]),
        real_noise: Vec::new(),
        contrastive: sizes.contrastive,
    }
}

/// `nml-data import parquet` of `dir/NAME.parquet` into `data/OUT.parquet`.
fn import(
    dir: &Path,
    step: &str,
    (name, out): (&str, &str),
    per_class: Option<usize>,
    captions: bool,
) -> DataStep {
    let out = format!("data/{out}.parquet");
    let import = ParquetImport {
        input: dir.join(format!("{name}.parquet")),
        out: out.clone().into(),
        max_per_class: per_class,
        // Class-name captions, as CLIP's CIFAR prompts: the contrastive setting's pairs.
        caption_template: captions.then(|| "a photo of a {}".to_owned()),
    };
    DataStep {
        name: step.to_owned(),
        args: DataArgs::quiet(DataCommand::Import(ImportCommand::Parquet(import))),
        outputs: vec![out],
        images: Facts::of(name).rows(per_class, |_| true),
    }
}

/// The `cifar10-pacs` benchmark: pre-training on CIFAR-10 train with
/// symmetric noise and CIFAR-10N's human labels; downstream CIFAR-10 with
/// clean labels (ID) and PACS, heads on photo, tested on every domain (art
/// painting, cartoon and sketch are OOD). PACS images are resized to the
/// backbone's 32-pixel input.
fn cifar10_pacs(dir: &Path, sizes: &Sizes) -> NoisyBenchmark {
    let (cifar_per_class, pacs_per_class) = sizes.real_per_class;
    let real = |name: &str, column: &str, nominal: u32| RealNoise {
        name: name.to_owned(),
        column: column.to_owned(),
        nominal,
    };
    let cifar = Facts::of("cifar10");
    let pacs = Facts::of("pacs");
    let split = |name: &'static str| move |p: &facts::Part| p.split == name;
    let photo =
        |name: &'static str| move |p: &facts::Part| p.split == name && p.domain == Some("photo");
    // CIFAR-10's task is its pre-training corpus with clean labels (re-probed); PACS transfers.
    let reprobe_per_class = sizes.reprobe_per_class.or(cifar_per_class);
    let cifar_rows = TaskRows {
        all: cifar.rows(reprobe_per_class, |_| true),
        train: cifar.rows(reprobe_per_class, split("train")),
        test: cifar.rows(reprobe_per_class, split("test")),
    };
    let pacs_rows = TaskRows {
        all: pacs.rows(pacs_per_class, |_| true),
        train: pacs.rows(pacs_per_class, photo("train")),
        test: pacs.rows(pacs_per_class, photo("test")),
    };
    let task = |name: &str, manifest: &str, domains: bool, rows: TaskRows| Task {
        name: name.to_owned(),
        manifest: format!("data/{manifest}.parquet"),
        domains,
        reprobe: name == "cifar10",
        rows,
    };
    let mut data = vec![
        import(dir, "data", ("cifar10", "cifar10"), cifar_per_class, true),
        import(dir, "data-pacs", ("pacs", "pacs"), pacs_per_class, false),
    ];
    // A smaller re-probe set where the profile asks: an import of its own.
    let reprobe = match sizes.reprobe_per_class {
        Some(per_class) => {
            data.push(import(
                dir,
                "data-reprobe",
                ("cifar10", "cifar10-reprobe"),
                Some(per_class),
                false,
            ));
            "cifar10-reprobe"
        }
        None => "cifar10",
    };
    NoisyBenchmark {
        data,
        pretrain_manifest: "data/cifar10.parquet".to_owned(),
        pretrain_rows: cifar.rows(cifar_per_class, split("train")),
        pretrain_test_rows: cifar.rows(cifar_per_class, split("test")),
        px: 32,
        pretrain_input_size: Some(32),
        extract_resize: true,
        tasks: vec![
            task("cifar10", reprobe, false, cifar_rows),
            task("pacs", "pacs", true, pacs_rows),
        ],
        id_domain: "photo".to_owned(),
        ood_domains: strings(&["art_painting", "cartoon", "sketch"]),
        real_noise: vec![
            real("cifar10n-aggre", "aggre_label", 9),
            real("cifar10n-random1", "random_label1", 17),
            real("cifar10n-worse", "worse_label", 40),
        ],
        contrastive: sizes.contrastive,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Profile;

    #[test]
    fn bad_benchmarks_and_folders_are_refused() {
        let sizes = Profile::Smoke.sizes();
        let err = |b, dir: Option<&Path>| Study::new(b, dir, &sizes, 0).unwrap_err().to_string();
        let e = err(Benchmark::Cifar10Pacs, None);
        assert!(e.contains("needs --data-dir"), "{e}");
        let tmp = std::env::temp_dir().join(format!("nml-study-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        let e = err(Benchmark::Cifar10Pacs, Some(&tmp));
        assert!(
            e.contains("missing cifar10.parquet and pacs.parquet"),
            "{e}"
        );
        let e = err(Benchmark::Cifar10Pacs, Some(&tmp.join("nope")));
        assert!(e.contains("no such folder"), "{e}");
        let e = err(Benchmark::RealModels, Some(&tmp));
        assert!(
            e.contains("missing pacs.parquet and cifar10.parquet and sst2.parquet"),
            "{e}"
        );
        let e = err(Benchmark::Synth, Some(&tmp));
        assert!(e.contains("`synth` generates its data"), "{e}");
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
