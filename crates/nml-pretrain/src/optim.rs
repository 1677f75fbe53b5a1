//! SGD with momentum, Nesterov and weight decay, AdamW (both with PyTorch's
//! semantics), and the cosine schedule with linear warm-up.
//!
//! Written here rather than taken from `tch::nn::Optimizer` because a
//! resumable run must save and restore the optimiser's buffers, which tch's
//! optimizer does not expose.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tch::Tensor;

/// What the training loop needs of an optimiser: an update, and buffers it
/// can checkpoint and restore.
pub trait Optimizer {
    /// Prefix of the buffers' names in `resume.safetensors`.
    const PREFIX: &'static str;
    /// Back-propagates `loss` and applies one update with learning rate `lr`.
    fn backward_step(&mut self, loss: &Tensor, lr: f64);
    /// The buffers, for a checkpoint.
    fn buffers(&self) -> Vec<(String, Tensor)>;
    /// Updates applied so far.
    fn steps(&self) -> u64;
    /// Restores buffers saved by [`buffers`](Self::buffers) and the update count.
    fn restore(&mut self, buffers: Vec<(String, Tensor)>, steps: u64) -> Result<(), String>;
}

pub use nml_core::model::SgdConfig;

/// SGD over named parameters, with one momentum buffer each.
#[derive(Debug)]
pub struct Sgd {
    config: SgdConfig,
    params: Vec<(String, Tensor)>,
    buffers: BTreeMap<String, Tensor>,
    /// Updates applied so far.
    pub steps: u64,
}

impl Sgd {
    /// `params`: the trainable variables by name (a VarStore's `variables()` filtered on `requires_grad`).
    pub fn new(config: SgdConfig, mut params: Vec<(String, Tensor)>) -> Sgd {
        params.sort_by(|a, b| a.0.cmp(&b.0));
        Sgd {
            config,
            params,
            buffers: BTreeMap::new(),
            steps: 0,
        }
    }
}

impl Optimizer for Sgd {
    const PREFIX: &'static str = "momentum";

    /// Back-propagates `loss` to the parameters and applies one update with learning rate `lr`:
    /// `d = g + wd·p; b = μ·b + d (b = d at first); d = d + μ·b (Nesterov) or b; p -= lr·d`.
    ///
    /// Gradients come back as fresh tensors (`torch.autograd.grad`) instead of
    /// being accumulated into `.grad`, so nothing needs zeroing: the same work
    /// PyTorch does with `zero_grad(set_to_none=True)`.
    fn backward_step(&mut self, loss: &Tensor, lr: f64) {
        let inputs: Vec<&Tensor> = self.params.iter().map(|(_, p)| p).collect();
        let grads = Tensor::run_backward(&[loss], &inputs, false, false);
        let c = self.config;
        self.steps += 1;
        tch::no_grad(|| {
            for ((name, p), mut d) in self.params.iter_mut().zip(grads) {
                if c.weight_decay != 0.0 {
                    let _ = d.g_add_(&(&*p * c.weight_decay));
                }
                if c.momentum != 0.0 {
                    let buffer = match self.buffers.get_mut(name) {
                        Some(b) => {
                            let _ = b.g_mul_scalar_(c.momentum).g_add_(&d);
                            b.shallow_clone()
                        }
                        None => {
                            let b = d.copy();
                            self.buffers.insert(name.clone(), b.shallow_clone());
                            b
                        }
                    };
                    if c.nesterov {
                        let _ = d.g_add_(&(buffer * c.momentum));
                    } else {
                        d = buffer;
                    }
                }
                let _ = p.g_sub_(&(d * lr));
            }
        });
    }

    /// The momentum buffers, for a checkpoint.
    fn buffers(&self) -> Vec<(String, Tensor)> {
        self.buffers
            .iter()
            .map(|(k, v)| (k.clone(), v.shallow_clone()))
            .collect()
    }

    /// Restores momentum buffers saved by [`buffers`](Optimizer::buffers); unknown names are an error.
    fn restore(&mut self, state: Vec<(String, Tensor)>, steps: u64) -> Result<(), String> {
        self.steps = steps;
        for (name, tensor) in state {
            let Some((_, p)) = self.params.iter().find(|(n, _)| *n == name) else {
                return Err(format!("momentum buffer `{name}` has no parameter"));
            };
            if p.size() != tensor.size() {
                return Err(format!(
                    "momentum buffer `{name}` has shape {:?}, parameter {:?}",
                    tensor.size(),
                    p.size()
                ));
            }
            self.buffers.insert(name, laid_out_like(p, &tensor));
        }
        Ok(())
    }

    fn steps(&self) -> u64 {
        self.steps
    }
}

/// AdamW hyper-parameters (the learning rate comes with each step).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

/// AdamW over named parameters: `p -= lr·wd·p; m = β₁m + (1−β₁)g;
/// v = β₂v + (1−β₂)g²; p -= lr·m̂/(√v̂ + ε)` with bias-corrected m̂, v̂, as
/// `torch.optim.AdamW(fused=True)`, whose kernel (`nml_torch::fused_adamw_`)
/// it calls. Parameters whose name is in `no_decay` skip weight decay.
#[derive(Debug)]
pub struct AdamW {
    config: AdamWConfig,
    params: Vec<(String, Tensor, bool)>,
    m: BTreeMap<String, Tensor>,
    v: BTreeMap<String, Tensor>,
    /// Updates applied so far (the bias correction's t).
    pub steps: u64,
}

impl AdamW {
    /// `params` by name; `decay(name)` says whether weight decay applies.
    pub fn new(
        config: AdamWConfig,
        mut params: Vec<(String, Tensor)>,
        decay: impl Fn(&str, &Tensor) -> bool,
    ) -> AdamW {
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let params = params
            .into_iter()
            .map(|(n, t)| {
                let d = decay(&n, &t);
                (n, t, d)
            })
            .collect();
        AdamW {
            config,
            params,
            m: BTreeMap::new(),
            v: BTreeMap::new(),
            steps: 0,
        }
    }
}

impl Optimizer for AdamW {
    const PREFIX: &'static str = "adamw";

    /// Back-propagates `loss` and applies one update with learning rate `lr`.
    fn backward_step(&mut self, loss: &Tensor, lr: f64) {
        let inputs: Vec<&Tensor> = self.params.iter().map(|(_, p, _)| p).collect();
        let grads = Tensor::run_backward(&[loss], &inputs, false, false);
        let c = self.config;
        self.steps += 1;
        // Two groups for libtorch's fused step: with weight decay and without.
        for decayed in [true, false] {
            let mut group: [Vec<Tensor>; 4] = Default::default();
            for ((name, p, decay), g) in self.params.iter().zip(&grads) {
                if *decay != decayed || !g.defined() {
                    continue;
                }
                let m = self.m.entry(name.clone()).or_insert_with(|| g.zeros_like());
                group[2].push(m.shallow_clone());
                let v = self.v.entry(name.clone()).or_insert_with(|| g.zeros_like());
                group[3].push(v.shallow_clone());
                group[0].push(p.shallow_clone());
                group[1].push(g.shallow_clone());
            }
            let step = nml_torch::AdamWStep {
                lr,
                beta1: c.beta1,
                beta2: c.beta2,
                eps: c.eps,
                weight_decay: if decayed { c.weight_decay } else { 0.0 },
            };
            let [p, g, m, v] = &group;
            nml_torch::fused_adamw_(p, g, m, v, self.steps, &step)
                .expect("the optimiser's own state matches its parameters");
        }
    }

    /// The moment buffers, for a checkpoint: `m.NAME` and `v.NAME`.
    fn buffers(&self) -> Vec<(String, Tensor)> {
        let m = self
            .m
            .iter()
            .map(|(k, t)| (format!("m.{k}"), t.shallow_clone()));
        let v = self
            .v
            .iter()
            .map(|(k, t)| (format!("v.{k}"), t.shallow_clone()));
        m.chain(v).collect()
    }

    /// Restores buffers saved by [`buffers`](Optimizer::buffers) and the step count.
    fn restore(&mut self, state: Vec<(String, Tensor)>, steps: u64) -> Result<(), String> {
        for (key, tensor) in state {
            let (which, name) = key
                .split_once('.')
                .ok_or_else(|| format!("optimiser buffer `{key}` is neither m.* nor v.*"))?;
            let Some((_, p, _)) = self.params.iter().find(|(n, _, _)| n == name) else {
                return Err(format!("optimiser buffer `{key}` has no parameter"));
            };
            if p.size() != tensor.size() {
                return Err(format!(
                    "optimiser buffer `{key}` has shape {:?}, parameter {:?}",
                    tensor.size(),
                    p.size()
                ));
            }
            let tensor = laid_out_like(p, &tensor);
            match which {
                "m" => self.m.insert(name.to_owned(), tensor),
                "v" => self.v.insert(name.to_owned(), tensor),
                _ => return Err(format!("optimiser buffer `{key}` is neither m.* nor v.*")),
            };
        }
        self.steps = steps;
        Ok(())
    }

    fn steps(&self) -> u64 {
        self.steps
    }
}

/// A saved buffer (contiguous, on the host) on `param`'s device and in its
/// memory layout (channels-last kernels keep channels-last state).
fn laid_out_like(param: &Tensor, saved: &Tensor) -> Tensor {
    let mut buffer = param.empty_like();
    tch::no_grad(|| buffer.copy_(saved));
    buffer
}

/// Learning rate at global step `step` of `total`, with `warmup` warm-up steps.
pub fn lr_at(base: f64, step: usize, warmup: usize, total: usize) -> f64 {
    if step < warmup {
        return base * (step + 1) as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1) as f64;
    let progress = ((step - warmup) as f64 / span).min(1.0);
    base * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
}

#[cfg(test)]
mod tests {
    use tch::{Device, Kind};

    use super::*;

    #[test]
    fn schedule_warms_up_then_decays_to_zero() {
        assert!((lr_at(0.1, 0, 10, 100) - 0.01).abs() < 1e-12);
        assert!((lr_at(0.1, 9, 10, 100) - 0.1).abs() < 1e-12);
        assert!((lr_at(0.1, 10, 10, 100) - 0.1).abs() < 1e-12);
        assert!((lr_at(0.1, 55, 10, 100) - 0.05).abs() < 1e-12);
        assert!(lr_at(0.1, 100, 10, 100).abs() < 1e-12);
    }

    /// Reference values from PyTorch:
    /// ```text
    /// p = torch.tensor([1.0, -2.0], requires_grad=True)
    /// opt = torch.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)
    /// for _ in range(3): opt.zero_grad(); (p ** 2).sum().backward(); opt.step()
    /// print(p.tolist())  # [-0.11165107786655426, 0.22330215573310852] (torch 2.11.0)
    /// ```
    /// Reference values from PyTorch:
    /// ```text
    /// p = torch.tensor([1.0, -2.0], requires_grad=True)
    /// opt = torch.optim.AdamW([p], lr=0.1, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.2)
    /// for _ in range(3): opt.zero_grad(); (p ** 3).sum().backward(); opt.step()
    /// print(p.tolist())  # [0.652214527130127, -2.176719903945923] (torch 2.11.0)
    /// ```
    #[test]
    fn matches_pytorch_adamw() {
        let p = Tensor::from_slice(&[1.0f32, -2.0]).set_requires_grad(true);
        let config = AdamWConfig {
            beta1: 0.9,
            beta2: 0.98,
            eps: 1e-6,
            weight_decay: 0.2,
        };
        let mut opt = AdamW::new(config, vec![("p".to_owned(), p.shallow_clone())], |_, _| {
            true
        });
        for _ in 0..3 {
            opt.backward_step(&(&p * &p * &p).sum(Kind::Float), 0.1);
        }
        let got: Vec<f32> = Vec::try_from(&p.to_device(Device::Cpu).detach()).unwrap();
        let expected = [0.652214527130127f64, -2.176719903945923];
        for (g, e) in got.iter().zip(expected) {
            assert!((f64::from(*g) - e).abs() < 1e-6, "{got:?} vs {expected:?}");
        }
    }

    #[test]
    fn matches_pytorch_sgd_with_nesterov_and_weight_decay() {
        let p = Tensor::from_slice(&[1.0f32, -2.0]).set_requires_grad(true);
        let config = SgdConfig {
            lr: 0.1,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 0.01,
            warmup_epochs: 0.0,
        };
        let mut sgd = Sgd::new(config, vec![("p".to_owned(), p.shallow_clone())]);
        for _ in 0..3 {
            sgd.backward_step(&(&p * &p).sum(Kind::Float), 0.1);
        }
        let got: Vec<f32> = Vec::try_from(&p.to_device(Device::Cpu).detach()).unwrap();
        let expected = [-0.11165107786655426f64, 0.22330215573310852];
        for (g, e) in got.iter().zip(expected) {
            assert!((f64::from(*g) - e).abs() < 1e-6, "{got:?} vs {expected:?}");
        }
    }
}
