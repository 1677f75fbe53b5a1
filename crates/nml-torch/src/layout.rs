//! Channels-last memory format: a 4-D tensor that stays `[N, C, H, W]` in
//! shape but is laid out `N, H, W, C` in memory, the layout oneDNN's bfloat16
//! (AMX) convolutions and cuDNN's tensor-core convolutions compute in without
//! reordering. libtorch keeps the layout through convolutions, BatchNorm and
//! element-wise operations, as PyTorch's `memory_format=torch.channels_last`.
//! tch does not wrap `MemoryFormat`; a permuted copy gives the same strides.

use tch::nn::VarStore;
use tch::Tensor;

/// How a convolutional network lays out its activations and kernels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Layout {
    /// `N, C, H, W` (libtorch's default).
    #[default]
    Contiguous,
    /// `N, H, W, C` in memory.
    ChannelsLast,
}

impl Layout {
    /// `t` in this layout; tensors that are not 4-D are returned as they are.
    pub fn apply(self, t: &Tensor) -> Tensor {
        match self {
            Layout::Contiguous => t.shallow_clone(),
            Layout::ChannelsLast if t.dim() == 4 && !is_channels_last(t) => t
                .permute([0i64, 2, 3, 1].as_slice())
                .contiguous()
                .permute([0i64, 3, 1, 2].as_slice()),
            Layout::ChannelsLast => t.shallow_clone(),
        }
    }

    /// Re-lays every 4-D variable of `vs` (convolution kernels) in place;
    /// handles to them (an optimiser's) see the new layout. Checkpoints are
    /// written contiguous whatever the layout, so files do not depend on it.
    pub fn apply_to_variables(self, vs: &VarStore) {
        if self == Layout::Contiguous {
            return;
        }
        tch::no_grad(|| {
            for (_, mut v) in vs.variables() {
                if v.dim() == 4 {
                    let relaid = self.apply(&v);
                    v.set_data(&relaid);
                }
            }
        });
    }
}

/// True when `t` is a 4-D tensor whose strides are channels-last (`C` innermost).
pub fn is_channels_last(t: &Tensor) -> bool {
    let (size, stride) = (t.size(), t.stride());
    if size.len() != 4 {
        return false;
    }
    let (c, h, w) = (size[1], size[2], size[3]);
    stride[1] == 1 && stride[3] == c && stride[2] == c * w && stride[0] == c * h * w
}

#[cfg(test)]
mod tests {
    use tch::{Device, Kind};

    use super::*;

    #[test]
    fn channels_last_keeps_shape_and_values_and_changes_strides() {
        let x = Tensor::randn([2, 3, 4, 5], (Kind::Float, Device::Cpu));
        let y = Layout::ChannelsLast.apply(&x);
        assert_eq!(y.size(), x.size());
        assert!(is_channels_last(&y) && !is_channels_last(&x));
        assert_eq!(y.stride(), vec![60, 1, 15, 3]);
        assert!(y.equal(&x));
        // Convolutions keep the layout.
        let k =
            Layout::ChannelsLast.apply(&Tensor::randn([8, 3, 3, 3], (Kind::Float, Device::Cpu)));
        let out = y.conv2d(
            &k,
            None::<Tensor>,
            [1i64, 1].as_slice(),
            [1i64, 1].as_slice(),
            [1i64, 1].as_slice(),
            1,
        );
        assert!(is_channels_last(&out));
        assert!(Layout::Contiguous.apply(&y).equal(&x));
    }

    #[test]
    fn variables_are_relaid_in_place_and_keep_their_values() {
        let vs = VarStore::new(Device::Cpu);
        let conv = tch::nn::conv2d(vs.root() / "c", 3, 8, 3, Default::default());
        let before = conv.ws.copy();
        let handle = conv.ws.shallow_clone();
        Layout::ChannelsLast.apply_to_variables(&vs);
        assert!(is_channels_last(&conv.ws) && is_channels_last(&handle));
        assert!(conv.ws.equal(&before));
        assert!(conv.ws.requires_grad());
        assert_eq!(conv.bs.as_ref().map(Tensor::dim), Some(1));
    }
}
