//! `cargo xtask reproduce`: the whole study in one command.
//!
//! xtask only plans and runs processes; every stage is a crate with its own
//! binary, and the report is written by `nml-report` from the files the
//! stages wrote. [`plan`] lists the steps (one process each) with keys that
//! hash their command line and their inputs' keys; [`exec`] runs what is not
//! finished, `--jobs` at a time, this `--shard`'s share only.

mod exec;
mod plan;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use xshell::{cmd, Shell};

use crate::{cargo, flags, project_root, setup, Result};
use exec::{Exec, Status};
use plan::{Benchmark, Plan, Profile, RealNoise, Task, RATIOS, STAGES};

/// What makes an output folder's results comparable: another value is another study.
struct Identity {
    benchmark: String,
    profile: String,
    seed: u64,
    data_dir: String,
}

impl Identity {
    fn json(&self) -> String {
        format!(
            "{{\n  \"format\": \"nml-reproduce/1\",\n  \"benchmark\": {},\n  \"profile\": {},\n  \"seed\": {},\n  \"data_dir\": {}\n}}\n",
            json_str(&self.benchmark),
            json_str(&self.profile),
            self.seed,
            json_str(&self.data_dir)
        )
    }
}

pub(crate) fn run(sh: &Shell, flags: &flags::Reproduce) -> Result<()> {
    let profile_name = flags.profile.clone().unwrap_or_else(|| "quick".to_owned());
    let profile = Profile::named(&profile_name).ok_or_else(|| {
        format!("unknown profile `{profile_name}`: expected smoke, quick or full")
    })?;
    let benchmark_name = flags
        .benchmark
        .clone()
        .unwrap_or_else(|| "synth".to_owned());
    let device = flags.device.clone().unwrap_or_else(|| "auto".to_owned());
    let seed = flags.seed.unwrap_or(0);
    let jobs = flags.jobs.unwrap_or(1).max(1);
    let shard = parse_shard(flags.shard.as_deref())?;
    let out = flags
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("data/reproduce-{profile_name}")));
    let out = if out.is_absolute() {
        out
    } else {
        std::env::current_dir()?.join(out)
    };
    let (study, data_dir) = benchmark(&benchmark_name, flags.data_dir.as_deref(), &profile, seed)?;
    let identity = Identity {
        benchmark: benchmark_name.clone(),
        profile: profile_name.clone(),
        seed,
        data_dir: data_dir
            .map(|d| d.display().to_string())
            .unwrap_or_default(),
    };
    check_identity(&out, &identity)?;
    let (mut plan, shape) = match &study {
        Study::Noisy(benchmark) => (
            plan::build(benchmark, &profile, seed, &device),
            Shape {
                tasks: benchmark.tasks.iter().map(|t| t.name.clone()).collect(),
                id_domain: benchmark.id_domain.clone(),
                ood_domains: benchmark.ood_domains.clone(),
                id_evals: benchmark
                    .tasks
                    .iter()
                    .filter(|t| !t.domains)
                    .map(|t| t.name.clone())
                    .collect(),
                arch: profile.arch.to_owned(),
                epochs: profile.epochs,
                ratios: RATIOS.to_vec(),
                ablation_ratio: profile.ablation_ratio,
            },
        ),
        Study::RealModels(dir) => {
            let seeds: Vec<u64> = (seed..seed + 3).collect();
            (
                plan::build_real(&dir.display().to_string(), &seeds, &device),
                Shape {
                    tasks: vec![
                        "mobilenet-v2/pacs".to_owned(),
                        "all-minilm-l6-v2/sst2".to_owned(),
                    ],
                    id_domain: "photo".to_owned(),
                    ood_domains: ["art_painting", "cartoon", "sketch"]
                        .iter()
                        .map(|s| (*s).to_owned())
                        .collect(),
                    id_evals: vec!["sst2".to_owned()],
                    arch: "mobilenet-v2 (ImageNet-1k), all-minilm-l6-v2 (1B web sentence pairs)"
                        .to_owned(),
                    epochs: 0,
                    ratios: vec![0],
                    ablation_ratio: 0,
                },
            )
        }
    };
    plan::add_report(&mut plan);

    if flags.dry_run {
        print_plan(&plan, &out, shard);
        return Ok(());
    }
    fs::create_dir_all(&out)?;
    exec::write_atomically(&out.join("reproduce.json"), &identity.json())?;
    setup::run(sh, false)?;
    let cargo = cargo();
    let packages: Vec<String> = [
        "nml-data",
        "nml-noise",
        "nml-pretrain",
        "nml-features",
        "nml-spectral",
        "nml-tune",
        "nml-report",
        "nml-torch",
    ]
    .iter()
    .flat_map(|p| ["-p".to_owned(), (*p).to_owned()])
    .collect();
    cmd!(sh, "{cargo} build --locked --quiet --bins {packages...}").run()?;
    let bin_dir = project_root().join("target/debug");
    let doctor = bin_dir.join("nml-doctor");
    let environment = cmd!(sh, "{doctor} --device {device}").quiet().read()?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let ex = Exec {
        out: out.clone(),
        bin_dir,
        jobs,
        shard,
        threads: (cores / jobs).max(1),
    };
    eprintln!(
        "reproduce: {} steps ({benchmark_name}, profile {profile_name}, {} seeds, shard {}/{}, {jobs} jobs) into {}",
        plan.steps.len(),
        plan.seeds.len(),
        shard.0,
        shard.1,
        out.display()
    );
    let git = git_commit(sh);
    let context = RunContext {
        identity: &identity,
        shape: &shape,
        device: &device,
        git: &git,
        environment: &environment,
        jobs,
    };
    let statuses = exec::execute(&plan, &ex, &|statuses| {
        let text = run_json(&context, &plan, statuses);
        let path = out.join("run.json");
        // Rewritten only when it changes, so a finished study is left untouched.
        if fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            exec::write_atomically(&path, &text)?;
        }
        Ok(())
    })?;
    let ran = statuses
        .iter()
        .filter(|s| matches!(s, Status::Ran(_)))
        .count();
    let cached = statuses
        .iter()
        .filter(|s| matches!(s, Status::Cached(_)))
        .count();
    eprintln!("reproduce: {ran} steps ran, {cached} were already done");
    if shard.0 == 0 {
        eprintln!("reproduce: report at {}", out.join("REPORT.md").display());
    }
    Ok(())
}

/// `i/n` with i < n; none: `0/1`.
fn parse_shard(text: Option<&str>) -> Result<(usize, usize)> {
    let Some(text) = text else { return Ok((0, 1)) };
    let parsed = text
        .split_once('/')
        .and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)));
    match parsed {
        Some((i, n)) if n > 0 && i < n => Ok((i, n)),
        _ => Err(format!("--shard `{text}`: expected i/n with 0 <= i < n, e.g. 0/4").into()),
    }
}

/// What a study runs: the noisy pre-training study on a benchmark, or published models as black boxes.
#[derive(Debug)]
enum Study {
    Noisy(Benchmark),
    RealModels(PathBuf),
}

/// The study's shape as the report needs it.
struct Shape {
    tasks: Vec<String>,
    id_domain: String,
    ood_domains: Vec<String>,
    /// Further eval names that count as in-domain (tasks without domains).
    id_evals: Vec<String>,
    arch: String,
    epochs: u32,
    ratios: Vec<u32>,
    ablation_ratio: u32,
}

/// Checks that `dir` is a folder holding `files`.
fn check_data_dir(benchmark: &str, dir: Option<&Path>, files: &[&str]) -> Result<PathBuf> {
    let dir = dir.ok_or_else(|| {
        format!(
            "--benchmark {benchmark} needs --data-dir DIR (a folder with {}, e.g. ../shared/data)",
            files.join(", ")
        )
    })?;
    if !dir.is_dir() {
        return Err(format!("--data-dir {}: no such folder", dir.display()).into());
    }
    let missing: Vec<&str> = files
        .iter()
        .copied()
        .filter(|f| !dir.join(f).is_file())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "--data-dir {}: missing {}; the {benchmark} benchmark needs {}",
            dir.display(),
            missing.join(" and "),
            files.join(", ")
        )
        .into());
    }
    Ok(std::path::absolute(dir)?)
}

/// The benchmark's data step and tasks.
fn benchmark(
    name: &str,
    data_dir: Option<&Path>,
    profile: &Profile,
    seed: u64,
) -> Result<(Study, Option<PathBuf>)> {
    match name {
        "synth" => {
            if data_dir.is_some() {
                return Err("--data-dir is for real benchmarks; `synth` generates its data".into());
            }
            let tasks: Vec<Task> = (0..profile.tasks)
                .map(|k| Task {
                    name: format!("task-{k}"),
                    manifest: format!("data/task-{k}.parquet"),
                    domains: true,
                })
                .collect();
            let mut outputs = vec![
                "data/benchmark.json".to_owned(),
                "data/pretrain.parquet".to_owned(),
            ];
            outputs.extend(tasks.iter().map(|t| t.manifest.clone()));
            let args = [
                "synth",
                "--preset",
                profile.name,
                "--tasks",
                &profile.tasks.to_string(),
                "--seed",
                &seed.to_string(),
                "--out",
                "data",
                "-q",
            ];
            Ok((
                Study::Noisy(Benchmark {
                    data: vec![(
                        "data".to_owned(),
                        "nml-data".to_owned(),
                        args.iter().map(|s| (*s).to_owned()).collect(),
                        outputs,
                    )],
                    pretrain_manifest: "data/pretrain.parquet".to_owned(),
                    pretrain_args: Vec::new(),
                    extract_args: Vec::new(),
                    tasks,
                    id_domain: "photo".to_owned(),
                    ood_domains: ["sketch", "cartoon", "painting"]
                        .iter()
                        .map(|s| (*s).to_owned())
                        .collect(),
                    real_noise: Vec::new(),
                    contrastive: true,
                }),
                None,
            ))
        }
        "real-models" => {
            let dir = check_data_dir(name, data_dir, &plan::REAL_MODEL_FILES)?;
            Ok((Study::RealModels(dir.clone()), Some(dir)))
        }
        "cifar10-pacs" => {
            let dir = check_data_dir(name, data_dir, &["cifar10.parquet", "pacs.parquet"])?;
            Ok((Study::Noisy(cifar10_pacs(&dir, profile)), Some(dir)))
        }
        other => Err(format!(
            "unknown benchmark `{other}`: expected synth, real-models or cifar10-pacs"
        )
        .into()),
    }
}

/// The `cifar10-pacs` benchmark: pre-training on CIFAR-10 train with
/// symmetric noise and CIFAR-10N's human labels; downstream CIFAR-10 with
/// clean labels (ID) and PACS, heads on photo, tested on every domain (art
/// painting, cartoon and sketch are OOD). PACS images are resized to the
/// backbone's 32-pixel input.
fn cifar10_pacs(dir: &Path, profile: &Profile) -> Benchmark {
    let import = |name: &str, input: &str, per_class: Option<usize>, captions: bool| {
        let out = format!("data/{name}.parquet");
        let mut args: Vec<String> = ["import", "parquet", "--input"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        args.push(dir.join(input).display().to_string());
        args.extend(["--out".to_owned(), out.clone(), "-q".to_owned()]);
        if let Some(n) = per_class {
            args.extend(["--max-per-class".to_owned(), n.to_string()]);
        }
        if captions {
            // Class-name captions, as CLIP's CIFAR prompts: the contrastive setting's pairs.
            args.extend([
                "--caption-template".to_owned(),
                "a photo of a {}".to_owned(),
            ]);
        }
        (name.to_owned(), "nml-data".to_owned(), args, vec![out])
    };
    let (cifar_per_class, pacs_per_class) = profile.real_per_class;
    let cifar = import("cifar10", "cifar10.parquet", cifar_per_class, true);
    let pacs = import("pacs", "pacs.parquet", pacs_per_class, false);
    let real = |name: &str, column: &str, nominal: u32| RealNoise {
        name: name.to_owned(),
        column: column.to_owned(),
        nominal,
    };
    Benchmark {
        data: vec![
            ("data".to_owned(), cifar.1, cifar.2, cifar.3),
            ("data-pacs".to_owned(), pacs.1, pacs.2, pacs.3),
        ],
        pretrain_manifest: "data/cifar10.parquet".to_owned(),
        pretrain_args: vec!["--input-size".to_owned(), "32".to_owned()],
        extract_args: vec!["--resize".to_owned()],
        tasks: vec![
            Task {
                name: "cifar10".to_owned(),
                manifest: "data/cifar10.parquet".to_owned(),
                domains: false,
            },
            Task {
                name: "pacs".to_owned(),
                manifest: "data/pacs.parquet".to_owned(),
                domains: true,
            },
        ],
        id_domain: "photo".to_owned(),
        ood_domains: ["art_painting", "cartoon", "sketch"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
        real_noise: vec![
            real("cifar10n-aggre", "aggre_label", 9),
            real("cifar10n-random1", "random_label1", 17),
            real("cifar10n-worse", "worse_label", 40),
        ],
        contrastive: true,
    }
}

/// Refuses an output folder that holds another study's results, or anything else.
fn check_identity(out: &Path, identity: &Identity) -> Result<()> {
    let record = out.join("reproduce.json");
    match fs::read_to_string(&record) {
        Ok(text) if text == identity.json() => Ok(()),
        Ok(text) => Err(format!(
            "{} holds the results of another study:\n{text}this run is:\n{}\
             use another --out, or delete that folder to start over (nothing was changed)",
            out.display(),
            identity.json()
        )
        .into()),
        Err(_) if out.exists() && fs::read_dir(out)?.next().is_some() => Err(format!(
            "{} is not empty and has no reproduce.json: it is not an nml reproduce folder; \
             use another --out (nothing was changed)",
            out.display()
        )
        .into()),
        Err(_) => Ok(()),
    }
}

#[allow(clippy::print_stdout)] // the plan is --dry-run's output
fn print_plan(plan: &Plan, out: &Path, shard: (usize, usize)) {
    let need = exec::needed(plan, shard);
    let mut text = String::new();
    let mut counts = (0, 0, 0);
    for stage in STAGES {
        let _ = writeln!(text, "{stage}:");
        for (i, step) in plan.steps.iter().enumerate() {
            if step.stage != stage {
                continue;
            }
            let status = if exec::finished(out, step).is_some() {
                counts.0 += 1;
                "cached"
            } else if exec::owner(plan, i, shard.1) == shard.0 {
                counts.1 += 1;
                "to run"
            } else if need[i] {
                counts.2 += 1;
                "waits (other shard)"
            } else {
                "other shard"
            };
            let _ = writeln!(
                text,
                "  {:<40} {status:<19} {} {}",
                step.name,
                step.program,
                step.args.join(" ")
            );
        }
    }
    let _ = writeln!(
        text,
        "{} steps: {} cached, {} to run here, {} from other shards awaited",
        plan.steps.len(),
        counts.0,
        counts.1,
        counts.2
    );
    print!("{text}");
}

fn git_commit(sh: &Shell) -> String {
    let root = project_root();
    let commit = cmd!(sh, "git -C {root} rev-parse HEAD")
        .quiet()
        .ignore_stderr()
        .read()
        .unwrap_or_else(|_| "unknown".to_owned());
    let dirty = cmd!(sh, "git -C {root} status --porcelain --untracked-files=no")
        .quiet()
        .ignore_stderr()
        .read()
        .is_ok_and(|s| !s.trim().is_empty());
    if dirty {
        format!("{commit} (with uncommitted changes)")
    } else {
        commit
    }
}

struct RunContext<'a> {
    identity: &'a Identity,
    shape: &'a Shape,
    device: &'a str,
    git: &'a str,
    environment: &'a str,
    jobs: usize,
}

/// `run.json`: the study's config, the results index and each step's time; `nml-report` reads it.
fn run_json(c: &RunContext, plan: &Plan, seconds: &[Option<f64>]) -> String {
    let list = |items: &mut dyn Iterator<Item = String>| items.collect::<Vec<_>>().join(", ");
    let mut s = String::from("{\n  \"format\": \"nml-run/1\",\n");
    let _ = writeln!(s, "  \"benchmark\": {},", json_str(&c.identity.benchmark));
    let _ = writeln!(s, "  \"profile\": {},", json_str(&c.identity.profile));
    let _ = writeln!(s, "  \"seed\": {},", c.identity.seed);
    let _ = writeln!(
        s,
        "  \"seeds\": [{}],",
        list(&mut plan.seeds.iter().map(u64::to_string))
    );
    let _ = writeln!(
        s,
        "  \"ratios\": [{}],",
        list(&mut c.shape.ratios.iter().map(u32::to_string))
    );
    let _ = writeln!(
        s,
        "  \"tasks\": [{}],",
        list(&mut c.shape.tasks.iter().map(|t| json_str(t)))
    );
    let _ = writeln!(s, "  \"id_domain\": {},", json_str(&c.shape.id_domain));
    let _ = writeln!(
        s,
        "  \"ood_domains\": [{}],",
        list(&mut c.shape.ood_domains.iter().map(|d| json_str(d)))
    );
    let _ = writeln!(
        s,
        "  \"id_evals\": [{}],",
        list(&mut c.shape.id_evals.iter().map(|d| json_str(d)))
    );
    let _ = writeln!(s, "  \"arch\": {},", json_str(&c.shape.arch));
    let _ = writeln!(s, "  \"epochs\": {},", c.shape.epochs);
    let _ = writeln!(s, "  \"ablation_ratio\": {},", c.shape.ablation_ratio);
    let _ = writeln!(s, "  \"device\": {},", json_str(c.device));
    let _ = writeln!(s, "  \"jobs\": {},", c.jobs);
    let _ = writeln!(s, "  \"git_commit\": {},", json_str(c.git));
    let _ = writeln!(s, "  \"environment\": {},", json_str(c.environment));
    s.push_str("  \"tables\": [\n");
    let tables: Vec<String> = plan
        .tables
        .iter()
        .map(|t| {
            format!(
                "    {{\"kind\": {}, \"setting\": {}, \"noise\": {}, \"ratio\": {}, \"seed\": {}, \"task\": {}, \"variant\": {}, \"domain\": {}, \"path\": {}}}",
                json_str(t.kind),
                json_str(t.setting),
                json_str(&t.noise),
                t.ratio,
                t.seed,
                json_str(&t.task),
                json_str(&t.variant),
                json_str(&t.domain),
                json_str(&t.path)
            )
        })
        .collect();
    s.push_str(&tables.join(",\n"));
    s.push_str("\n  ],\n  \"steps\": [\n");
    let steps: Vec<String> = plan
        .steps
        .iter()
        .zip(seconds)
        .filter(|(step, _)| step.stage != "report")
        .map(|(step, secs)| {
            format!(
                "    {{\"name\": {}, \"stage\": {}, \"key\": {}, \"seconds\": {}}}",
                json_str(&step.name),
                json_str(step.stage),
                json_str(&step.key),
                secs.map_or_else(|| "null".to_owned(), |v| format!("{v:.3}"))
            )
        })
        .collect();
    s.push_str(&steps.join(",\n"));
    s.push_str("\n  ]\n}\n");
    s
}

/// A JSON string literal.
fn json_str(text: &str) -> String {
    let mut s = String::with_capacity(text.len() + 2);
    s.push('"');
    for c in text.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\t' => s.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smoke_plan() -> Plan {
        let profile = Profile::named("smoke").unwrap();
        let Study::Noisy(bench) = benchmark("synth", None, &profile, 0).unwrap().0 else {
            unreachable!("synth is a noisy study")
        };
        let mut plan = plan::build(&bench, &profile, 0, "cpu");
        plan::add_report(&mut plan);
        plan
    }

    #[test]
    fn step_keys_depend_on_every_part() {
        assert_ne!(plan::fnv1a(b"a\x1fbc"), plan::fnv1a(b"ab\x1fc"));
        assert_eq!(plan::fnv1a(b""), 0xcbf2_9ce4_8422_2325);
    }

    #[test]
    fn plan_covers_the_study_and_keys_chain() {
        let plan = smoke_plan();
        let names: Vec<&str> = plan.steps.iter().map(|s| s.name.as_str()).collect();
        // 2 seeds × 5 ratios × 2 settings of corrupt and pretrain; 2 tasks ×
        // 3 methods, and 3 ablation variants at 10% for the supervised setting.
        assert_eq!(
            names.iter().filter(|n| n.starts_with("pretrain-")).count(),
            20
        );
        assert_eq!(
            names.iter().filter(|n| n.starts_with("tune-")).count(),
            2 * (2 * 5 * 2 * 3) + 2 * 2 * 3
        );
        let clip = plan
            .steps
            .iter()
            .find(|s| s.name == "pretrain-s1-clip-n20")
            .unwrap();
        assert!(clip
            .args
            .windows(2)
            .any(|w| w == ["--objective", "contrastive"]));
        let swap = plan
            .steps
            .iter()
            .find(|s| s.name == "corrupt-s1-clip-n20")
            .unwrap();
        assert!(swap
            .args
            .windows(2)
            .any(|w| w == ["--kind", "caption-swap"]));
        assert!(swap.args.windows(2).any(|w| w == ["--ratio", "0.20"]));
        assert!(!names.contains(&"tune-s0-clip-n10-task-0-no-covariance"));
        assert!(plan
            .tables
            .iter()
            .any(|t| t.setting == "contrastive" && t.kind == "tune" && t.ratio == 30));
        assert!(names.contains(&"tune-s1-n10-task-1-no-covariance"));
        assert!(!names.contains(&"tune-s1-n20-task-1-no-covariance"));
        // Heads train on the source domain only, so the other domains are out of distribution.
        for step in plan.steps.iter().filter(|s| s.stage == "tune") {
            let at = step.args.iter().position(|a| a == "--train-domain");
            assert_eq!(
                at.map(|i| step.args[i + 1].as_str()),
                Some("photo"),
                "{}",
                step.name
            );
        }
        let unique: std::collections::BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len(), "step names are unique");
        // Changing the device changes every torch step's key, and nothing upstream.
        let profile = Profile::named("smoke").unwrap();
        let Study::Noisy(bench) = benchmark("synth", None, &profile, 0).unwrap().0 else {
            unreachable!("synth is a noisy study")
        };
        let other = plan::build(&bench, &profile, 0, "cuda");
        for (a, b) in plan.steps.iter().zip(&other.steps) {
            let torch = ["pretrain", "features", "spectral", "tune"].contains(&a.stage);
            assert_eq!(a.key != b.key, torch, "{}", a.name);
        }
        // Every dependency comes earlier, so keys can chain.
        for (i, step) in plan.steps.iter().enumerate() {
            assert!(step.deps.iter().all(|&d| d < i), "{}", step.name);
        }
    }

    #[test]
    fn cifar10_pacs_plan_adds_real_noise_and_a_task_without_domains() {
        let tmp = std::env::temp_dir().join(format!("nml-xtask-c10-{}", std::process::id()));
        fs::create_dir_all(&tmp).unwrap();
        for f in ["cifar10.parquet", "pacs.parquet"] {
            fs::write(tmp.join(f), b"").unwrap();
        }
        let profile = Profile::named("smoke").unwrap();
        let (Study::Noisy(bench), Some(dir)) =
            benchmark("cifar10-pacs", Some(&tmp), &profile, 0).unwrap()
        else {
            unreachable!("cifar10-pacs is a noisy study on a data folder")
        };
        assert_eq!(dir, std::path::absolute(&tmp).unwrap());
        let plan = plan::build(&bench, &profile, 0, "cpu");
        let names: Vec<&str> = plan.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(&names[..2], &["data", "data-pacs"]);
        // 2 seeds × (5 ratios + 3 CIFAR-10N label sets + 5 caption-swap ratios).
        assert_eq!(
            names.iter().filter(|n| n.starts_with("pretrain-")).count(),
            26
        );
        assert!(plan.steps[0]
            .args
            .windows(2)
            .any(|w| w == ["--caption-template", "a photo of a {}"]));
        let worse = plan
            .steps
            .iter()
            .find(|s| s.name == "corrupt-s1-cifar10n-worse")
            .unwrap();
        assert!(worse
            .args
            .windows(2)
            .any(|w| w == ["--column", "worse_label"]));
        // No ablation on real noise; CIFAR-10 heads use the test split, PACS heads photo.
        assert!(!names.contains(&"tune-s0-cifar10n-aggre-pacs-no-covariance"));
        assert!(names.contains(&"tune-s0-n10-pacs-no-covariance"));
        let c10 = plan
            .steps
            .iter()
            .find(|s| s.name == "tune-s0-cifar10n-aggre-cifar10-nmtune")
            .unwrap();
        assert!(!c10.args.contains(&"--train-domain".to_owned()));
        assert!(c10
            .args
            .contains(&"cifar10=features/s0/cifar10n-aggre/cifar10.parquet:test".to_owned()));
        assert!(names.contains(&"spectral-s0-n20-cifar10"));
        assert!(names.contains(&"spectral-s0-n20-sketch"));
        let real: Vec<&str> = plan
            .tables
            .iter()
            .filter(|t| t.kind == "pretrain" && t.setting == "supervised" && t.noise != "symmetric")
            .map(|t| t.noise.as_str())
            .collect();
        assert_eq!(
            real,
            ["cifar10n-aggre", "cifar10n-random1", "cifar10n-worse"].repeat(2)
        );
        for step in plan.steps.iter().filter(|s| s.stage == "pretrain") {
            assert!(step.args.windows(2).any(|w| w == ["--input-size", "32"]));
        }
        fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn shards_split_each_stage_and_cover_everything_once() {
        let plan = smoke_plan();
        let n = 3;
        for (i, step) in plan.steps.iter().enumerate() {
            let owners = (0..n).filter(|&s| exec::owner(&plan, i, n) == s).count();
            assert_eq!(owners, 1, "{}", step.name);
        }
        let pretrain: Vec<usize> = (0..plan.steps.len())
            .filter(|&i| plan.steps[i].stage == "pretrain")
            .map(|i| exec::owner(&plan, i, n))
            .collect();
        let cycle: Vec<usize> = (0..20).map(|i| i % 3).collect();
        assert_eq!(pretrain, cycle);
        // Shard 2 needs the data step (shard 0's) but runs no report.
        let need = exec::needed(&plan, (2, n));
        assert!(need[0]);
        let report = plan.steps.len() - 1;
        assert_eq!(exec::owner(&plan, report, n), 0);
        assert!(!need[report]);
        assert!(exec::needed(&plan, (0, n)).iter().all(|&b| b));
    }

    #[test]
    fn shard_flags_are_checked() {
        assert_eq!(parse_shard(None).unwrap(), (0, 1));
        assert_eq!(parse_shard(Some("2/4")).unwrap(), (2, 4));
        for bad in ["4/4", "1", "a/2", "0/0", "-1/2"] {
            assert!(parse_shard(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_benchmarks_and_folders_are_refused_without_writing() {
        let profile = Profile::named("smoke").unwrap();
        let err = benchmark("imagenet", None, &profile, 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown benchmark `imagenet`"), "{err}");
        let err = benchmark("cifar10-pacs", None, &profile, 0)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("needs --data-dir"), "{err}");
        let tmp = std::env::temp_dir().join(format!("nml-xtask-{}", std::process::id()));
        fs::create_dir_all(&tmp).unwrap();
        let err = benchmark("cifar10-pacs", Some(&tmp), &profile, 0)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("missing cifar10.parquet and pacs.parquet"),
            "{err}"
        );
        let err = benchmark("cifar10-pacs", Some(&tmp.join("nope")), &profile, 0)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("no such folder"), "{err}");
        let err = benchmark("real-models", Some(&tmp), &profile, 0)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("missing pacs.parquet and sst2.parquet and models/"),
            "{err}"
        );

        let identity = |profile: &str| Identity {
            benchmark: "synth".to_owned(),
            profile: profile.to_owned(),
            seed: 0,
            data_dir: String::new(),
        };
        // An empty or absent folder is fine; a foreign one is refused.
        check_identity(&tmp.join("absent"), &identity("smoke")).unwrap();
        fs::write(tmp.join("notes.txt"), "mine").unwrap();
        let err = check_identity(&tmp, &identity("smoke"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("has no reproduce.json"), "{err}");
        fs::write(tmp.join("reproduce.json"), identity("quick").json()).unwrap();
        let err = check_identity(&tmp, &identity("smoke"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("another study"), "{err}");
        check_identity(&tmp, &identity("quick")).unwrap();
        assert_eq!(fs::read_to_string(tmp.join("notes.txt")).unwrap(), "mine");
        fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_str("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(exec::duration(12.4), "12s");
        assert_eq!(exec::duration(185.0), "3m05s");
        assert_eq!(exec::duration(3720.0), "1h02m");
    }
}
