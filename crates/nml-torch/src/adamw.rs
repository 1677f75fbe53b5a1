//! libtorch's fused AdamW step (`aten::_fused_adamw_`, the kernel behind
//! `torch.optim.AdamW(fused=True)`), which tch does not expose.
//!
//! One call updates every parameter of a group in a single pass over
//! parameter, gradient and both moments (vectorised and multi-threaded on the
//! CPU, one kernel on CUDA), where the unfused update reads and writes them in
//! six to eight separate tensor ops.
//!
//! The update is PyTorch's AdamW: `p ← p·(1 − lr·wd)`, `m ← β₁m + (1 − β₁)g`,
//! `v ← β₂v + (1 − β₂)g²`, `p ← p − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)`.

use tch::{Kind, Tensor};

/// Hyper-parameters of one AdamW step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWStep {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl AdamWStep {
    /// PyTorch's defaults (β 0.9/0.999, ε 1e-8) with `lr` and `weight_decay`.
    pub fn new(lr: f64, weight_decay: f64) -> AdamWStep {
        AdamWStep {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
        }
    }
}

/// One fused AdamW update of `params` in place, with gradients `grads`, first
/// and second moments `m` and `v` (updated in place), at step `t` (1 for the
/// first update: the bias correction's exponent).
///
/// # Errors
/// When the lists differ in length, a tensor is undefined, not float32 or
/// float64, on another device than its parameter, or of another shape, or
/// `t` is 0: checked here, so that libtorch never throws across the FFI.
pub fn fused_adamw_(
    params: &[Tensor],
    grads: &[Tensor],
    m: &[Tensor],
    v: &[Tensor],
    t: u64,
    step: &AdamWStep,
) -> Result<(), String> {
    let n = params.len();
    if grads.len() != n || m.len() != n || v.len() != n {
        return Err(format!(
            "fused AdamW: {n} parameters but {} gradients, {} first and {} second moments",
            grads.len(),
            m.len(),
            v.len()
        ));
    }
    if t == 0 {
        return Err("fused AdamW: the step count starts at 1".to_owned());
    }
    if n == 0 {
        return Ok(());
    }
    for (i, p) in params.iter().enumerate() {
        if !p.defined() || !matches!(p.kind(), Kind::Float | Kind::Double) {
            return Err(format!(
                "fused AdamW: parameter {i} is undefined or not float32/float64"
            ));
        }
        for (what, other) in [("gradient", &grads[i]), ("m", &m[i]), ("v", &v[i])] {
            if !other.defined()
                || other.kind() != p.kind()
                || other.device() != p.device()
                || other.size() != p.size()
            {
                return Err(format!(
                    "fused AdamW: the {what} of parameter {i} differs from it in kind, device or shape"
                ));
            }
        }
    }
    // One step tensor for the whole group (the kernel only reads it), on the
    // parameters' device as the CUDA kernel requires.
    let device = params[0].device();
    if params.iter().any(|p| p.device() != device) {
        return Err("fused AdamW: the parameters of one call must share a device".to_owned());
    }
    let steps = Tensor::from(t as f32).to_device(device);
    let steps: Vec<&Tensor> = vec![&steps; n];
    tch::no_grad(|| ffi::fused_adamw(params, grads, m, v, &steps, step));
    Ok(())
}

/// The dispatcher entry `at::_ops::_fused_adamw_::call`, declared with its
/// C++ symbol (libtorch 2.11.0).
#[allow(unsafe_code)] // libtorch's fused optimiser kernel, which tch does not wrap
mod ffi {
    use std::ffi::c_void;

    use tch::Tensor;

    use super::AdamWStep;

    /// `c10::ArrayRef<at::Tensor>`: a pointer to `at::Tensor`s and a length.
    #[repr(C)]
    struct TensorList {
        data: *const *mut c_void,
        len: usize,
    }

    /// `std::optional<at::Tensor>` (libstdc++: the value, then the engaged flag).
    #[repr(C)]
    struct NoTensor {
        value: *mut c_void,
        engaged: bool,
    }

    extern "C-unwind" {
        #[link_name = "_ZN2at4_ops13_fused_adamw_4callEN3c108ArrayRefINS_6TensorEEES5_S5_S5_S5_S5_dddddbbRKSt8optionalIS4_ES9_"]
        fn fused_adamw_call(
            params: TensorList,
            grads: TensorList,
            exp_avgs: TensorList,
            exp_avg_sqs: TensorList,
            max_exp_avg_sqs: TensorList,
            state_steps: TensorList,
            lr: f64,
            beta1: f64,
            beta2: f64,
            weight_decay: f64,
            eps: f64,
            amsgrad: bool,
            maximize: bool,
            grad_scale: *const NoTensor,
            found_inf: *const NoTensor,
        );
    }

    /// The `at::Tensor` values behind tch tensors: a tch tensor is a pointer to
    /// a heap `at::Tensor`, itself one `TensorImpl` pointer. The copies borrow
    /// (no reference count is taken, none is released): the list lives only
    /// for the call, while the tch tensors it came from are alive.
    fn impls<'a>(tensors: impl Iterator<Item = &'a Tensor>) -> Vec<*mut c_void> {
        tensors
            // SAFETY: `as_ptr` is a live `at::Tensor*` for as long as the tch tensor lives.
            .map(|t| unsafe { *(t.as_ptr() as *const *mut c_void) })
            .collect()
    }

    fn list(v: &[*mut c_void]) -> TensorList {
        TensorList {
            data: v.as_ptr(),
            len: v.len(),
        }
    }

    pub(super) fn fused_adamw(
        params: &[Tensor],
        grads: &[Tensor],
        m: &[Tensor],
        v: &[Tensor],
        steps: &[&Tensor],
        step: &AdamWStep,
    ) {
        let (p, g) = (impls(params.iter()), impls(grads.iter()));
        let (m, v, s) = (
            impls(m.iter()),
            impls(v.iter()),
            impls(steps.iter().copied()),
        );
        let none = NoTensor {
            value: std::ptr::null_mut(),
            engaged: false,
        };
        // SAFETY: the caller checked that the lists have one defined tensor per
        // parameter, of its kind, device and shape; amsgrad is off, so the
        // (empty) max_exp_avg_sqs list is never read.
        unsafe {
            fused_adamw_call(
                list(&p),
                list(&g),
                list(&m),
                list(&v),
                list(&[]),
                list(&s),
                step.lr,
                step.beta1,
                step.beta2,
                step.weight_decay,
                step.eps,
                false,
                false,
                &none,
                &none,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    /// Against `torch.optim.AdamW(fused=True)` (torch 2.11.0):
    /// ```text
    /// p = torch.tensor([1.0, -2.0], requires_grad=True)
    /// opt = torch.optim.AdamW([p], lr=0.1, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.2, fused=True)
    /// for _ in range(3): opt.zero_grad(); (p ** 3).sum().backward(); opt.step()
    /// print(p.tolist())  # [0.652214527130127, -2.176719903945923]
    /// ```
    #[test]
    fn matches_pytorch_fused_adamw() {
        let p = Tensor::from_slice(&[1.0f32, -2.0]).set_requires_grad(true);
        let (m, v) = (p.zeros_like(), p.zeros_like());
        let step = AdamWStep {
            lr: 0.1,
            beta1: 0.9,
            beta2: 0.98,
            eps: 1e-6,
            weight_decay: 0.2,
        };
        for t in 1..=3 {
            let g = Tensor::run_backward(&[(&p * &p * &p).sum(Kind::Float)], &[&p], false, false);
            fused_adamw_(
                &[p.shallow_clone()],
                &g,
                &[m.shallow_clone()],
                &[v.shallow_clone()],
                t,
                &step,
            )
            .unwrap();
        }
        let got: Vec<f32> = Vec::try_from(&p.to_device(Device::Cpu).detach()).unwrap();
        let expected = [0.652214527130127f64, -2.176719903945923];
        for (g, e) in got.iter().zip(expected) {
            assert!((f64::from(*g) - e).abs() < 1e-6, "{got:?} vs {expected:?}");
        }
    }

    #[test]
    fn refuses_mismatched_state_before_calling_libtorch() {
        let p = Tensor::zeros([3], (Kind::Float, Device::Cpu));
        let short = Tensor::zeros([2], (Kind::Float, Device::Cpu));
        let step = AdamWStep::new(0.1, 0.0);
        let all = |t: &Tensor| vec![t.shallow_clone()];
        let err = fused_adamw_(&all(&p), &all(&short), &all(&p), &all(&p), 1, &step).unwrap_err();
        assert!(err.contains("gradient of parameter 0"), "{err}");
        let err = fused_adamw_(&all(&p), &[], &all(&p), &all(&p), 1, &step).unwrap_err();
        assert!(err.contains("1 parameters but 0 gradients"), "{err}");
        let err = fused_adamw_(&all(&p), &all(&p), &all(&p), &all(&p), 0, &step).unwrap_err();
        assert!(err.contains("starts at 1"), "{err}");
        let ints = Tensor::zeros([3], (Kind::Int64, Device::Cpu));
        assert!(
            fused_adamw_(&all(&ints), &all(&ints), &all(&ints), &all(&ints), 1, &step).is_err()
        );
    }
}
