//! Throughput of the noise injector on 1M rows: each sampler on a label
//! slice, then the whole manifest path (corrupt, write Parquet and summary).
//!
//! Run with `cargo bench -p nml-noise`; prints rows/s (best of 3 runs).

use std::time::Instant;

use nml_core::{Manifest, Sample};
use nml_noise::{corrupt, kinds, write_outputs, NoiseConfig, NoiseKind};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ROWS: usize = 1_000_000;
const CLASSES: usize = 100;

fn best_of_3(mut f: impl FnMut()) -> f64 {
    (0..3)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

#[allow(clippy::print_stdout)] // a benchmark reports on stdout
fn report(name: &str, seconds: f64) {
    println!(
        "{name:<40} {:>14.0} rows/s  ({seconds:.3} s for {ROWS} rows)",
        ROWS as f64 / seconds
    );
}

fn main() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let labels: Vec<i64> = (0..ROWS)
        .map(|_| rng.random_range(0..CLASSES as i64))
        .collect();
    let matrix: Vec<Vec<f64>> = (0..CLASSES)
        .map(|c| {
            (0..CLASSES)
                .map(|k| {
                    if k == c {
                        0.8
                    } else {
                        0.2 / (CLASSES - 1) as f64
                    }
                })
                .collect()
        })
        .collect();
    let map = kinds::pair_flip_map(CLASSES);
    let mut sink = 0i64;
    let mut run = |name: &str, f: &mut dyn FnMut(&mut ChaCha8Rng) -> Vec<i64>| {
        let t = best_of_3(|| {
            let mut rng = ChaCha8Rng::seed_from_u64(1);
            sink += f(&mut rng).iter().sum::<i64>();
        });
        report(name, t);
    };
    run("symmetric (global)", &mut |r| {
        kinds::symmetric(&labels, CLASSES, 0.2, false, r)
    });
    run("symmetric (per class)", &mut |r| {
        kinds::symmetric(&labels, CLASSES, 0.2, true, r)
    });
    run("uniform", &mut |r| kinds::uniform(&labels, CLASSES, 0.2, r));
    run("asymmetric (per class)", &mut |r| {
        kinds::asymmetric(&labels, CLASSES, 0.2, true, &map, r)
    });
    run("transition (100x100)", &mut |r| {
        kinds::transition(&labels, &matrix, r)
    });
    let t = best_of_3(|| {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        sink += kinds::caption_pairs(ROWS, 0.2, &mut rng).len() as i64;
    });
    report("caption pairs", t);

    let samples = labels
        .iter()
        .enumerate()
        .map(|(i, &label)| Sample {
            index: i as i64,
            split: "train".to_owned(),
            label,
            ..Sample::default()
        })
        .collect();
    let manifest =
        Manifest::from_samples((0..CLASSES).map(|c| format!("class{c}")).collect(), samples)
            .unwrap();
    let dir = std::env::temp_dir().join(format!("nml-noise-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("in.parquet");
    let output = dir.join("out.parquet");
    let config = NoiseConfig {
        kind: NoiseKind::Symmetric {
            ratio: 0.2,
            per_class: false,
        },
        seed: 0,
        splits: vec![],
    };
    let t = best_of_3(|| {
        let (noisy, summary) = corrupt(&manifest, &config, &input).unwrap();
        write_outputs(&noisy, &summary, &input, &output).unwrap();
    });
    report("manifest: corrupt + write (symmetric)", t);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_ne!(sink, 0);
}
