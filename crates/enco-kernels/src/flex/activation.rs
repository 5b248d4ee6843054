//! The LeakyReLU and its adjoint, and the per-channel affine map + ReLU, each in one parallel
//! pass.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::conv::{BalancedTasks, filled_by};
use super::simd::{Kernel, dispatch};

/// Elements per parallel chunk.
const CHUNK: usize = 1 << 15;

/// A chunk of [`leaky_relu`].
struct LeakyRelu<'a> {
    x: &'a [f32],
    y: &'a mut [MaybeUninit<f32>],
    negative_slope: f32,
}

impl Kernel for LeakyRelu<'_> {
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let Self {
            x,
            y,
            negative_slope,
        } = self;
        for (y, &x) in y.iter_mut().zip(x) {
            y.write(if x >= 0.0 { x } else { negative_slope * x });
        }
    }
}

/// `x` where `x ≥ 0`, `negative_slope · x` elsewhere (NaN stays NaN), as flex's own
/// `leaky_relu` computes it, on both cores.
pub(super) fn leaky_relu(x: &[f32], negative_slope: f32) -> Vec<f32> {
    let fill = |y: &mut [MaybeUninit<f32>]| {
        y.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .balanced()
            .for_each(|(y, x)| {
                dispatch(LeakyRelu {
                    x,
                    y,
                    negative_slope,
                })
            });
    };
    // SAFETY: the chunks of `y` match those of `x`, and every element of each is written.
    unsafe { filled_by(x.len(), fill) }
}

/// A chunk of [`leaky_relu_backward`].
struct LeakyReluAdjoint<'a> {
    y: &'a [f32],
    g: &'a [f32],
    dx: &'a mut [MaybeUninit<f32>],
    negative_slope: f32,
}

impl Kernel for LeakyReluAdjoint<'_> {
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let Self {
            y,
            g,
            dx,
            negative_slope,
        } = self;
        for ((d, &y), &g) in dx.iter_mut().zip(y).zip(g) {
            d.write(if y > 0.0 { g } else { negative_slope * g });
        }
    }
}

/// A plane of [`scale_shift_relu`].
struct ScaleShiftRelu<'a> {
    x: &'a [f32],
    y: &'a mut [MaybeUninit<f32>],
    scale: f32,
    shift: f32,
}

impl Kernel for ScaleShiftRelu<'_> {
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let Self { x, y, scale, shift } = self;
        for (y, &x) in y.iter_mut().zip(x) {
            let v = x * scale + shift;
            y.write(if v < 0.0 { 0.0 } else { v });
        }
    }
}

/// `g` where `y > 0`, `negative_slope · g` elsewhere.
pub(super) fn leaky_relu_backward(output: &[f32], grad: &[f32], negative_slope: f32) -> Vec<f32> {
    assert_eq!(output.len(), grad.len(), "output and gradient sizes differ");
    let fill = |dx: &mut [MaybeUninit<f32>]| {
        dx.par_chunks_mut(CHUNK)
            .zip(output.par_chunks(CHUNK).zip(grad.par_chunks(CHUNK)))
            .balanced()
            .for_each(|(dx, (y, g))| {
                dispatch(LeakyReluAdjoint {
                    y,
                    g,
                    dx,
                    negative_slope,
                })
            });
    };
    // SAFETY: the chunks of `dx` match those of `output` and `grad` (same lengths), and every
    // element of each is written.
    unsafe { filled_by(grad.len(), fill) }
}

/// `relu(x · scale_c + shift_c)` on `x [N, C, H, W]` contiguous (`scale`, `shift` `[C]`), one
/// `[H, W]` plane per task: the product rounded, then the sum (no fused multiply-add), then
/// the clamp, which keeps NaN.
pub(super) fn scale_shift_relu(
    x: &[f32],
    scale: &[f32],
    shift: &[f32],
    [n, c, h, w]: [usize; 4],
) -> Vec<f32> {
    assert_eq!(x.len(), n * c * h * w, "input size and shape differ");
    assert!(
        scale.len() == c && shift.len() == c,
        "one scale and shift per channel"
    );
    let plane = (h * w).max(1);
    let fill = |y: &mut [MaybeUninit<f32>]| {
        y.par_chunks_mut(plane)
            .zip(x.par_chunks(plane))
            .balanced()
            .enumerate()
            .for_each(|(i, (y, x))| {
                dispatch(ScaleShiftRelu {
                    x,
                    y,
                    scale: scale[i % c],
                    shift: shift[i % c],
                })
            });
    };
    // SAFETY: the planes of `y` match those of `x` (same length), and every element of each
    // is written.
    unsafe { filled_by(x.len(), fill) }
}
