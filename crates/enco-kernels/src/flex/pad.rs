//! Reflection padding of H and W and its adjoint, one plane per task.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::conv::{BalancedTasks, filled_by, zeroed};
use super::simd::{Kernel, dispatch};

/// Reflect index: `i < 0 → −i`, `i ≥ n → 2(n − 1) − i` (one reflection, `|i| < n`).
#[inline(always)]
fn reflect(i: isize, n: usize) -> usize {
    if i < 0 {
        i.unsigned_abs()
    } else if i as usize >= n {
        2 * (n - 1) - i as usize
    } else {
        i as usize
    }
}

/// One plane of [`reflect_pad`], of the ReLU of the plane with `RELU`.
struct PadPlane<'a, const RELU: bool> {
    plane: &'a [f32],
    out: &'a mut [MaybeUninit<f32>],
    h: usize,
    w: usize,
    p: usize,
}

impl<const RELU: bool> Kernel for PadPlane<'_, RELU> {
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let Self {
            plane,
            out,
            h,
            w,
            p,
        } = self;
        // Flex's own ReLU: `x.max(0.0)`.
        let f = |v: f32| if RELU { v.max(0.0) } else { v };
        for (r, row) in out.chunks_exact_mut(w + 2 * p).enumerate() {
            let src = &plane[reflect(r as isize - p as isize, h) * w..][..w];
            for j in 0..p {
                row[j].write(f(src[p - j]));
                row[p + w + j].write(f(src[w - 2 - j]));
            }
            for (d, &v) in row[p..p + w].iter_mut().zip(src) {
                d.write(f(v));
            }
        }
    }
}

/// One plane of [`reflect_pad_backward`], added onto `gx` (zero on entry); with `relu_input`,
/// then zero wherever that plane of the ReLU's input is not positive.
struct PadPlaneAdjoint<'a> {
    g: &'a [f32],
    gx: &'a mut [f32],
    relu_input: Option<&'a [f32]>,
    h: usize,
    w: usize,
    p: usize,
}

impl Kernel for PadPlaneAdjoint<'_> {
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let Self {
            g,
            gx,
            relu_input,
            h,
            w,
            p,
        } = self;
        for (r, row) in g.chunks_exact(w + 2 * p).enumerate() {
            let t = reflect(r as isize - p as isize, h);
            let dst = &mut gx[t * w..(t + 1) * w];
            for (d, &v) in dst.iter_mut().zip(&row[p..p + w]) {
                *d += v;
            }
            for j in 0..p {
                dst[p - j] += row[j];
                dst[w - 2 - j] += row[p + w + j];
            }
        }
        if let Some(x) = relu_input {
            // Flex's own ReLU adjoint: `if x > 0 { g } else { 0 }`.
            for (d, &x) in gx.iter_mut().zip(x) {
                *d = if x > 0.0 { *d } else { 0.0 };
            }
        }
    }
}

/// Pads every `[H, W]` plane of `x [N, C, H, W]` by `p` on each side.
pub(crate) fn reflect_pad(x: &[f32], dims: [usize; 4], p: usize) -> Vec<f32> {
    padded::<false>(x, dims, p)
}

/// Pads every `[H, W]` plane of `relu(x)`, `x [N, C, H, W]`, by `p` on each side, in one pass.
pub(crate) fn relu_reflect_pad(x: &[f32], dims: [usize; 4], p: usize) -> Vec<f32> {
    padded::<true>(x, dims, p)
}

fn padded<const RELU: bool>(x: &[f32], dims: [usize; 4], p: usize) -> Vec<f32> {
    let [n, c, h, w] = dims;
    let (hp, wp) = (h + 2 * p, w + 2 * p);
    let fill = |out: &mut [MaybeUninit<f32>]| {
        out.par_chunks_mut(hp * wp)
            .zip(x.par_chunks(h * w))
            .balanced()
            .for_each(|(out, plane)| {
                dispatch(PadPlane::<RELU> {
                    plane,
                    out,
                    h,
                    w,
                    p,
                })
            });
    };
    // SAFETY: every row of every plane is written whole: its `p` reflected values on each side
    // and the `w` values between them.
    unsafe { filled_by(n * c * hp * wp, fill) }
}

/// The adjoint of [`reflect_pad`] for a padded gradient `[N, C, H + 2p, W + 2p]`.
pub(crate) fn reflect_pad_backward(grad: &[f32], dims: [usize; 4], p: usize) -> Vec<f32> {
    pad_adjoint(grad, None, dims, p)
}

/// The adjoint of [`relu_reflect_pad`] at `x [N, C, H, W]` for a padded gradient
/// `[N, C, H + 2p, W + 2p]`, in one pass per plane.
pub(crate) fn relu_reflect_pad_backward(
    x: &[f32],
    grad: &[f32],
    dims: [usize; 4],
    p: usize,
) -> Vec<f32> {
    pad_adjoint(grad, Some(x), dims, p)
}

fn pad_adjoint(grad: &[f32], relu_input: Option<&[f32]>, dims: [usize; 4], p: usize) -> Vec<f32> {
    let [n, c, hp, wp] = dims;
    let (h, w) = (hp - 2 * p, wp - 2 * p);
    let fill_gx = |gx: &mut [MaybeUninit<f32>]| {
        gx.par_chunks_mut(h * w)
            .zip(grad.par_chunks(hp * wp))
            .balanced()
            .enumerate()
            .for_each(|(plane, (gx, g))| {
                let relu_input = relu_input.map(|x| &x[plane * h * w..][..h * w]);
                dispatch(PadPlaneAdjoint {
                    g,
                    gx: zeroed(gx),
                    relu_input,
                    h,
                    w,
                    p,
                })
            });
    };
    // SAFETY: `fill_gx` writes every plane (zeros, then the sums).
    unsafe { filled_by(n * c * h * w, fill_gx) }
}
