//! The contrastive heads' patch gather (`EncoBackend::gather_patches`) and its adjoint, each in
//! one parallel pass over the feature map's layout.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::conv::{BalancedTasks, filled_by, zeroed};

/// `[K, C]`: row `k` the `C` samples of `x [B, C, H, W]` (`dims`) at flat row `rows[k] =
/// b·H·W + p`, one task per few rows.
pub(super) fn gather_patches(x: &[f32], [_, c, h, w]: [usize; 4], rows: &[usize]) -> Vec<f32> {
    let plane = h * w;
    let fill = |out: &mut [MaybeUninit<f32>]| {
        out.par_chunks_mut(c.max(1))
            .zip(rows.par_iter())
            .balanced()
            .for_each(|(patch, &row)| {
                let (b, p) = (row / plane, row % plane);
                let image = &x[b * c * plane..][..c * plane];
                for (channel, value) in patch.iter_mut().enumerate() {
                    value.write(image[channel * plane + p]);
                }
            });
    };
    // SAFETY: every row of the output is one chunk, and each chunk writes its `C` samples.
    unsafe { filled_by(rows.len() * c, fill) }
}

/// `dX [B, C, H, W]` (`dims`) given the gradient `g [K, C]` of [`gather_patches`]: zero, then each
/// row's gradient added at its position in the order of `rows` (as Burn's `select_add` adds
/// them), one task per few planes.
pub(super) fn gather_patches_backward(
    g: &[f32],
    [b, c, h, w]: [usize; 4],
    rows: &[usize],
) -> Vec<f32> {
    let plane = h * w;
    let fill = |dx: &mut [MaybeUninit<f32>]| {
        dx.par_chunks_mut(plane.max(1))
            .balanced()
            .enumerate()
            .for_each(|(plane_index, dx)| {
                let dx = zeroed(dx);
                let (image, channel) = (plane_index / c, plane_index % c);
                for (k, &row) in rows.iter().enumerate() {
                    if row / plane == image {
                        dx[row % plane] += g[k * c + channel];
                    }
                }
            });
    };
    // SAFETY: every plane is one chunk, zeroed in full before the additions.
    unsafe { filled_by(b * c * plane, fill) }
}
