//! Integration tests of nml-noise.

mod cli; // the binary: outputs, determinism, summaries, bad input
mod hostile; // noise that cannot happen, ambiguous class maps, unwritable outputs: refused, nothing written
mod properties; // the samplers' guarantees over many random configurations
