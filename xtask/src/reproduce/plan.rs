//! The study as a list of steps: what each runs, what it reads and writes.
//!
//! Paths are relative to the output folder (steps run there), so a step's key
//! does not depend on where the folder lives.

use std::fmt::Write as _;

/// The stages in order; every step belongs to one.
pub(crate) const STAGES: [&str; 7] = [
    "data", "corrupt", "pretrain", "features", "spectral", "tune", "report",
];

/// Pre-training noise ratios of the paper, in percent.
pub(crate) const RATIOS: [u32; 5] = [0, 5, 10, 20, 30];

/// NMTune ablation variants: (name, method, consistency, covariance, singular-value weight).
pub(crate) const ABLATION: [(&str, &str, f64, f64, f64); 5] = [
    ("nmtune", "nmtune", 1.0, 0.04, 0.001),
    ("no-consistency", "nmtune", 0.0, 0.04, 0.001),
    ("no-covariance", "nmtune", 1.0, 0.0, 0.001),
    ("no-singular", "nmtune", 1.0, 0.04, 0.0),
    ("mlp", "mlp", 0.0, 0.0, 0.0),
];

/// Sizes of one profile.
#[derive(Debug, Clone)]
pub(crate) struct Profile {
    pub name: &'static str,
    pub arch: &'static str,
    pub epochs: u32,
    /// Pre-training seeds (noise draw, initialisation, heads): the study's repeats.
    pub seeds: u32,
    /// Noise ratio of the ablation, in percent.
    pub ablation_ratio: u32,
    /// Downstream tasks of the synthetic benchmark.
    pub tasks: usize,
    /// Rows kept per (split, domain, class) of CIFAR-10 and PACS (none: all).
    pub real_per_class: (Option<usize>, Option<usize>),
}

impl Profile {
    pub(crate) fn named(name: &str) -> Option<Profile> {
        Some(match name {
            "smoke" => Profile {
                name: "smoke",
                tasks: 2,
                arch: "small",
                epochs: 4,
                seeds: 2,
                ablation_ratio: 10,
                real_per_class: (Some(200), Some(30)),
            },
            "quick" => Profile {
                name: "quick",
                tasks: 3,
                arch: "small",
                epochs: 8,
                seeds: 2,
                ablation_ratio: 10,
                real_per_class: (Some(1000), None),
            },
            "full" => Profile {
                name: "full",
                tasks: 4,
                arch: "preact-resnet18",
                epochs: 60,
                seeds: 3,
                ablation_ratio: 10,
                real_per_class: (None, None),
            },
            _ => return None,
        })
    }
}

/// A downstream task: a manifest whose rows carry a domain (heads train on
/// the ID domain, every domain is evaluated) or none (heads train on `train`,
/// test on `test`, which counts as in-domain under the task's name).
#[derive(Debug, Clone)]
pub(crate) struct Task {
    pub name: String,
    pub manifest: String,
    pub domains: bool,
}

/// A command that writes benchmark data: (name, program, args, outputs).
pub(crate) type DataStep = (String, String, Vec<String>, Vec<String>);

/// Real label noise of the pre-training set: a label column used as noisy labels.
#[derive(Debug, Clone)]
pub(crate) struct RealNoise {
    /// Name in step names and the report (e.g. `cifar10n-aggre`).
    pub name: String,
    /// The manifest column holding the noisy labels.
    pub column: String,
    /// Its published noise rate in percent, rounded: where it sits among the ratios.
    pub nominal: u32,
}

/// What the study runs on.
#[derive(Debug, Clone)]
pub(crate) struct Benchmark {
    /// The commands that write the data; the first one's step is `data`.
    pub data: Vec<DataStep>,
    pub pretrain_manifest: String,
    /// Extra `nml-pretrain` arguments (e.g. `--input-size 32`).
    pub pretrain_args: Vec<String>,
    /// Extra `nml-features extract` arguments (e.g. `--resize`).
    pub extract_args: Vec<String>,
    pub tasks: Vec<Task>,
    pub id_domain: String,
    pub ood_domains: Vec<String>,
    /// Real noise conditions pre-trained beside the synthetic ratios.
    pub real_noise: Vec<RealNoise>,
    /// Also pre-train CLIP-style on the manifest's captions, swapped at each ratio.
    pub contrastive: bool,
}

/// A head to tune: (name, method, regulariser weights when not the method's defaults).
type Variant<'a> = (&'a str, &'a str, Option<(f64, f64, f64)>);

/// One unit of work: a process, its outputs, and the steps it reads from.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub name: String,
    pub stage: &'static str,
    pub program: String,
    pub args: Vec<String>,
    pub outputs: Vec<String>,
    pub deps: Vec<usize>,
    /// Files a run of this step leaves for its own restart (a resume checkpoint):
    /// removed when the step starts under another key than it last started with.
    pub scratch: Vec<String>,
    /// Hash of program, arguments and the dependencies' keys.
    pub key: String,
}

/// An entry of the results index: which table holds which part of the study.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub kind: &'static str,
    /// `supervised` (class labels) or `contrastive` (image–text pairs).
    pub setting: &'static str,
    /// `symmetric` (the ratios), or a real noise condition's name.
    pub noise: String,
    pub ratio: u32,
    pub seed: u64,
    pub task: String,
    pub variant: String,
    pub domain: String,
    pub path: String,
}

/// The whole study.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub steps: Vec<Step>,
    pub tables: Vec<Table>,
    pub seeds: Vec<u64>,
}

impl Plan {
    fn add(
        &mut self,
        name: String,
        stage: &'static str,
        program: &str,
        args: Vec<String>,
        outputs: Vec<String>,
        deps: Vec<usize>,
    ) -> usize {
        let mut text = format!("{program}\u{1f}{}", args.join("\u{1f}"));
        for &d in &deps {
            let _ = write!(text, "\u{1e}{}", self.steps[d].key);
        }
        let key = format!("{:016x}", fnv1a(text.as_bytes()));
        self.steps.push(Step {
            name,
            stage,
            program: program.to_owned(),
            args,
            outputs,
            deps,
            scratch: Vec::new(),
            key,
        });
        self.steps.len() - 1
    }
}

impl Plan {
    /// A tuning step: `args` (training table, method, evals, weights) plus seeds,
    /// device and output; its results table is indexed as `entry`.
    #[allow(clippy::too_many_arguments)] // one call site per study; a struct would only rename them
    fn add_tune(
        &mut self,
        name: String,
        mut args: Vec<String>,
        seeds: &str,
        device: &str,
        run: &str,
        dep: usize,
        mut entry: Table,
    ) {
        args.extend(strings(&[
            "--seeds", seeds, "--device", device, "--out", run, "-q",
        ]));
        let results = format!("{run}/results.parquet");
        self.add(
            name,
            "tune",
            "nml-tune",
            args,
            vec![results.clone()],
            vec![dep],
        );
        entry.path = results;
        self.tables.push(entry);
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

/// One pre-training condition: tag, setting, noise name, ratio, and `nml-noise` arguments.
struct Condition {
    tag: String,
    setting: &'static str,
    noise: String,
    ratio: u32,
    args: Vec<String>,
}

/// Builds every step of the study for `benchmark` under `profile`.
pub(crate) fn build(benchmark: &Benchmark, profile: &Profile, seed: u64, device: &str) -> Plan {
    let seeds: Vec<u64> = (0..u64::from(profile.seeds)).map(|i| seed + i).collect();
    let mut plan = Plan {
        steps: Vec::new(),
        tables: Vec::new(),
        seeds: seeds.clone(),
    };
    let data: Vec<usize> = benchmark
        .data
        .iter()
        .map(|(name, program, args, outputs)| {
            plan.add(
                name.clone(),
                "data",
                program,
                args.clone(),
                outputs.clone(),
                vec![],
            )
        })
        .collect();
    let domains: Vec<&String> = std::iter::once(&benchmark.id_domain)
        .chain(&benchmark.ood_domains)
        .collect();
    let mut conditions: Vec<Condition> = RATIOS
        .iter()
        .map(|&ratio| Condition {
            tag: format!("n{ratio:02}"),
            setting: "supervised",
            noise: "symmetric".to_owned(),
            ratio,
            args: strings(&[
                "--kind",
                "symmetric",
                "--ratio",
                &format!("{:.2}", f64::from(ratio) / 100.0),
            ]),
        })
        .collect();
    conditions.extend(benchmark.real_noise.iter().map(|r| Condition {
        tag: r.name.clone(),
        setting: "supervised",
        noise: r.name.clone(),
        ratio: r.nominal,
        args: strings(&["--kind", "column", "--column", &r.column]),
    }));
    // CLIP-style pre-training: the ratio is the fraction of image–text pairs
    // whose caption was swapped with another pair's.
    if benchmark.contrastive {
        conditions.extend(RATIOS.iter().map(|&ratio| Condition {
            tag: format!("clip-n{ratio:02}"),
            setting: "contrastive",
            noise: "caption-swap".to_owned(),
            ratio,
            args: strings(&[
                "--kind",
                "caption-swap",
                "--ratio",
                &format!("{:.2}", f64::from(ratio) / 100.0),
            ]),
        }));
    }
    for &s in &seeds {
        for c in &conditions {
            let (ratio, noise, setting) = (c.ratio, c.noise.as_str(), c.setting);
            let tag = format!("s{s}-{}", c.tag);
            let dir = format!("s{s}/{}", c.tag);
            let noisy = format!("noisy/s{s}/pretrain-{}.parquet", c.tag);
            let summary = format!("noisy/s{s}/pretrain-{}.noise.json", c.tag);
            let mut args = strings(&["--input", &benchmark.pretrain_manifest, "--output", &noisy]);
            args.extend(c.args.iter().cloned());
            args.extend(strings(&["--seed", &s.to_string()]));
            let corrupt = plan.add(
                format!("corrupt-{tag}"),
                "corrupt",
                "nml-noise",
                args,
                vec![noisy.clone(), summary.clone()],
                vec![data[0]],
            );
            plan.tables.push(table(
                "noise", setting, noise, ratio, s, "", "", "", &summary,
            ));
            let model = format!("pretrain/{dir}");
            let mut args = strings(&[
                "--train",
                &noisy,
                "--arch",
                profile.arch,
                "--epochs",
                &profile.epochs.to_string(),
                "--seed",
                &s.to_string(),
                "--device",
                device,
                "--out",
                &model,
                "--resume",
            ]);
            args.extend(benchmark.pretrain_args.iter().cloned());
            if setting == "contrastive" {
                args.extend(strings(&["--objective", "contrastive"]));
            }
            let pretrain = plan.add(
                format!("pretrain-{tag}"),
                "pretrain",
                "nml-pretrain",
                args,
                vec![
                    format!("{model}/model.safetensors"),
                    format!("{model}/model.json"),
                ],
                vec![corrupt],
            );
            plan.steps[pretrain].scratch = vec![format!("{model}/resume.safetensors")];
            plan.tables.push(table(
                "pretrain",
                setting,
                noise,
                ratio,
                s,
                "",
                "",
                "",
                &format!("{model}/model.json"),
            ));
            let mut feature_steps = Vec::new();
            for task in &benchmark.tasks {
                let features = format!("features/{dir}/{}.parquet", task.name);
                let mut args = strings(&[
                    "extract",
                    "--checkpoint",
                    &model,
                    "--manifest",
                    &task.manifest,
                    "--cache",
                    "cache/features",
                    "--device",
                    device,
                    "--out",
                    &features,
                ]);
                args.extend(benchmark.extract_args.iter().cloned());
                let mut deps = vec![pretrain];
                deps.extend(&data);
                let extract = plan.add(
                    format!("features-{tag}-{}", task.name),
                    "features",
                    "nml-features",
                    args,
                    vec![features.clone()],
                    deps,
                );
                feature_steps.push(extract);
                let mut variants: Vec<Variant> = vec![
                    ("lp", "lp", None),
                    ("mlp", "mlp", None),
                    ("nmtune", "nmtune", None),
                ];
                if setting == "supervised"
                    && noise == "symmetric"
                    && ratio == profile.ablation_ratio
                {
                    for (name, method, c, v, d) in &ABLATION[1..4] {
                        variants.push((name, method, Some((*c, *v, *d))));
                    }
                }
                for (variant, method, weights) in variants {
                    let run = format!("tune/{dir}/{}/{variant}", task.name);
                    let mut args = strings(&["--train", &features]);
                    if task.domains {
                        args.extend(strings(&["--train-domain", &benchmark.id_domain]));
                    }
                    args.extend(strings(&["--method", method]));
                    if task.domains {
                        for d in &domains {
                            args.extend(["--eval".to_owned(), format!("{d}={features}:test:{d}")]);
                        }
                    } else {
                        args.extend([
                            "--eval".to_owned(),
                            format!("{}={features}:test", task.name),
                        ]);
                    }
                    if let Some((c, v, d)) = weights {
                        args.extend([
                            "--mse-weight".to_owned(),
                            c.to_string(),
                            "--cov-weight".to_owned(),
                            v.to_string(),
                            "--svd-weight".to_owned(),
                            d.to_string(),
                        ]);
                    }
                    plan.add_tune(
                        format!("tune-{tag}-{}-{variant}", task.name),
                        args,
                        &s.to_string(),
                        device,
                        &run,
                        extract,
                        table(
                            "tune", setting, noise, ratio, s, &task.name, variant, "", "",
                        ),
                    );
                }
            }
            // Spectrum of the tasks' test features: one analysis per domain for
            // tasks with domains, one per task for the others.
            let with_domains: Vec<&Task> = benchmark.tasks.iter().filter(|t| t.domains).collect();
            let mut analyses: Vec<(String, Vec<&Task>, Option<&str>)> = Vec::new();
            if !with_domains.is_empty() {
                for d in &domains {
                    analyses.push(((*d).clone(), with_domains.clone(), Some(d.as_str())));
                }
            }
            for task in benchmark.tasks.iter().filter(|t| !t.domains) {
                analyses.push((task.name.clone(), vec![task], None));
            }
            for (name, tasks, domain) in analyses {
                let out = format!("spectral/{dir}/{name}");
                let mut args = Vec::new();
                for task in tasks {
                    args.extend([
                        "--features".to_owned(),
                        format!("features/{dir}/{}.parquet", task.name),
                        "--name".to_owned(),
                        format!("{}/{}", c.tag, task.name),
                    ]);
                }
                args.extend(strings(&["--split", "test"]));
                if let Some(d) = domain {
                    args.extend(strings(&["--domain", d]));
                }
                args.extend(strings(&["--out", &out, "-q"]));
                let metrics = format!("{out}/metrics.parquet");
                plan.add(
                    format!("spectral-{tag}-{name}"),
                    "spectral",
                    "nml-spectral",
                    args,
                    vec![metrics.clone()],
                    feature_steps.clone(),
                );
                plan.tables.push(table(
                    "spectral", setting, noise, ratio, s, "", "", &name, &metrics,
                ));
            }
        }
    }
    // The spectrum figure: every ratio of the first seed, ID test features of
    // the tasks shaped like the first one.
    let first = seeds[0];
    let figure_tasks: Vec<&Task> = benchmark
        .tasks
        .iter()
        .filter(|t| t.domains == benchmark.tasks[0].domains)
        .collect();
    let mut args = Vec::new();
    let mut deps = Vec::new();
    for ratio in RATIOS {
        for task in &figure_tasks {
            let features = format!("features/s{first}/n{ratio:02}/{}.parquet", task.name);
            deps.extend(
                plan.steps
                    .iter()
                    .position(|st| st.outputs.first() == Some(&features)),
            );
            args.extend([
                "--features".to_owned(),
                features,
                "--name".to_owned(),
                format!("{ratio}%/{}", task.name),
            ]);
        }
    }
    args.extend(strings(&["--split", "test"]));
    if benchmark.tasks[0].domains {
        args.extend(strings(&["--domain", &benchmark.id_domain]));
    }
    args.extend(strings(&["--out", "spectral/figure", "-q"]));
    plan.add(
        "spectral-figure".to_owned(),
        "spectral",
        "nml-spectral",
        args,
        vec!["spectral/figure/spectrum.png".to_owned()],
        deps,
    );
    plan
}

/// Adds the report step, which reads every other step's outputs through `run.json`.
pub(crate) fn add_report(plan: &mut Plan) {
    let deps: Vec<usize> = (0..plan.steps.len()).collect();
    plan.add(
        "report".to_owned(),
        "report",
        "nml-report",
        strings(&["--run", "run.json", "--out", ".", "-q"]),
        vec!["REPORT.md".to_owned(), "results/claims.parquet".to_owned()],
        deps,
    );
}

#[allow(clippy::too_many_arguments)] // a record literal with its fields named at every call would be longer
fn table(
    kind: &'static str,
    setting: &'static str,
    noise: &str,
    ratio: u32,
    seed: u64,
    task: &str,
    variant: &str,
    domain: &str,
    path: &str,
) -> Table {
    Table {
        kind,
        setting,
        noise: noise.to_owned(),
        ratio,
        seed,
        task: task.to_owned(),
        variant: variant.to_owned(),
        domain: domain.to_owned(),
        path: path.to_owned(),
    }
}

/// FNV-1a, 64 bit: a stable hash for step keys without a dependency.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Files the `real-models` study reads from `--data-dir`.
pub(crate) const REAL_MODEL_FILES: [&str; 6] = [
    "pacs.parquet",
    "sst2.parquet",
    "models/mobilenet_v2_imagenet.safetensors",
    "models/all-minilm-l6-v2/model.safetensors",
    "models/all-minilm-l6-v2/tokenizer.json",
    "models/all-minilm-l6-v2/config.json",
];

/// The `real-models` study: published backbones pre-trained on noisy data
/// used as black boxes. MobileNetV2 (ImageNet-1k) features of PACS, heads
/// trained on photo and tested on every domain; all-MiniLM-L6-v2 (a billion
/// noisy web sentence pairs) embeddings of SST-2, heads trained on the dev
/// split (6,735 sentences; all 60,614 train sentences take about 7 minutes
/// more on 2 cores) and tested on the test split. LP, MLP and NMTune, with
/// `seeds` head seeds each.
pub(crate) fn build_real(data_dir: &str, seeds: &[u64], device: &str) -> Plan {
    let mut plan = Plan {
        steps: Vec::new(),
        tables: Vec::new(),
        seeds: seeds.to_vec(),
    };
    let at = |f: &str| format!("{data_dir}/{f}");
    let pacs = "features/mobilenet-v2/pacs.parquet".to_owned();
    let vision = plan.add(
        "features-mobilenet-v2-pacs".to_owned(),
        "features",
        "nml-features",
        strings(&[
            "extract",
            "--checkpoint",
            &at("models/mobilenet_v2_imagenet.safetensors"),
            "--arch",
            "mobilenet-v2",
            "--input-size",
            "96",
            "--manifest",
            &at("pacs.parquet"),
            "--cache",
            "cache/features",
            "--device",
            device,
            "--out",
            &pacs,
        ]),
        vec![pacs.clone()],
        vec![],
    );
    let sst2 = "features/all-minilm-l6-v2/sst2.parquet".to_owned();
    let text = plan.add(
        "features-minilm-sst2".to_owned(),
        "features",
        "nml-features",
        strings(&[
            "text",
            "--model",
            &at("models/all-minilm-l6-v2"),
            "--manifest",
            &at("sst2.parquet"),
            "--splits",
            "dev,test",
            "--cache",
            "cache/features",
            "--device",
            device,
            "--out",
            &sst2,
        ]),
        vec![sst2.clone()],
        vec![],
    );
    let seed_list: Vec<String> = seeds.iter().map(u64::to_string).collect();
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
    for (task, train_split, domain, features, evals, dep) in jobs {
        for method in ["lp", "mlp", "nmtune"] {
            let run = format!("tune/{task}/{method}");
            let mut args = strings(&[
                "--train",
                features,
                "--train-split",
                train_split,
                "--method",
                method,
            ]);
            if let Some(d) = domain {
                args.extend(["--train-domain".to_owned(), d.to_owned()]);
            }
            for e in evals {
                args.extend(["--eval".to_owned(), e.clone()]);
            }
            plan.add_tune(
                format!("tune-{}-{method}", task.replace('/', "-")),
                args,
                &seed_list.join(","),
                device,
                &run,
                dep,
                table("tune", "supervised", "", 0, seeds[0], task, method, "", ""),
            );
        }
    }
    plan
}
