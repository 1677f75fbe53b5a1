//! Integration tests of nml-tune.

mod encoder;
mod grid; // a grid trained together is the grid trained one by one; a diverging head is its own
mod hostile; // bad settings, diverging heads, tables of another task, malformed --eval: refused before writing // views cached by extraction, cached two-view tuning, the backbone in the loop
mod knn; // k-NN predicts as DINOv2's weighted rule and, with uniform votes, as scikit-learn's KNeighborsClassifier; bad k, temperature, dimensions refused
mod logreg; // the linear probe matches scikit-learn's logistic regression on the smoke benchmark
mod losses; // each regulariser and its gradient against PyTorch
mod precision; // bf16 extraction of real checkpoints keeps SVE and LP accuracy (shared data)
mod protocols; // --method knn and auto; auto never reads the test labels; fit --method auto
mod refusals; // the refusal property over a table of hostile requests; a rerun keeps only its own heads
mod saved;
mod selection; // grids chosen on validation rows; the test set never moves the choice; bad grids refused // every head saved with PyTorch names; predict; the PyTorch module agrees; bad heads and tables refused
mod training; // nmtune with zero weights is mlp; lp learns; bad inputs; NaN guard
mod two_view; // one official two-view step against PyTorch; cached views drive two-view training

use std::path::Path;
use std::process::Command;

use nml_core::FeatureTable;

/// Runs the nml-tune binary; (success, stderr).
pub fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nml-tune"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Writes `values` as a `rows` × `cols` little-endian float32 .npy (format 1.0).
pub fn write_npy(path: &Path, rows: usize, cols: usize, values: &[f32]) {
    let header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    let mut header = header.into_bytes();
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header);
    for v in values {
        bytes.extend(v.to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

/// `table` with every test row's label moved to the next of `classes`: a choice
/// that read the test labels would move with them.
pub fn test_labels_shifted(table: &FeatureTable, classes: i64) -> FeatureTable {
    let mut shifted = table.clone();
    for i in 0..shifted.len() {
        if shifted.split[i] == "test" {
            shifted.label[i] = (shifted.label[i] + 1) % classes;
        }
    }
    shifted
}

/// A separable feature table: `classes` clusters in `dim` dimensions, `per` rows per class and split.
pub fn clusters(classes: usize, dim: usize, per: usize, seed: u64) -> FeatureTable {
    let mut state = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    };
    let centres: Vec<Vec<f32>> = (0..classes)
        .map(|_| (0..dim).map(|_| 2.0 * next()).collect())
        .collect();
    let mut t = FeatureTable {
        index: Vec::new(),
        split: Vec::new(),
        label: Vec::new(),
        domain: None,
        view: None,
        dim,
        features: Vec::new(),
        class_names: Some((0..classes).map(|c| format!("c{c}")).collect()),
        metadata: Default::default(),
    };
    for split in ["train", "test"] {
        for (c, centre) in centres.iter().enumerate() {
            for _ in 0..per {
                t.index.push(t.index.len() as i64);
                t.split.push(split.to_owned());
                t.label.push(c as i64);
                t.features.extend(centre.iter().map(|v| v + 0.6 * next()));
            }
        }
    }
    t
}
