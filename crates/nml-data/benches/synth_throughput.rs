//! Throughput of the synthetic benchmark generator: images/s per style and
//! size (render + PNG encode, one thread), and the whole `quick` preset with
//! every core (render, encode, manifests, contact sheets).
//!
//! Run with `cargo bench -p nml-data`.

use std::time::Instant;

use nml_data::encode_png;
use nml_data::synth::render::{self, Factors, Style};
use nml_data::synth::{self, Preset, SynthConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[allow(clippy::print_stdout)] // a benchmark reports on stdout
fn report(name: &str, images: usize, seconds: f64) {
    println!(
        "{name:<36} {:>10.0} images/s  ({images} images in {seconds:.2} s)",
        images as f64 / seconds
    );
}

fn main() {
    let factors = Factors {
        shape: 7,
        texture: 5,
        palette: 3,
    };
    for size in [32u32, 64] {
        for style in Style::ALL {
            let n = if size == 32 { 4000 } else { 1000 };
            let mut rng = ChaCha8Rng::seed_from_u64(0);
            let start = Instant::now();
            let mut bytes = 0;
            for _ in 0..n {
                let pixels = render::render(factors, style, size, &mut rng);
                bytes += encode_png(&pixels, size, size).unwrap().len();
            }
            assert!(bytes > 0);
            report(
                &format!("{} {size}px, 1 thread", style.name()),
                n,
                start.elapsed().as_secs_f64(),
            );
        }
    }
    let dir = std::env::temp_dir().join(format!("nml-synth-bench-{}", std::process::id()));
    let config = SynthConfig::preset(Preset::Quick, 0);
    let start = Instant::now();
    synth::generate(&config, &dir).unwrap();
    report(
        &format!("quick preset, {} threads", rayon::current_num_threads()),
        config.total_images(),
        start.elapsed().as_secs_f64(),
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
