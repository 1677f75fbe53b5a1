//! Integration tests of nml-noise.

mod cli; // the binary: outputs, determinism, summaries, bad input
mod hostile; // noise that cannot happen, ambiguous class maps, unwritable outputs: refused, nothing written
mod properties;
mod refusals; // the refusal property over a table of hostile requests // the samplers' guarantees over many random configurations
