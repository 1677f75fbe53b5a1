//! The heads: a linear classifier (LP), or NMTune's MLP with residual
//! z = s ⊙ h(f) + f and a classifier on z (MLP and NMTune share it).
//!
//! Layer names follow the official code (`mlp.0`, `mlp.1`, `mlp.3`, `scale`,
//! `classifier`). The MLP layers use PyTorch's default initialisation
//! (uniform ±1/√fan_in; BatchNorm γ = 1, β = 0); the classifier uses kaiming_uniform(a=0) weights and
//! zero bias, as the official linear probe.

use tch::nn::{self, ModuleT};
use tch::Tensor;

/// Which head to tune: the study's closed set, shared with the plan and the report.
pub use nml_spec::Method;

/// A head on frozen features.
#[derive(Debug)]
pub struct Head {
    mlp: Option<Mlp>,
    classifier: nn::Linear,
}

#[derive(Debug)]
struct Mlp {
    fc1: nn::Linear,
    bn: nn::BatchNorm,
    fc2: nn::Linear,
    scale: Option<Tensor>,
}

fn torch_default_linear(vs: nn::Path, input: i64, output: i64) -> nn::Linear {
    let bound = 1.0 / (input as f64).sqrt();
    let init = nn::Init::Uniform {
        lo: -bound,
        up: bound,
    };
    nn::linear(
        vs,
        input,
        output,
        nn::LinearConfig {
            ws_init: init,
            bs_init: Some(init),
            bias: true,
        },
    )
}

impl Head {
    /// `residual`: z = s ⊙ h(f) + f with s initialised to `scale_init`; else z = h(f).
    pub fn new(
        vs: &nn::Path,
        method: Method,
        dim: i64,
        classes: i64,
        residual: bool,
        scale_init: f64,
    ) -> Head {
        let mlp = (method != Method::Lp).then(|| Mlp {
            fc1: torch_default_linear(vs / "mlp" / 0, dim, 4 * dim),
            // PyTorch's BatchNorm1d starts at γ = 1, β = 0 (tch's default draws γ from U(0, 1)).
            bn: nn::batch_norm1d(
                vs / "mlp" / 1,
                4 * dim,
                nn::BatchNormConfig {
                    ws_init: nn::Init::Const(1.0),
                    bs_init: nn::Init::Const(0.0),
                    ..Default::default()
                },
            ),
            fc2: torch_default_linear(vs / "mlp" / 3, 4 * dim, dim),
            scale: residual.then(|| vs.var("scale", &[1, dim], nn::Init::Const(scale_init))),
        });
        let classifier = nn::linear(
            vs / "classifier",
            dim,
            classes,
            nn::LinearConfig {
                ws_init: nn::init::DEFAULT_KAIMING_UNIFORM,
                bs_init: Some(nn::Init::Const(0.0)),
                bias: true,
            },
        );
        Head { mlp, classifier }
    }

    /// The tuned features z (f itself for LP).
    ///
    /// # Shapes
    /// `f`: `[B, D]` → `[B, D]`.
    pub fn tuned(&self, f: &Tensor, train: bool) -> Tensor {
        match &self.mlp {
            None => f.shallow_clone(),
            Some(m) => {
                let h = f.apply(&m.fc1).apply_t(&m.bn, train).relu().apply(&m.fc2);
                match &m.scale {
                    Some(s) => s * h + f,
                    None => h,
                }
            }
        }
    }

    /// # Shapes
    /// `z`: `[B, D]` → `[B, classes]`.
    pub fn logits(&self, z: &Tensor) -> Tensor {
        z.apply(&self.classifier)
    }
}

impl ModuleT for Head {
    fn forward_t(&self, f: &Tensor, train: bool) -> Tensor {
        self.logits(&self.tuned(f, train))
    }
}
