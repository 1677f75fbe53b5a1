//! One official two-view NMTune step equals PyTorch's
//! (tests/python/nmtune_two_view.py): every loss term, the total and the
//! gradient of every parameter, to 1e-5; and cached two-view training is
//! refused without views, deterministic with them, and differs from single view.

use std::path::PathBuf;

use nml_tune::source::Batch;
use nml_tune::{loss_terms, Head, Method, TuneConfig};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use crate::clusters;

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// |ours − theirs| ≤ tol · max|theirs|, element by element.
fn close(what: &str, ours: &Tensor, theirs: &[f64], tol: f64) {
    close_at(what, ours, theirs, tol, 1e-12);
}

/// |ours − theirs| ≤ tol · max(max|theirs|, floor), element by element.
fn close_at(what: &str, ours: &Tensor, theirs: &[f64], tol: f64, floor: f64) {
    let ours: Vec<f64> = Vec::try_from(ours.to_kind(Kind::Double).flatten(0, -1)).unwrap();
    assert_eq!(ours.len(), theirs.len(), "{what}");
    let scale = theirs
        .iter()
        .map(|v| v.abs())
        .fold(0.0, f64::max)
        .max(floor);
    for (a, b) in ours.iter().zip(theirs) {
        assert!((a - b).abs() <= tol * scale, "{what}: {a} vs {b}");
    }
}

#[test]
fn a_two_view_step_matches_the_official_code() {
    let Some(python) = nml_tests::python() else {
        eprintln!("skipped: the project Python is missing (run `cargo xtask setup`)");
        return;
    };
    let printed = nml_tests::run_python(&python, "nmtune_two_view.py", &[]);
    let r: serde_json::Value = serde_json::from_str(printed.trim()).unwrap();
    let (b, d, c) = (
        r["batch"].as_i64().unwrap(),
        r["dim"].as_i64().unwrap(),
        r["classes"].as_i64().unwrap(),
    );
    let vs = VarStore::new(Device::Cpu);
    let head = Head::new(&vs.root(), Method::Nmtune, d, c, true, 1.0);
    let variables = vs.variables();
    // PyTorch's BatchNorm1d starts at γ = 1, β = 0 (tch's default would draw γ from U(0, 1)).
    let ones = variables["mlp.1.weight"].ones_like();
    assert!(variables["mlp.1.weight"].equal(&ones), "γ starts at 1");
    assert!(
        variables["mlp.1.bias"].equal(&ones.zeros_like()),
        "β starts at 0"
    );
    let params = r["params"].as_object().unwrap();
    tch::no_grad(|| {
        for (name, p) in params {
            let shape: Vec<i64> = p["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_i64().unwrap())
                .collect();
            let values: Vec<f32> = floats(&p["values"]).iter().map(|&v| v as f32).collect();
            let var = variables
                .get(name)
                .unwrap_or_else(|| panic!("no variable {name}"));
            assert_eq!(var.size(), shape, "{name}");
            var.shallow_clone()
                .copy_(&Tensor::from_slice(&values).view(shape.as_slice()));
        }
    });
    let rows = |k: &str| {
        let v: Vec<f32> = floats(&r[k]).iter().map(|&x| x as f32).collect();
        Tensor::from_slice(&v).view([b, d])
    };
    let labels: Vec<i64> = floats(&r["labels"]).iter().map(|&x| x as i64).collect();
    let batch = Batch {
        weak: rows("weak"),
        strong: Some(rows("strong")),
    };
    let config = TuneConfig {
        two_view: true,
        ..TuneConfig::new(Method::Nmtune)
    };
    let terms = loss_terms(&config, &head, &batch, &Tensor::from_slice(&labels)).unwrap();
    let weights = [1.0, config.mse_weight, config.cov_weight, config.svd_weight];
    let expected = ["cross_entropy", "consistency", "covariance", "svd"];
    assert_eq!(terms.weighted.len(), 4);
    for (((name, value), w), key) in terms.weighted.iter().zip(weights).zip(expected) {
        close(name, &(value / w), &[r[key].as_f64().unwrap()], 1e-5);
    }
    let total = terms.sum();
    close("total", &total, &[r["total"].as_f64().unwrap()], 1e-5);
    total.backward();
    // A gradient that is zero in exact arithmetic (the first layer's bias, whose
    // shift BatchNorm removes) is rounding noise on both sides: every gradient
    // is compared at a scale of at least 1e-2 of the largest one.
    let grads = r["grads"].as_object().unwrap();
    let largest = grads
        .values()
        .flat_map(floats)
        .fold(0.0, |m: f64, v| m.max(v.abs()));
    for (name, grad) in grads {
        close_at(
            &format!("d total / d {name}"),
            &variables[name].grad(),
            &floats(grad),
            1e-5,
            1e-2 * largest,
        );
    }
}

/// `table` with `k` augmented views per row: the eval vector plus a small,
/// view-dependent perturbation.
pub(crate) fn with_views(table: &nml_core::FeatureTable, k: i64) -> nml_core::FeatureTable {
    let mut rows: Vec<usize> = Vec::new();
    let mut view = Vec::new();
    for v in 0..=k {
        rows.extend(0..table.len());
        view.extend(std::iter::repeat_n(v, table.len()));
    }
    let mut out = table.select(&rows);
    for (i, x) in out.features.iter_mut().enumerate() {
        let v = view[i / table.dim];
        if v > 0 {
            *x += 0.05 * ((i as f32) * 0.37 + v as f32).sin();
        }
    }
    out.view = Some(view);
    out
}

#[test]
fn cached_two_view_training_needs_views_and_is_deterministic() {
    let table = clusters(3, 8, 30, 2);
    let pick = |s: &str| table.select(&table.rows_where(Some(s), None));
    let (train, test) = (pick("train"), pick("test"));
    let evals = vec![("id".to_owned(), PathBuf::from("test"), test)];
    let config = TuneConfig {
        epochs: 20,
        two_view: true,
        ..TuneConfig::new(Method::Nmtune)
    };
    let err = nml_tune::tune(&config, &train, &evals, 1, Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(err.contains("augmented views"), "{err}");
    let one = with_views(&train, 1);
    let err = nml_tune::tune(&config, &one, &evals, 1, Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("two distinct") && err.contains("has 1"),
        "{err}"
    );

    let viewed = with_views(&train, 4);
    assert_eq!(viewed.views_per_row(), 4);
    let a = nml_tune::tune(&config, &viewed, &evals, 1, Device::Cpu).unwrap();
    let again = nml_tune::tune(&config, &viewed, &evals, 1, Device::Cpu).unwrap();
    assert_eq!(a, again, "deterministic by seed");
    let single = TuneConfig {
        two_view: false,
        ..config.clone()
    };
    let s = nml_tune::tune(&single, &viewed, &evals, 1, Device::Cpu).unwrap();
    assert_ne!(a[0].sve, s[0].sve, "two views change the head");
    assert_eq!(
        s,
        nml_tune::tune(&single, &train, &evals, 1, Device::Cpu).unwrap(),
        "single view reads the eval rows only"
    );
    // Views close to the eval vector: two-view training learns about as well.
    assert!((a[0].accuracy - s[0].accuracy).abs() <= 0.15, "{a:?} {s:?}");
}
