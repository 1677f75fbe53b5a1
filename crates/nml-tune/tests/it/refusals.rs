//! The refusal property (`nml_core::refusal`) over a table of hostile
//! requests, against a folder holding valid inputs and a finished output:
//! outputs that are inputs, the model-selection variants of every plain
//! check, damaged or swapped heads, empty list values, blocked output files
//! and flags that cannot act. Each is refused with one `error:` line and
//! every byte under the folder unchanged. A new flag or mode joins the table.

use std::path::Path;

use nml_core::refusal::{check_refusals, Refusal};

use crate::{clusters, run, write_npy};

/// The folder under test: inputs, a finished run in `out/`, damaged heads.
fn populated(root: &Path) {
    let p = |name: &str| root.join(name);
    clusters(3, 8, 10, 1).write(p("train.parquet")).unwrap();
    let mut other = clusters(3, 8, 10, 2);
    other.class_names = Some(vec!["x0".into(), "x1".into(), "x2".into()]);
    other.write(p("other.parquet")).unwrap();
    clusters(3, 6, 10, 1).write(p("wide.parquet")).unwrap();
    let values: Vec<f32> = (0..60 * 8).map(|i| ((i * 37) % 11) as f32 / 11.0).collect();
    write_npy(&p("v.npy"), 60, 8, &values);
    write_npy(&p("zero.npy"), 60, 0, &[]);
    let labels: String = (0..60).map(|i| format!("{}\n", i % 3)).collect();
    std::fs::write(p("y.csv"), labels).unwrap();
    let train = clusters(3, 8, 10, 1);
    let samples = (0..train.len())
        .map(|r| nml_core::Sample {
            index: train.index[r],
            split: train.split[r].clone(),
            label: train.label[r],
            ..nml_core::Sample::default()
        })
        .collect();
    let names = ["c0", "c1", "c2"].map(str::to_owned).to_vec();
    let manifest = nml_core::Manifest::from_samples(names, samples).unwrap();
    manifest.write(p("labels.parquet")).unwrap();
    let out = p("out").display().to_string();
    let train = p("train.parquet").display().to_string();
    let (ok, err) = run(&[
        "--train",
        &train,
        "--eval",
        &format!("id={train}"),
        "--method",
        "nmtune",
        "--epochs",
        "1",
        "--seeds",
        "1,2",
        "--out",
        &out,
    ]);
    assert!(ok, "{err}");
    // An output file whose place holds a folder, in two used output folders.
    std::fs::create_dir_all(p("blocked/summary.json")).unwrap();
    std::fs::create_dir_all(p("blocked-head/heads/nmtune-seed1/head.json")).unwrap();
    // Inputs named like the files an output folder gets.
    std::fs::create_dir_all(p("dup")).unwrap();
    std::fs::copy(p("train.parquet"), p("dup/results.parquet")).unwrap();
    std::fs::copy(p("train.parquet"), p("dup/grid.parquet")).unwrap();
    std::fs::write(p("file.txt"), b"keep").unwrap();
    std::fs::create_dir_all(p("dup2")).unwrap();
    std::fs::copy(p("labels.parquet"), p("dup2/summary.json")).unwrap();
    // Damaged heads, their record's weights hash updated, so only the values are wrong.
    let head = p("out/heads/nmtune-seed1");
    for (name, tensor, value) in [
        ("nan", "mlp.0.weight", f32::NAN),
        ("inf", "scale", f32::INFINITY),
        ("var", "mlp.1.running_var", -1.0),
    ] {
        let dir = p(name);
        copy_head(&head, &dir);
        set_first(&dir.join("head.safetensors"), tensor, value);
        repin(&dir);
    }
    // The weights of another head of the same shape, the record untouched.
    copy_head(&head, &p("swapped"));
    std::fs::copy(
        p("out/heads/nmtune-seed2/head.safetensors"),
        p("swapped/head.safetensors"),
    )
    .unwrap();
}

fn copy_head(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for file in ["head.json", "head.safetensors"] {
        std::fs::copy(from.join(file), to.join(file)).unwrap();
    }
}

/// Sets the first value of `tensor` (float32) in a safetensors file.
fn set_first(path: &Path, tensor: &str, value: f32) {
    let mut bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let start = header[tensor]["data_offsets"][0].as_u64().unwrap() as usize + 8 + n;
    bytes[start..start + 4].copy_from_slice(&value.to_le_bytes());
    std::fs::write(path, bytes).unwrap();
}

/// Pins the head's current weights in its record.
fn repin(dir: &Path) {
    let json = dir.join("head.json");
    let mut record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let hash = nml_core::hash_file(dir.join("head.safetensors")).unwrap();
    record["weights_hash"] = serde_json::json!(hash.to_hex());
    std::fs::write(&json, serde_json::to_string(&record).unwrap()).unwrap();
}

/// `nml-tune` on train.parquet, writing `out2`, with `extra` flags.
fn tune(extra: &[&str]) -> Vec<String> {
    tune_into("out2", extra)
}

/// [`tune`] writing into `out`.
fn tune_into(out: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--train",
        "train.parquet",
        "--eval",
        "id=train.parquet",
        "--epochs",
        "1",
        "--out",
        out,
    ]
    .map(str::to_owned)
    .to_vec();
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

fn table() -> Vec<Refusal> {
    let nm = ["--method", "nmtune"];
    let with = |a: &[&str], b: &[&str]| -> Vec<String> { tune(&[a, b].concat()) };
    vec![
        // 1. An output that is an input.
        Refusal::new(
            "predict over its .npy",
            [
                "predict",
                "--head",
                "out/heads/nmtune-seed1",
                "--features",
                "v.npy",
                "--out",
                "v.npy",
            ],
            &["--out", "--features"],
        ),
        Refusal::new(
            "predict over the head's record",
            [
                "predict",
                "--head",
                "out/heads/nmtune-seed1",
                "--features",
                "train.parquet",
                "--out",
                "out/heads/nmtune-seed1/head.json",
            ],
            &["--out", "--head"],
        ),
        Refusal::new(
            "a run whose results overwrite its training table",
            [
                "--train",
                "dup/results.parquet",
                "--eval",
                "id=dup/results.parquet",
                "--method",
                "lp",
                "--out",
                "dup",
            ],
            &["--out", "--train"],
        ),
        Refusal::new(
            "fit whose grid overwrites its features",
            ["fit", "--features", "dup/grid.parquet", "--out", "dup"],
            &["--out", "--features"],
        ),
        // 2. Model selection makes every check the plain path makes.
        Refusal::new(
            "selection with an eval table of other classes",
            tune(&[
                "--method",
                "lp",
                "--val-fraction",
                "0.2",
                "--eval",
                "ood=other.parquet",
            ]),
            &["other classes"],
        ),
        Refusal::new(
            "selection with an empty eval split",
            tune(&[
                "--method",
                "lp",
                "--val-fraction",
                "0.2",
                "--grid",
                "lr=0.01",
                "--eval",
                "ood=train.parquet:nosuch",
            ]),
            &["is empty"],
        ),
        Refusal::new(
            "selection with an eval table of another dimension",
            tune(&[
                "--method",
                "lp",
                "--val-split",
                "test",
                "--eval",
                "ood=wide.parquet",
            ]),
            &["dimensional"],
        ),
        Refusal::new(
            "validation rows inside the training rows",
            tune(&[
                "--method",
                "lp",
                "--train-split",
                "all",
                "--val-split",
                "test",
            ]),
            &["--val-split", "--train-split all"],
        ),
        Refusal::new(
            "validation split that is the training split",
            tune(&["--method", "lp", "--val-split", "train"]),
            &["--val-split"],
        ),
        Refusal::new(
            "validation split with no rows",
            tune(&["--method", "lp", "--val-split", "nosuch"]),
            &["no rows in validation split"],
        ),
        Refusal::new(
            "plain run with an eval table of other classes",
            tune(&["--method", "lp", "--eval", "ood=other.parquet"]),
            &["other classes"],
        ),
        Refusal::new(
            "relabelled training with an eval table of other classes",
            tune(&[
                "--method",
                "lp",
                "--train-labels",
                "labels.parquet",
                "--eval",
                "ood=other.parquet",
            ]),
            &["other classes"],
        ),
        Refusal::new(
            "results written over the training labels",
            [
                "--train",
                "train.parquet",
                "--train-labels",
                "dup2/summary.json",
                "--eval",
                "id=train.parquet",
                "--method",
                "lp",
                "--out",
                "dup2",
            ],
            &["--out", "--train-labels"],
        ),
        // 3. Heads are verified on load.
        Refusal::new(
            "a NaN weight",
            [
                "predict",
                "--head",
                "nan",
                "--features",
                "train.parquet",
                "--out",
                "p.parquet",
            ],
            &["mlp.0.weight", "not finite"],
        ),
        Refusal::new(
            "an infinite scale",
            [
                "predict",
                "--head",
                "inf",
                "--features",
                "train.parquet",
                "--out",
                "p.parquet",
            ],
            &["scale", "not finite"],
        ),
        Refusal::new(
            "a negative BatchNorm variance",
            [
                "predict",
                "--head",
                "var",
                "--features",
                "train.parquet",
                "--out",
                "p.parquet",
            ],
            &["running_var", "not positive"],
        ),
        Refusal::new(
            "weights of another head",
            [
                "predict",
                "--head",
                "swapped",
                "--features",
                "train.parquet",
                "--out",
                "p.parquet",
            ],
            &["not the weights"],
        ),
        // 4. Empty list values, blocked outputs: refused before the first write.
        Refusal::new("empty --seeds", with(&nm, &["--seeds", ""]), &["--seeds"]),
        Refusal::new(
            "empty --train-split",
            with(&nm, &["--train-split", ""]),
            &["--train-split"],
        ),
        Refusal::new(
            "empty grid values",
            tune(&["--method", "lp", "--val-fraction", "0.2", "--grid", "lr="]),
            &["--grid"],
        ),
        Refusal::new(
            "a folder where summary.json goes",
            [
                "--train",
                "train.parquet",
                "--eval",
                "id=train.parquet",
                "--method",
                "lp",
                "--epochs",
                "1",
                "--out",
                "blocked",
            ],
            &["summary.json", "is a folder"],
        ),
        Refusal::new(
            "a folder where a head's record goes",
            [
                "--train",
                "train.parquet",
                "--eval",
                "id=train.parquet",
                "--method",
                "nmtune",
                "--epochs",
                "1",
                "--seeds",
                "1",
                "--out",
                "blocked-head",
            ],
            &["head.json", "is a folder"],
        ),
        Refusal::new(
            "selection into a blocked folder",
            tune_into("blocked", &["--method", "lp", "--val-fraction", "0.2"]),
            &["summary.json"],
        ),
        Refusal::new(
            "fit into a blocked folder",
            [
                "fit",
                "--embeddings",
                "v.npy",
                "--labels",
                "y.csv",
                "--seeds",
                "1",
                "--out",
                "blocked-head",
            ],
            &["head.json"],
        ),
        Refusal::new(
            "--out naming a file",
            tune_into("file.txt", &nm),
            &["--out", "not a folder"],
        ),
        Refusal::new(
            "predict into a path under a file",
            [
                "predict",
                "--head",
                "out/heads/nmtune-seed1",
                "--features",
                "v.npy",
                "--out",
                "file.txt/p.parquet",
            ],
            &["is a file, not a folder"],
        ),
        // 5. Flags that cannot act.
        Refusal::new(
            "fit --features with --labels",
            [
                "fit",
                "--features",
                "train.parquet",
                "--labels",
                "y.csv",
                "--out",
                "out2",
            ],
            &["--labels"],
        ),
        Refusal::new(
            "a regulariser grid on lp",
            tune(&[
                "--method",
                "lp",
                "--val-fraction",
                "0.2",
                "--grid",
                "mse-weight=0,1",
            ]),
            &["--grid mse-weight", "lp"],
        ),
        Refusal::new(
            "fit with a regulariser grid on lp",
            [
                "fit",
                "--embeddings",
                "v.npy",
                "--labels",
                "y.csv",
                "--method",
                "lp",
                "--grid",
                "cov-weight=0,1",
                "--out",
                "out2",
            ],
            &["--grid cov-weight"],
        ),
        Refusal::new(
            "svd-topk grid with the term off",
            tune(&[
                "--method",
                "mlp",
                "--val-fraction",
                "0.2",
                "--grid",
                "svd-topk=3,5",
            ]),
            &["--grid svd-topk"],
        ),
        Refusal::new(
            "--svd-topk with the term off",
            tune(&["--method", "mlp", "--svd-topk", "3"]),
            &["--svd-topk"],
        ),
        Refusal::new(
            "--no-residual on lp",
            tune(&["--method", "lp", "--no-residual"]),
            &["--no-residual"],
        ),
        Refusal::new(
            "a regulariser weight on lp",
            tune(&["--method", "lp", "--cov-weight", "0.1"]),
            &["regularisers"],
        ),
        // 6. What crashed.
        Refusal::new(
            "fit on a 0-column .npy",
            [
                "fit",
                "--embeddings",
                "zero.npy",
                "--labels",
                "y.csv",
                "--out",
                "out2",
            ],
            &["0"],
        ),
    ]
}

#[test]
fn every_refused_request_leaves_the_folder_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path());
    let mut cases = table();
    // A folder nothing can be written in; root ignores permission bits, so the
    // case runs only where they hold.
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    if std::fs::write(locked.join("probe"), b"").is_err() {
        cases.push(Refusal::new(
            "a read-only --out",
            tune_into("locked/o", &["--method", "lp"]),
            &["cannot write"],
        ));
    } else {
        std::fs::remove_file(locked.join("probe")).unwrap();
        eprintln!(
            "the read-only --out case is skipped: this user writes through permission bits (root)"
        );
    }
    let result = check_refusals(
        Path::new(env!("CARGO_BIN_EXE_nml-tune")),
        dir.path(),
        &cases,
    );
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    if let Err(why) = result {
        panic!("{why}");
    }
}

#[test]
fn a_rerun_into_a_used_folder_keeps_only_its_own_heads() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).display().to_string();
    clusters(3, 8, 10, 1).write(p("train.parquet")).unwrap();
    let train = p("train.parquet");
    let eval = format!("id={train}");
    let go = |seeds: &str, extra: &[&str]| {
        let mut args = vec![
            "--train", &train, "--eval", &eval, "--method", "lp", "--epochs", "1", "--seeds", seeds,
        ];
        args.extend_from_slice(extra);
        let out = p("out");
        args.extend(["--out", &out]);
        let (ok, err) = run(&args);
        assert!(ok, "{err}");
    };
    go("1,2", &["--val-fraction", "0.2", "--grid", "lr=0.01"]);
    std::fs::write(dir.path().join("out/notes.txt"), b"mine").unwrap();
    assert!(dir.path().join("out/grid.parquet").exists());
    go("3", &[]);
    let heads: Vec<String> = std::fs::read_dir(dir.path().join("out/heads"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(heads, ["lp-seed3"]);
    assert!(
        !dir.path().join("out/grid.parquet").exists(),
        "a stale grid was kept"
    );
    assert!(
        dir.path().join("out/notes.txt").exists(),
        "a file nml-tune does not write was removed"
    );
}
