//! A grid trained together is the same heads as the grid trained one by one:
//! every head of `fit_together` equals `fit`'s with its configuration (to the
//! rounding of batched products), a diverging head leaves the others alone,
//! and selection picks the same point either way.

use std::collections::HashMap;

use nml_tune::grid::{fit_together, shares_pass};
use nml_tune::select::{select, GridKey, GridTraining};
use nml_tune::train::training_source;
use nml_tune::{fit, Method, TuneConfig, TuneError};
use tch::nn::ModuleT;
use tch::{Device, Tensor};

use crate::clusters;
use crate::two_view::with_views;

fn variables(vs: &tch::nn::VarStore) -> HashMap<String, Tensor> {
    vs.variables()
}

/// The first layer's bias sits before BatchNorm, which removes it: its
/// gradient is zero but for rounding, which Adam scales up to steps of the
/// learning rate's size, so it (and the running mean that tracks it) differ
/// between any two ways of computing the same head. The outputs are compared instead.
const UNDETERMINED: [&str; 2] = ["mlp.0.bias", "mlp.1.running_mean"];

/// The largest |a − b| over every variable the loss determines, relative to the largest |b|.
fn max_difference(a: &tch::nn::VarStore, b: &tch::nn::VarStore) -> f64 {
    let (a, b) = (variables(a), variables(b));
    assert_eq!(
        a.keys().collect::<std::collections::BTreeSet<_>>(),
        b.keys().collect()
    );
    a.iter()
        .filter(|(name, _)| !UNDETERMINED.contains(&name.as_str()))
        .map(|(name, t)| {
            let r = &b[name];
            let scale = r.abs().max().double_value(&[]).max(1e-6);
            (t - r).abs().max().double_value(&[]) / scale
        })
        .fold(0.0, f64::max)
}

/// Trains `configs` together and each alone on `table`'s training rows; asserts they agree.
fn together_equals_alone(configs: &[TuneConfig], table: &nml_core::FeatureTable, tol: f64) {
    let rows = table.eval_view();
    let together = {
        let mut source =
            training_source(configs[0].two_view, table, &rows, 3, Device::Cpu).unwrap();
        fit_together(configs, source.as_mut(), &rows.label, 3, 3, Device::Cpu).unwrap()
    };
    for (config, outcome) in configs.iter().zip(&together) {
        let mut source = training_source(config.two_view, table, &rows, 3, Device::Cpu).unwrap();
        let alone = fit(config, source.as_mut(), &rows.label, 3, 3, Device::Cpu).unwrap();
        let (grid, head) = outcome.as_ref().unwrap();
        let d = max_difference(grid, &alone.0);
        assert!(d < tol, "{config:?}: together and alone differ by {d:.2e}");
        let x = Tensor::from_slice(&rows.features).view([rows.len() as i64, rows.dim as i64]);
        let _guard = tch::no_grad_guard();
        let logits = |train: bool| {
            let (ours, theirs) = (head.forward_t(&x, train), alone.1.forward_t(&x, train));
            (&ours - &theirs).abs().max().double_value(&[]) / theirs.abs().max().double_value(&[])
        };
        // Eval mode first (training mode moves the running statistics). In training mode
        // BatchNorm cancels the undetermined bias; in eval mode its drift shows, within 1 %.
        let (eval, train) = (logits(false), logits(true));
        assert!(
            eval < 1e-2,
            "{config:?}: the eval-mode logits differ by {eval:.2e}"
        );
        assert!(train < tol, "{config:?}: the logits differ by {train:.2e}");
    }
}

fn grid_of(method: Method, points: &[(f64, f64, i64)]) -> Vec<TuneConfig> {
    points
        .iter()
        .map(|&(lr, wd, topk)| TuneConfig {
            epochs: 3,
            batch_size: 16,
            lr,
            weight_decay: wd,
            svd_topk: topk,
            ..TuneConfig::new(method)
        })
        .collect()
}

#[test]
fn heads_trained_together_are_the_heads_trained_alone() {
    let table = clusters(3, 8, 20, 4);
    let train = table.select(&table.rows_where(Some("train"), None));
    let lp = grid_of(
        Method::Lp,
        &[(1e-3, 0.0, 5), (1e-2, 1e-4, 5), (1e-1, 1e-2, 5)],
    );
    together_equals_alone(&lp, &train, 1e-4);
    let mut nmtune = grid_of(
        Method::Nmtune,
        &[(1e-4, 1e-4, 5), (1e-3, 0.0, 2), (1e-2, 1e-2, 3)],
    );
    nmtune[1].mse_weight = 0.0;
    nmtune[2].cov_weight = 0.5;
    nmtune[2].scale_init = 0.1;
    together_equals_alone(&nmtune, &train, 1e-4);
    let mlp = grid_of(Method::Mlp, &[(1e-3, 1e-4, 5), (3e-3, 1e-4, 5)]);
    together_equals_alone(&mlp, &train, 1e-4);
    // Two views: the same cached views drawn for every head.
    let mut two = nmtune.clone();
    for c in &mut two {
        c.two_view = true;
    }
    together_equals_alone(&two, &with_views(&train, 3), 1e-4);
}

#[test]
fn a_diverging_head_leaves_the_others_alone() {
    let table = clusters(3, 8, 20, 4);
    let mut train = table.select(&table.rows_where(Some("train"), None));
    // Every third label moved: rows no probe separates, so a huge step's cross-entropy runs away.
    for i in (0..train.len()).step_by(3) {
        train.label[i] = (train.label[i] + 1) % 3;
    }
    let rows = train.eval_view();
    let configs = grid_of(
        Method::Lp,
        &[(1e-2, 1e-4, 5), (1e9, 0.0, 5), (1e-1, 1e-4, 5)],
    );
    let mut source = training_source(false, &train, &rows, 3, Device::Cpu).unwrap();
    let outcomes = fit_together(&configs, source.as_mut(), &rows.label, 3, 3, Device::Cpu).unwrap();
    match &outcomes[1] {
        Err(TuneError::Diverged(why)) => assert!(why.contains("cross-entropy"), "{why}"),
        other => panic!("lr 1e9 should diverge: {:?}", other.as_ref().err()),
    }
    let mut source = training_source(false, &train, &rows, 3, Device::Cpu).unwrap();
    let (alone, _) = fit(&configs[2], source.as_mut(), &rows.label, 3, 3, Device::Cpu).unwrap();
    let d = max_difference(&outcomes[2].as_ref().unwrap().0, &alone);
    assert!(d < 1e-4, "the diverged head moved its neighbour by {d:.2e}");
}

#[test]
fn selection_chooses_the_same_point_together_or_one_by_one() {
    let table = clusters(3, 8, 30, 6);
    let train = table.select(&table.rows_where(Some("train"), None));
    let val = table.select(&table.rows_where(Some("test"), None));
    let base = TuneConfig {
        epochs: 2,
        ..TuneConfig::new(Method::Lp)
    };
    let grid = vec![
        (GridKey::Lr, vec![1e-4, 1e-2, 1e9]),
        (GridKey::BatchSize, vec![16.0, 32.0]),
    ];
    let path = std::path::Path::new("val");
    let run = |training| {
        select(
            &base,
            &grid,
            &train,
            (path, &val),
            &[1, 2],
            (Device::Cpu, training),
        )
        .unwrap()
    };
    let (a, b) = (run(GridTraining::Together), run(GridTraining::OneByOne));
    assert_eq!(a.label, b.label);
    assert_eq!(a.grid.len(), 12);
    for (x, y) in a.grid.iter().zip(&b.grid) {
        assert_eq!((&x.label, x.seed), (&y.label, y.seed));
        assert_eq!(x.diverged.is_some(), y.diverged.is_some(), "{x:?} {y:?}");
        assert!(x.validation_accuracy.is_nan() == y.validation_accuracy.is_nan());
        if x.diverged.is_none() {
            assert!(
                (x.validation_accuracy - y.validation_accuracy).abs() < 1e-9,
                "{x:?} {y:?}"
            );
        }
    }
    // lr 1e9 diverges and is recorded, never chosen.
    assert!(a.grid.iter().filter(|r| r.diverged.is_some()).count() >= 2);
    assert_ne!(a.label[0].1, 1e9);
}

#[test]
fn only_the_method_and_shape_keep_heads_apart() {
    let a = TuneConfig::new(Method::Nmtune);
    let mut b = a.clone();
    b.lr = 0.5;
    b.svd_topk = 2;
    assert!(shares_pass(&a, &b));
    b.batch_size = 32;
    assert!(!shares_pass(&a, &b));
}
