//! The loss terms equal PyTorch's on fixed inputs, gradients of the
//! covariance and SVD terms included (tests/python/nmtune_losses.py).

use nml_tune::losses;
use tch::{Kind, Tensor};

fn inputs() -> (Tensor, Tensor) {
    let (b, d) = (8i64, 6i64);
    let i = Tensor::arange(b * d, (Kind::Double, tch::Device::Cpu)).view([b, d]);
    let z = ((&i * 0.7).sin() + &i * (0.05 / (b * d) as f64) + i.remainder(5) * 0.1)
        .to_kind(Kind::Float);
    let f = (&i * 0.3).cos().to_kind(Kind::Float);
    (z.set_requires_grad(true), f)
}

fn close(ours: &Tensor, theirs: &[f64], tol: f64) {
    let ours: Vec<f64> = Vec::try_from(ours.to_kind(Kind::Double).flatten(0, -1)).unwrap();
    assert_eq!(ours.len(), theirs.len());
    let scale = theirs
        .iter()
        .map(|v| v.abs())
        .fold(0.0, f64::max)
        .max(1e-12);
    for (a, b) in ours.iter().zip(theirs) {
        assert!((a - b).abs() <= tol * scale, "{a} vs {b}");
    }
}

#[test]
fn loss_terms_and_gradients_match_pytorch() {
    let Some(python) = nml_tests::python() else {
        eprintln!("skipped: the project Python is missing (run `cargo xtask setup`)");
        return;
    };
    let printed = nml_tests::run_python(&python, "nmtune_losses.py", &[]);
    let reference: serde_json::Value = serde_json::from_str(printed.trim()).unwrap();
    let number = |k: &str| reference[k].as_f64().unwrap();
    let list = |k: &str| -> Vec<f64> {
        reference[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };

    let (z, f) = inputs();
    close(&losses::consistency(&z, &f), &[number("consistency")], 1e-5);
    let cov = losses::covariance(&z);
    close(&cov, &[number("covariance")], 1e-5);
    let grad_cov = Tensor::run_backward(&[&cov], &[&z], false, false).remove(0);
    close(&grad_cov, &list("grad_cov"), 1e-4);
    let svd = losses::dominant_sv(&z, 3).unwrap();
    close(&svd, &[number("svd")], 1e-5);
    let grad_svd = Tensor::run_backward(&[&svd], &[&z], false, false).remove(0);
    close(&grad_svd, &list("grad_svd"), 1e-4);
}
