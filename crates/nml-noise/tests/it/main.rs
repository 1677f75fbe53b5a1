//! Integration tests of nml-noise.

mod cli; // the binary: outputs, determinism, summaries, bad input
mod properties; // the samplers' guarantees over many random configurations
