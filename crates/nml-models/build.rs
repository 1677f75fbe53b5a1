//! Links libtorch with an rpath and keeps `libtorch_cuda` (see `nml-build`).
fn main() {
    nml_build::link_libtorch();
}
