//! `cargo xtask reproduce`: chain the study's stages and write `OUT/REPORT.md`.
//!
//! It only chains stages; each stage is a crate with its own binary.
//! Every step is keyed by its command line and the keys of the steps it reads,
//! and skipped when its outputs exist under the same key, so a rerun does only
//! what changed and an interrupted run resumes at the step it stopped in.
//! It never pretends: a stage that is not built yet is listed as such in the
//! report and on the terminal, and nothing stands in for its results.

use std::fs;
use std::path::{Path, PathBuf};

use xshell::{cmd, Shell};

use crate::{cargo, flags, project_root, setup, Result};

/// The study's stages in order, with the issue that builds each.
const STAGES: [(&str, &str, &str); 6] = [
    (
        "data",
        "nml-data",
        "generate the embedded synthetic benchmark or import real data",
    ),
    (
        "corrupt",
        "nml-noise",
        "inject label noise into the pre-training corpus",
    ),
    (
        "pretrain",
        "nml-pretrain",
        "pre-train one backbone per noise ratio",
    ),
    (
        "features",
        "nml-features",
        "extract frozen features for every downstream task",
    ),
    (
        "spectral",
        "nml-spectral",
        "singular value spectrum, SVE and LSVR",
    ),
    ("tune", "nml-tune", "LP, MLP and NMTune on ID and OOD tasks"),
];

/// Pre-training noise ratios of the paper, in percent.
const RATIOS: [u32; 5] = [0, 5, 10, 20, 30];

pub(crate) fn run(sh: &Shell, flags: &flags::Reproduce) -> Result<()> {
    let profile = flags.profile.clone().unwrap_or_else(|| "quick".to_owned());
    if !["smoke", "quick", "full"].contains(&profile.as_str()) {
        return Err(format!("unknown profile `{profile}`: expected smoke, quick or full").into());
    }
    let device = flags.device.clone().unwrap_or_else(|| "auto".to_owned());
    let seed = flags.seed.unwrap_or(0).to_string();
    let out = flags
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("data/reproduce-{profile}")));
    let out = if out.is_absolute() {
        out
    } else {
        project_root().join(out)
    };
    setup::run(sh, false)?;

    let built: Vec<bool> = STAGES
        .iter()
        .map(|(_, krate, _)| {
            project_root()
                .join("crates")
                .join(krate)
                .join("Cargo.toml")
                .exists()
        })
        .collect();
    let cargo = cargo();
    let mut packages = vec!["-p".to_owned(), "nml-torch".to_owned()];
    for ((_, krate, _), _) in STAGES.iter().zip(&built).filter(|(_, b)| **b) {
        packages.extend(["-p".to_owned(), (*krate).to_owned()]);
    }
    cmd!(sh, "{cargo} build --locked --bins {packages...}").run()?;
    let bin = |name: &str| project_root().join("target/debug").join(name);
    let doctor = bin("nml-doctor");
    let environment = cmd!(sh, "{doctor} --device {device}").read()?;
    let steps = Steps {
        dir: out.join(".steps"),
    };
    let mut report = format!(
        "# nml reproduction report\n\nProfile: `{profile}`. Seed: {seed}. Device request: `{device}`.\n\n\
         ## Environment\n\n```text\n{environment}\n```\n"
    );

    // data: the synthetic benchmark.
    let data = out.join("data");
    let synth = bin("nml-data");
    let data_key = steps.run(
        "data",
        &[&data.join("benchmark.json")],
        &[&format!("synth {profile} {seed}")],
        || {
            Ok(cmd!(
                sh,
                "{synth} synth --preset {profile} --seed {seed} --out {data}"
            )
            .run()?)
        },
    )?;
    report.push_str(
        "\n## Data\n\nThe embedded synthetic benchmark (`data/benchmark.json` lists every class and its factors).\n\
         Pre-training corpus (photo style, label noise injected below):\n\n![pretrain](data/contact/pretrain-train.png)\n\n\
         Downstream task 0 in its four domains (photo is in-domain; sketch, cartoon and painting are out-of-domain):\n\n\
         ![task-0](data/contact/task-0-train.png)\n",
    );

    // corrupt: one noisy pre-training manifest per ratio.
    let noise = bin("nml-noise");
    report.push_str(
        "\n## Label noise in the pre-training corpus\n\nSymmetric noise (exactly round(R·N) train rows move to another class), one manifest per ratio.\n\n\
         | ratio asked | realised | noisy rows | rows in scope | summary |\n|---:|---:|---:|---:|---|\n",
    );
    for ratio in RATIOS {
        let input = data.join("pretrain.parquet");
        let output = out
            .join("noisy")
            .join(format!("pretrain-n{ratio:02}.parquet"));
        let summary = output.with_extension("noise.json");
        let r = format!("{:.2}", f64::from(ratio) / 100.0);
        steps.run(&format!("corrupt-{ratio:02}"), &[&output, &summary], &[&data_key, &format!("symmetric {r} {seed}")], || {
            Ok(cmd!(sh, "{noise} --input {input} --output {output} --kind symmetric --ratio {r} --seed {seed}").run()?)
        })?;
        let text = fs::read_to_string(&summary)?;
        let field =
            |key: &str| json_number(&text, key).map_or_else(|| "?".to_owned(), |v| v.to_string());
        report.push_str(&format!(
            "| {r} | {} | {} | {} | `noisy/{}` |\n",
            json_number(&text, "ratio_realised")
                .map_or_else(|| "?".to_owned(), |v| format!("{v:.4}")),
            field("rows_noisy"),
            field("rows_in_scope"),
            summary.file_name().unwrap_or_default().to_string_lossy()
        ));
    }

    // pretrain: one backbone per noise ratio.
    let (arch, epochs) = match profile.as_str() {
        "smoke" => ("small", "4"),
        "quick" => ("resnet20", "8"),
        _ => ("preact-resnet18", "60"),
    };
    if built[2] {
        let pretrain = bin("nml-pretrain");
        report.push_str(&format!(
            "\n## Pre-training\n\n`{arch}`, {epochs} epochs, SGD with Nesterov momentum, cosine schedule, crop and flip; \
             one backbone per noise ratio, trained on the noisy labels.\n\
             *train acc (noisy)* is agreement with the labels training saw, *train acc (clean)* with the true ones; \
             their gap is memorised noise.\n\n\
             | noise | test acc (clean) | train acc (noisy) | train acc (clean) | images/s |\n|---:|---:|---:|---:|---:|\n"
        ));
        for ratio in RATIOS {
            let input = out
                .join("noisy")
                .join(format!("pretrain-n{ratio:02}.parquet"));
            let run = out.join("pretrain").join(format!("n{ratio:02}"));
            let key = format!("{data_key} {ratio} {arch} {epochs} {seed}");
            steps.run(&format!("pretrain-{ratio:02}"), &[&run.join("model.safetensors")], &[&key], || {
                Ok(cmd!(
                    sh,
                    "{pretrain} --train {input} --arch {arch} --epochs {epochs} --seed {seed} --device {device} --out {run} --resume"
                )
                .run()?)
            })?;
            let metrics = fs::read_to_string(run.join("metrics.csv"))?;
            let last: Vec<&str> = metrics
                .lines()
                .last()
                .unwrap_or_default()
                .split(',')
                .collect();
            let col = |i: usize| last.get(i).and_then(|v| v.parse::<f64>().ok());
            let pct =
                |v: Option<f64>| v.map_or_else(|| "?".to_owned(), |v| format!("{:.1}%", 100.0 * v));
            report.push_str(&format!(
                "| {ratio}% | {} | {} | {} | {:.0} |\n",
                pct(col(5)),
                pct(col(3)),
                pct(col(4)),
                col(6).unwrap_or(f64::NAN)
            ));
        }
    }

    // features + spectral: every backbone on every downstream task; spectrum of the ID (photo) test features.
    if built[2] && built[3] && built[4] {
        let features = bin("nml-features");
        let spectral = bin("nml-spectral");
        let tasks: Vec<PathBuf> = (0..)
            .map(|k| data.join(format!("task-{k}.parquet")))
            .take_while(|p| p.exists())
            .collect();
        let cache = out.join("cache").join("features");
        let mut tables = Vec::new();
        for ratio in RATIOS {
            let model = out.join("pretrain").join(format!("n{ratio:02}"));
            for (k, task) in tasks.iter().enumerate() {
                let table = out
                    .join("features")
                    .join(format!("n{ratio:02}"))
                    .join(format!("task-{k}.parquet"));
                let key = format!("{data_key} {ratio} {arch} {epochs} {seed} {k}");
                steps.run(&format!("features-{ratio:02}-{k}"), &[&table], &[&key], || {
                    Ok(cmd!(sh, "{features} extract --checkpoint {model} --manifest {task} --cache {cache} --device {device} --out {table}")
                        .run()?)
                })?;
                tables.push((ratio, k, table));
            }
        }
        let spectral_out = out.join("spectral").join("id");
        let mut args: Vec<String> = Vec::new();
        for (ratio, k, table) in &tables {
            args.extend([
                "--features".to_owned(),
                table.display().to_string(),
                "--name".to_owned(),
                format!("n{ratio:02}/task-{k}"),
            ]);
        }
        let key = format!("{data_key} {arch} {epochs} {seed} spectral-id");
        steps.run(
            "spectral-id",
            &[&spectral_out.join("metrics.csv")],
            &[&key],
            || {
                Ok(cmd!(
                    sh,
                    "{spectral} {args...} --split test --domain photo --out {spectral_out}"
                )
                .run()?)
            },
        )?;
        let csv = fs::read_to_string(spectral_out.join("metrics.csv"))?;
        report.push_str(
            "\n## Feature spectrum (in-domain)\n\nSingular values of each backbone's features of the downstream tasks' photo test images \
             (official preprocessing: L2 rows, row centring), averaged over tasks. \
             SVE is the entropy of σ_i/Σσ; LSVR is σ₁/Σσ. Per-table values: `spectral/id/metrics.csv`.\n\n\
             ![spectrum](spectral/id/spectrum.png)\n\n\
             | noise | SVE | LSVR | effective rank |\n|---:|---:|---:|---:|\n",
        );
        for ratio in RATIOS {
            let prefix = format!("n{ratio:02}/");
            let rows: Vec<Vec<f64>> = csv
                .lines()
                .skip(1)
                .filter(|l| l.starts_with(&prefix))
                .map(|l| {
                    l.split(',')
                        .skip(3)
                        .filter_map(|v| v.parse().ok())
                        .collect()
                })
                .collect();
            let mean = |i: usize| {
                rows.iter().filter_map(|r| r.get(i)).sum::<f64>() / rows.len().max(1) as f64
            };
            report.push_str(&format!(
                "| {ratio}% | {:.4} | {:.4} | {:.2} |\n",
                mean(0),
                mean(1),
                mean(6)
            ));
        }
    }

    // tune: LP, MLP and NMTune per backbone and task; heads trained on photo, tested on every domain.
    if built[2] && built[3] && built[5] {
        let tune = bin("nml-tune");
        let tasks: Vec<usize> = (0..)
            .take_while(|k| data.join(format!("task-{k}.parquet")).exists())
            .collect();
        let domains = ["photo", "sketch", "cartoon", "painting"];
        let methods = ["lp", "mlp", "nmtune"];
        // (ratio, method) -> (ID accuracies, OOD accuracies) over tasks and domains.
        let mut table: Vec<(u32, &str, Vec<f64>, Vec<f64>)> = Vec::new();
        for ratio in RATIOS {
            for method in methods {
                let (mut id, mut ood) = (Vec::new(), Vec::new());
                for &k in &tasks {
                    let features = out
                        .join("features")
                        .join(format!("n{ratio:02}"))
                        .join(format!("task-{k}.parquet"));
                    let run = out
                        .join("tune")
                        .join(format!("n{ratio:02}"))
                        .join(format!("task-{k}"))
                        .join(method);
                    let key = format!("{data_key} {ratio} {arch} {epochs} {seed} {k} {method}");
                    let mut args: Vec<String> = Vec::new();
                    for d in domains {
                        args.extend([
                            "--eval".to_owned(),
                            format!("{d}={}:test:{d}", features.display()),
                        ]);
                    }
                    steps.run(&format!("tune-{ratio:02}-{k}-{method}"), &[&run.join("results.csv")], &[&key], || {
                        Ok(cmd!(sh, "{tune} --train {features} --method {method} {args...} --seeds {seed} --device {device} --out {run} -q")
                            .run()?)
                    })?;
                    for line in fs::read_to_string(run.join("results.csv"))?.lines().skip(1) {
                        let cols: Vec<&str> = line.split(',').collect();
                        let acc: f64 = cols.get(4).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN);
                        if cols.get(2) == Some(&"photo") {
                            id.push(acc);
                        } else {
                            ood.push(acc);
                        }
                    }
                }
                table.push((ratio, method, id, ood));
            }
        }
        report.push_str(
            "\n## Tuning on frozen features (in-domain and out-of-domain)\n\n\
             Heads trained on each task's photo train split; ID = photo test, OOD = sketch, cartoon and painting test; \
             accuracies averaged over tasks (and OOD domains). Official hyper-parameters (AdamW, batch 64, 30 epochs, cosine; \
             NMTune weights 1.0 / 0.04 / 0.001, top-5). Single-view mode: features are cached, so the consistency term \
             compares z with the frozen feature of the same view.\n\n\
             | noise | LP ID | MLP ID | NMTune ID | LP OOD | MLP OOD | NMTune OOD |\n|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        let mean = |v: &[f64]| 100.0 * v.iter().sum::<f64>() / v.len().max(1) as f64;
        for ratio in RATIOS {
            let cell = |m: &str, id: bool| {
                table
                    .iter()
                    .find(|(r, mm, _, _)| *r == ratio && *mm == m)
                    .map_or(f64::NAN, |(_, _, i, o)| if id { mean(i) } else { mean(o) })
            };
            report.push_str(&format!(
                "| {ratio}% | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
                cell("lp", true),
                cell("mlp", true),
                cell("nmtune", true),
                cell("lp", false),
                cell("mlp", false),
                cell("nmtune", false)
            ));
        }
    }

    report
        .push_str("\n## Stages\n\n| stage | crate | status | what it does |\n|---|---|---|---|\n");
    // The chain stops at the first missing stage: a later stage that exists waits for its input.
    let chained = built.iter().take_while(|b| **b).count();
    for (i, ((name, krate, what), is_built)) in STAGES.iter().zip(&built).enumerate() {
        let status = match (*is_built, i < chained) {
            (true, true) => "ran",
            (true, false) => "built; waits for an earlier stage",
            (false, _) => "not built yet",
        };
        report.push_str(&format!("| {name} | `{krate}` | {status} | {what} |\n"));
    }
    let missing = built.iter().filter(|b| !**b).count();
    if missing > 0 {
        report.push_str(&format!(
            "\n{missing} of {} stages are not built yet, so this report has no accuracy or spectrum results: \
             nothing stands in for a stage that does not exist.\n",
            STAGES.len()
        ));
    }
    write_atomically(&out.join("REPORT.md"), &report)?;
    for ((name, krate, _), built) in STAGES.iter().zip(&built) {
        if !built {
            eprintln!("reproduce: stage `{name}` ({krate}) is not built yet; skipped");
        }
    }
    eprintln!("reproduce: wrote {}", out.join("REPORT.md").display());
    Ok(())
}

/// Step bookkeeping: `.steps/<name>.key` holds the key a step's outputs were made with.
struct Steps {
    dir: PathBuf,
}

impl Steps {
    /// Runs `work` unless every output exists and was made under the same key; returns the key.
    fn run(
        &self,
        name: &str,
        outputs: &[&Path],
        parts: &[&str],
        work: impl FnOnce() -> Result<()>,
    ) -> Result<String> {
        let key = format!("{:016x}", fnv1a(parts.join("\u{1f}").as_bytes()));
        let stamp = self.dir.join(format!("{name}.key"));
        let done = outputs.iter().all(|p| p.exists())
            && fs::read_to_string(&stamp).is_ok_and(|k| k == key);
        if done {
            eprintln!("reproduce: step `{name}` is up to date");
        } else {
            eprintln!("reproduce: step `{name}`");
            work()?;
            fs::create_dir_all(&self.dir)?;
            write_atomically(&stamp, &key)?;
        }
        Ok(key)
    }
}

/// FNV-1a, 64 bit: a stable hash for step keys without a dependency.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A top-level numeric field of JSON written by nml's own tools (`"key": 1.5`).
fn json_number(text: &str, key: &str) -> Option<f64> {
    let start = text.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = text[start..].trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn write_atomically(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, text)?;
    fs::rename(&tmp, path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_numbers_are_found_by_key() {
        let text = "{\n  \"rows\": 500,\n  \"ratio_realised\": 0.2,\n  \"tiny\": 1e-5\n}";
        assert_eq!(json_number(text, "rows"), Some(500.0));
        assert_eq!(json_number(text, "ratio_realised"), Some(0.2));
        assert_eq!(json_number(text, "tiny"), Some(1e-5));
        assert_eq!(json_number(text, "missing"), None);
    }

    #[test]
    fn step_keys_depend_on_every_part() {
        assert_ne!(fnv1a(b"a\x1fbc"), fnv1a(b"ab\x1fc"));
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
    }
}
