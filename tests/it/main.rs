//! Workspace-level tests: files crossing the boundary to the Python ecosystem.

mod interop; // manifests and feature tables read by pyarrow/pandas, and pandas files read back
