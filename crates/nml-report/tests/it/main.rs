//! nml-report's integration tests: one binary, one module per subject.

mod calibration;
mod claims;
mod dist;
mod fixtures;
mod heads;
mod inference;
mod report;
