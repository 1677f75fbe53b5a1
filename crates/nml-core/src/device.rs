//! The `--device auto|cpu|cuda[:N]` choice, parsed without linking libtorch;
//! defined with the stages' arguments in `nml-spec`.

pub use nml_spec::{BadDevice, DeviceSpec};
