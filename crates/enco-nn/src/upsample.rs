//! Anti-aliased ×2 upsampling, docs/reference.md §1.4.

use burn::prelude::*;
use enco_kernels::{EncoBackend, ops};

/// The official `Upsample` (replicate pad, depthwise transposed conv with `[1,3,3,1]²/16`, crop),
/// computed in its exactly equivalent separable polyphase form (docs/reference.md §1.4): per axis
/// `out[2m] = ¼·x[m−1] + ¾·x[m]`, `out[2m+1] = ¾·x[m] + ¼·x[m+1]` with edge clamping, which is
/// ×2 bilinear interpolation with half-pixel centres.
///
/// It runs as one operation of the backend ([`EncoBackend::upsample2x`]).
#[derive(Module, Clone, Debug, Default)]
pub struct Upsample;

impl Upsample {
    /// # Shapes
    /// - input `[B, C, H, W]`
    /// - output `[B, C, 2H, 2W]`
    pub fn forward<B: EncoBackend>(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        ops::upsample2x(x)
    }
}
