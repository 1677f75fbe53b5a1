//! The refusal property (`nml_core::refusal`) over a table of hostile
//! requests against a folder holding an image tree, an imported manifest and
//! its contact sheets: outputs that are inputs or inside the tree read,
//! blocked outputs, values that cannot act. A new flag joins the table.

use std::path::Path;

use nml_core::refusal::{assert_refusals, run_ok, Refusal};

const BIN: &str = env!("CARGO_BIN_EXE_nml-data");

fn populated(root: &Path) {
    for (c, class) in ["cat", "dog"].iter().enumerate() {
        for i in 0..4u8 {
            let path = root.join("tree").join(class).join(format!("{i}.png"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            image::RgbImage::from_pixel(8, 8, image::Rgb([c as u8 * 200, 50, i * 40]))
                .save(&path)
                .unwrap();
        }
    }
    run_ok(
        Path::new(BIN),
        root,
        ["import", "folder", "--root", "tree", "--out", "m.parquet"],
    );
    std::fs::write(root.join("file.txt"), b"keep").unwrap();
    std::fs::write(root.join("taken.contact"), b"a file where the sheets go").unwrap();
    std::fs::create_dir_all(root.join("folder.parquet")).unwrap();
}

fn table() -> Vec<Refusal> {
    let folder = |out: &str, extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["import", "folder", "--root", "tree", "--out", out]
            .map(str::to_owned)
            .to_vec();
        v.extend(extra.iter().map(|s| (*s).to_owned()));
        v
    };
    vec![
        Refusal::new(
            "a manifest written inside the tree it reads",
            folder("tree/cat/m.parquet", &[]),
            &["--out", "inside the --root folder"],
        ),
        Refusal::new(
            "a manifest written over an image it reads",
            folder("tree/cat/0.png", &[]),
            &["--out"],
        ),
        Refusal::new(
            "parquet import over its input",
            [
                "import",
                "parquet",
                "--input",
                "m.parquet",
                "--out",
                "m.parquet",
            ],
            &["--out", "--input"],
        ),
        Refusal::new(
            "parquet import over its input, spelled otherwise",
            [
                "import",
                "parquet",
                "--input",
                "m.parquet",
                "--out",
                "tree/../m.parquet",
            ],
            &["--out", "--input"],
        ),
        Refusal::new(
            "--max-per-class 0",
            [
                "import",
                "parquet",
                "--input",
                "m.parquet",
                "--out",
                "n.parquet",
                "--max-per-class",
                "0",
            ],
            &["--max-per-class"],
        ),
        Refusal::new(
            "contact sheets where a file is",
            folder("taken.parquet", &[]),
            &["taken.contact", "not a folder"],
        ),
        Refusal::new(
            "a manifest onto a folder",
            folder("folder.parquet", &[]),
            &["--out", "is a folder"],
        ),
        Refusal::new(
            "a manifest under a file",
            folder("file.txt/m.parquet", &[]),
            &["is a file, not a folder"],
        ),
        Refusal::new(
            "synth into a file",
            ["synth", "--preset", "smoke", "--out", "file.txt"],
            &["--out", "not a folder"],
        ),
        Refusal::new(
            "cifar import of a folder without batches",
            ["import", "cifar", "--dir", "tree", "--out", "c.parquet"],
            &["tree"],
        ),
        Refusal::new(
            "an unknown flag",
            folder("x.parquet", &["--bogus"]),
            &["--bogus"],
        ),
    ]
}

#[test]
fn every_refused_request_leaves_the_folder_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path());
    assert_refusals(Path::new(BIN), dir.path(), &table());
}
