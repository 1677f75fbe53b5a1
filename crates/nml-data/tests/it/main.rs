//! Integration tests of nml-data.

mod import; // CIFAR binary, ImageFolder and shared/data Parquet importers
mod refusals; // the refusal property over a table of hostile requests
mod synth; // the synthetic benchmark: structure, determinism, the quick preset
