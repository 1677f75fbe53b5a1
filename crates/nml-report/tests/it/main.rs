//! nml-report's integration tests: one binary, one module per subject.

mod calibration;
mod claims;
mod dist;
mod facts; // the estimate's row counts against the shared data
mod fixtures;
mod heads;
mod inference;
mod refusals; // the refusal property for the report binary
mod report;
