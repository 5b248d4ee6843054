//! Average and max pooling of H and W (dilation 1, floor mode), one plane per task, each output
//! computed as PyTorch's CPU kernels compute it (`aten/src/ATen/native/cpu/AvgPoolKernel.cpp`,
//! `MaxPoolKernel.cpp`): the window's values in row order, the sum in f32 divided once.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::conv::{BalancedTasks, filled_by};

/// A pooling window: kernel, stride and zero padding of H and W.
#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

impl Window {
    /// The window of a kernel, a stride and a padding.
    pub fn new(kernel: [usize; 2], stride: [usize; 2], padding: [usize; 2]) -> Self {
        Self {
            kernel,
            stride,
            padding,
        }
    }

    /// The output side along `axis` for an input side `n` (floor mode), `None` where the window
    /// does not fit or the padding exceeds half the kernel (PyTorch refuses both).
    pub fn output_side(&self, n: usize, axis: usize) -> Option<usize> {
        let (k, s, p) = (self.kernel[axis], self.stride[axis], self.padding[axis]);
        if k == 0 || s == 0 || p > k / 2 || n + 2 * p < k {
            return None;
        }
        Some((n + 2 * p - k) / s + 1)
    }

    /// The input rows (or columns) `[start, end)` of output `o` along `axis`, clipped to
    /// `[0, n)`, and the window's extent clipped to the padded input (`count_include_pad`).
    #[inline]
    fn span(&self, o: usize, n: usize, axis: usize) -> (usize, usize, usize) {
        let (k, s, p) = (self.kernel[axis], self.stride[axis], self.padding[axis]);
        let start = (o * s) as isize - p as isize;
        let end_padded = (start + k as isize).min((n + p) as isize);
        let padded = (end_padded - start) as usize;
        let end = end_padded.min(n as isize) as usize;
        (start.max(0) as usize, end, padded)
    }
}

/// Pools every `[H, W]` plane of `x [N, C, H, W]` into `[H', W']` with `reduce(plane, rows,
/// columns, padded window size)`.
fn pool(
    x: &[f32],
    [n, c, h, w]: [usize; 4],
    window: Window,
    [h_out, w_out]: [usize; 2],
    reduce: impl Fn(&[f32], (usize, usize), (usize, usize), usize) -> f32 + Sync,
) -> Vec<f32> {
    assert_eq!(x.len(), n * c * h * w, "input size and shape differ");
    let plane_out = h_out * w_out;
    let fill = |y: &mut [MaybeUninit<f32>]| {
        y.par_chunks_mut(plane_out.max(1))
            .zip(x.par_chunks((h * w).max(1)))
            .balanced()
            .for_each(|(y, plane)| {
                for (oh, row) in y.chunks_exact_mut(w_out).enumerate() {
                    let (r0, r1, rows_padded) = window.span(oh, h, 0);
                    for (ow, out) in row.iter_mut().enumerate() {
                        let (c0, c1, cols_padded) = window.span(ow, w, 1);
                        out.write(reduce(plane, (r0, r1), (c0, c1), rows_padded * cols_padded));
                    }
                }
            });
    };
    // SAFETY: the planes of `y` are written row by row, every element once.
    unsafe { filled_by(n * c * plane_out, fill) }
}

/// `F.avg_pool2d(x, kernel, stride, padding, ceil_mode=False, count_include_pad)`.
pub(super) fn avg_pool2d(
    x: &[f32],
    dims: [usize; 4],
    window: Window,
    out: [usize; 2],
    count_include_pad: bool,
) -> Vec<f32> {
    let w = dims[3];
    pool(x, dims, window, out, |plane, (r0, r1), (c0, c1), padded| {
        if r0 >= r1 || c0 >= c1 {
            return 0.0;
        }
        let mut sum = 0f32;
        for r in r0..r1 {
            for &v in &plane[r * w + c0..r * w + c1] {
                sum += v;
            }
        }
        let count = if count_include_pad {
            padded
        } else {
            (r1 - r0) * (c1 - c0)
        };
        sum / count as f32
    })
}

/// `F.max_pool2d(x, kernel, stride, padding)` (dilation 1, `ceil_mode=False`); a NaN in the
/// window gives NaN, as in PyTorch.
pub(super) fn max_pool2d(x: &[f32], dims: [usize; 4], window: Window, out: [usize; 2]) -> Vec<f32> {
    let w = dims[3];
    pool(x, dims, window, out, |plane, (r0, r1), (c0, c1), _| {
        let mut max = f32::NEG_INFINITY;
        for r in r0..r1 {
            for &v in &plane[r * w + c0..r * w + c1] {
                if v > max || v.is_nan() {
                    max = v;
                }
            }
        }
        max
    })
}
