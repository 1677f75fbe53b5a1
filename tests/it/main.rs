//! Workspace-level tests: files crossing the boundary to the Python ecosystem, and
//! ARCHITECTURE.md's crate graph against `cargo metadata`.

mod architecture; // the crate graph in ARCHITECTURE.md is the one cargo resolves
mod interop; // manifests and feature tables read by pyarrow/pandas, and pandas files read back
