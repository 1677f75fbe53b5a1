//! The objective a backbone was pre-trained with; `model.json` itself is
//! `nml_core::model::ModelInfo` (no libtorch), read by extraction.

pub use nml_core::model::ModelInfo;
pub use nml_spec::Objective;
