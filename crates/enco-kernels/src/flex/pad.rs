//! Reflection padding of H and W and its adjoint, one plane per task.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::conv::filled_by;
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

/// One plane of [`reflect_pad`].
struct PadPlane<'a> {
    plane: &'a [f32],
    out: &'a mut [MaybeUninit<f32>],
    h: usize,
    w: usize,
    p: usize,
}

impl Kernel for PadPlane<'_> {
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
        for (r, row) in out.chunks_exact_mut(w + 2 * p).enumerate() {
            let src = &plane[reflect(r as isize - p as isize, h) * w..][..w];
            for j in 0..p {
                row[j].write(src[p - j]);
                row[p + w + j].write(src[w - 2 - j]);
            }
            for (d, &v) in row[p..p + w].iter_mut().zip(src) {
                d.write(v);
            }
        }
    }
}

/// One plane of [`reflect_pad_backward`], added onto `gx` (zero on entry).
struct PadPlaneAdjoint<'a> {
    g: &'a [f32],
    gx: &'a mut [f32],
    h: usize,
    w: usize,
    p: usize,
}

impl Kernel for PadPlaneAdjoint<'_> {
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let Self { g, gx, h, w, p } = self;
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
    }
}

/// Pads every `[H, W]` plane of `x [N, C, H, W]` by `p` on each side.
pub(crate) fn reflect_pad(x: &[f32], dims: [usize; 4], p: usize) -> Vec<f32> {
    let [n, c, h, w] = dims;
    let (hp, wp) = (h + 2 * p, w + 2 * p);
    let fill = |out: &mut [MaybeUninit<f32>]| {
        out.par_chunks_mut(hp * wp)
            .zip(x.par_chunks(h * w))
            .for_each(|(out, plane)| {
                dispatch(PadPlane {
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
    let [n, c, hp, wp] = dims;
    let (h, w) = (hp - 2 * p, wp - 2 * p);
    let mut gx = vec![0f32; n * c * h * w];
    gx.par_chunks_mut(h * w)
        .zip(grad.par_chunks(hp * wp))
        .for_each(|(gx, g)| dispatch(PadPlaneAdjoint { g, gx, h, w, p }));
    gx
}
