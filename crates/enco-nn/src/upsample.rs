//! Anti-aliased ×2 upsampling, spec §1.4.

use burn::prelude::*;

/// The official `Upsample` (replicate pad, depthwise transposed conv with `[1,3,3,1]²/16`, crop),
/// computed in its exactly equivalent separable polyphase form (spec §1.4): per axis
/// `out[2m] = ¼·x[m−1] + ¾·x[m]`, `out[2m+1] = ¾·x[m] + ¼·x[m+1]` with edge clamping, which is
/// ×2 bilinear interpolation with half-pixel centres.
#[derive(Module, Clone, Debug, Default)]
pub struct Upsample;

impl Upsample {
    /// # Shapes
    /// - input `[B, C, H, W]`
    /// - output `[B, C, 2H, 2W]`
    pub fn forward<B: Backend>(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let x = upsample_axis(x, 3);
        upsample_axis(x, 2)
    }
}

/// Doubles one spatial axis (2 = H, 3 = W) with the two-tap polyphase filter.
fn upsample_axis<B: Backend>(x: Tensor<B, 4>, axis: usize) -> Tensor<B, 4> {
    let dims = x.dims();
    let n = dims[axis];
    let (prev, next) = if n == 1 {
        (x.clone(), x.clone())
    } else {
        let first = x.clone().narrow(axis, 0, 1);
        let last = x.clone().narrow(axis, n - 1, 1);
        let prev = Tensor::cat(vec![first, x.clone().narrow(axis, 0, n - 1)], axis);
        let next = Tensor::cat(vec![x.clone().narrow(axis, 1, n - 1), last], axis);
        (prev, next)
    };
    let even = prev * 0.25 + x.clone() * 0.75;
    let odd = x * 0.75 + next * 0.25;
    // Interleave: stack behind the axis, then merge the two.
    let stacked: Tensor<B, 5> = Tensor::stack(vec![even, odd], axis + 1);
    let mut out_dims = dims;
    out_dims[axis] = 2 * n;
    stacked.reshape(out_dims)
}
