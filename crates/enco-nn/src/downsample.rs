//! Anti-aliased downsampling ("BlurPool"), docs/reference.md §1.3.

use burn::prelude::*;
use enco_kernels::{EncoBackend, ops};

/// The official `Downsample`: reflect padding of 1, then a depthwise 3×3 blur
/// `[1,2,1]ᵀ[1,2,1] / 16` with stride 2 (docs/reference.md §1.3). Output size `floor((N − 1) / 2) + 1`.
///
/// The filter is a constant (PyTorch's non-trainable `filt` buffer), so the module has no
/// state. It runs as one operation of the backend ([`EncoBackend::blur_downsample`]): a fused
/// kernel where the backend has one, Burn's reflect padding and grouped convolution otherwise.
#[derive(Module, Clone, Debug, Default)]
pub struct Downsample;

impl Downsample {
    /// # Shapes
    /// - input `[B, C, H, W]` with `H, W ≥ 2`
    /// - output `[B, C, floor((H − 1) / 2) + 1, floor((W − 1) / 2) + 1]`
    pub fn forward<B: EncoBackend>(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        ops::blur_downsample(x)
    }
}
