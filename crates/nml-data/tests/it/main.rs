//! Integration tests of nml-data.

mod import; // CIFAR binary, ImageFolder and shared/data Parquet importers
mod synth; // the synthetic benchmark: structure, determinism, the quick preset
