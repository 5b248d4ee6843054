//! The anti-aliasing resamplers of the official networks as single passes over each
//! `[H, W]` plane, one plane per task.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::conv::{BalancedTasks, filled_by, zeroed};
use super::simd::{Kernel, LANES, Lanes, dispatch};

use crate::generic::BLUR_TAPS;

/// Reflect index for a padding of 1: `−1 → 1`, `n → n − 2`.
#[inline(always)]
fn reflect(i: isize, n: usize) -> usize {
    if i < 0 {
        (-i) as usize
    } else if i as usize >= n {
        2 * n - 2 - i as usize
    } else {
        i as usize
    }
}

/// Output extent of the stride-2 blur over a reflect-padded axis of `n ≥ 2`.
fn downsampled(n: usize) -> usize {
    (n - 1) / 2 + 1
}

/// One plane of [`blur_downsample`].
struct BlurDownsamplePlane<'a> {
    plane: &'a [f32],
    out: &'a mut [MaybeUninit<f32>],
    h: usize,
    w: usize,
}

impl Kernel for BlurDownsamplePlane<'_> {
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let Self { plane, out, h, w } = self;
        let (ho, wo) = (downsampled(h), downsampled(w));
        let [a, b, _] = BLUR_TAPS;
        let mut t = vec![0f32; w];
        for oy in 0..ho {
            let r = 2 * oy as isize;
            let top = &plane[reflect(r - 1, h) * w..][..w];
            let mid = &plane[r as usize * w..][..w];
            let bottom = &plane[reflect(r + 1, h) * w..][..w];
            for (((t, &p), &q), &s) in t.iter_mut().zip(top).zip(mid).zip(bottom) {
                *t = a * p + b * q + a * s;
            }
            let row = &mut out[oy * wo..(oy + 1) * wo];
            for (ox, o) in row.iter_mut().enumerate() {
                let col = 2 * ox as isize;
                o.write(
                    a * t[reflect(col - 1, w)] + b * t[col as usize] + a * t[reflect(col + 1, w)],
                );
            }
        }
    }
}

/// `Downsample` forward (docs/reference.md §1.3), separably: the vertical 3-tap blur of the three source
/// rows of an output row, then the horizontal blur sampled at even columns.
pub(crate) fn blur_downsample(x: &[f32], dims: [usize; 4]) -> (Vec<f32>, [usize; 4]) {
    let [n, c, h, w] = dims;
    let (ho, wo) = (downsampled(h), downsampled(w));
    let fill = |out: &mut [MaybeUninit<f32>]| {
        out.par_chunks_mut(ho * wo)
            .zip(x.par_chunks(h * w))
            .balanced()
            .for_each(|(out, plane)| dispatch(BlurDownsamplePlane { plane, out, h, w }));
    };
    // SAFETY: every output row of every plane is written whole.
    let out = unsafe { filled_by(n * c * ho * wo, fill) };
    (out, [n, c, ho, wo])
}

/// One plane of [`blur_downsample_backward`], added onto `gx` (zero on entry).
struct BlurDownsamplePlaneAdjoint<'a> {
    g: &'a [f32],
    gx: &'a mut [f32],
    grad_dims: [usize; 2],
    h: usize,
    w: usize,
}

impl Kernel for BlurDownsamplePlaneAdjoint<'_> {
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let Self {
            g,
            gx,
            grad_dims: [ho, wo],
            h,
            w,
        } = self;
        let [a, b, _] = BLUR_TAPS;
        let mut t = vec![0f32; w];
        for oy in 0..ho {
            t.fill(0.0);
            for (ox, &v) in g[oy * wo..(oy + 1) * wo].iter().enumerate() {
                let col = 2 * ox as isize;
                t[reflect(col - 1, w)] += a * v;
                t[col as usize] += b * v;
                t[reflect(col + 1, w)] += a * v;
            }
            let r = 2 * oy as isize;
            for (row, weight) in [
                (reflect(r - 1, h), a),
                (r as usize, b),
                (reflect(r + 1, h), a),
            ] {
                for (d, &s) in gx[row * w..(row + 1) * w].iter_mut().zip(&t) {
                    *d += weight * s;
                }
            }
        }
    }
}

/// `Downsample` backward: each output gradient spread over its 3×3 taps (reflected taps land
/// on their mirrors), horizontally into a row buffer, then vertically into three input rows.
pub(crate) fn blur_downsample_backward(
    grad: &[f32],
    grad_dims: [usize; 4],
    input: [usize; 4],
) -> Vec<f32> {
    let [_, _, ho, wo] = grad_dims;
    let [n, c, h, w] = input;
    let fill_gx = |gx: &mut [MaybeUninit<f32>]| {
        gx.par_chunks_mut(h * w)
            .zip(grad.par_chunks(ho * wo))
            .balanced()
            .for_each(|(gx, g)| {
                dispatch(BlurDownsamplePlaneAdjoint {
                    g,
                    gx: zeroed(gx),
                    grad_dims: [ho, wo],
                    h,
                    w,
                })
            });
    };
    // SAFETY: `fill_gx` writes every plane (zeros, then the sums).
    unsafe { filled_by(n * c * h * w, fill_gx) }
}

/// One plane of [`upsample2x`].
struct UpsamplePlane<'a> {
    plane: &'a [f32],
    out: &'a mut [MaybeUninit<f32>],
    h: usize,
    w: usize,
}

impl Kernel for UpsamplePlane<'_> {
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let Self { plane, out, h, w } = self;
        let w2 = 2 * w;
        let mut wide = vec![0f32; h * w2];
        for (src, dst) in plane.chunks_exact(w).zip(wide.chunks_exact_mut(w2)) {
            let sample = |j: usize| {
                let prev = src[j.saturating_sub(1)];
                let next = src[(j + 1).min(w - 1)];
                (prev * 0.25 + src[j] * 0.75, src[j] * 0.75 + next * 0.25)
            };
            // Inside the row, LANES samples at a time (their neighbours one load to either
            // side), the even and odd outputs interleaved in registers; the edges (clamped
            // neighbours) one by one, with the same arithmetic.
            let mut j = 1;
            while j + LANES < w {
                let prev = Lanes::load(&src[j - 1..]);
                let cur = Lanes::load(&src[j..]);
                let next = Lanes::load(&src[j + 1..]);
                let even = prev * 0.25 + cur * 0.75;
                let odd = cur * 0.75 + next * 0.25;
                let (low, high) = Lanes::interleave(even, odd);
                low.store(&mut dst[2 * j..]);
                high.store(&mut dst[2 * j + LANES..]);
                j += LANES;
            }
            for j in (0..1.min(w)).chain(j..w) {
                (dst[2 * j], dst[2 * j + 1]) = sample(j);
            }
        }
        for i in 0..h {
            let prev = &wide[i.saturating_sub(1) * w2..][..w2];
            let cur = &wide[i * w2..][..w2];
            let next = &wide[(i + 1).min(h - 1) * w2..][..w2];
            let (even, odd) = out[2 * i * w2..(2 * i + 2) * w2].split_at_mut(w2);
            for (((e, o), (&p, &q)), &s) in
                even.iter_mut().zip(odd).zip(prev.iter().zip(cur)).zip(next)
            {
                e.write(p * 0.25 + q * 0.75);
                o.write(q * 0.75 + s * 0.25);
            }
        }
    }
}

/// `Upsample` forward (docs/reference.md §1.4): every row doubled along W, then the rows doubled along H,
/// with the same arithmetic (and so the same rounding) as the generic path.
pub(crate) fn upsample2x(x: &[f32], dims: [usize; 4]) -> Vec<f32> {
    let [n, c, h, w] = dims;
    let (h2, w2) = (2 * h, 2 * w);
    let fill = |out: &mut [MaybeUninit<f32>]| {
        out.par_chunks_mut(h2 * w2)
            .zip(x.par_chunks(h * w))
            .balanced()
            .for_each(|(out, plane)| dispatch(UpsamplePlane { plane, out, h, w }));
    };
    // SAFETY: each input row `i` writes output rows `2i` and `2i + 1` whole.
    unsafe { filled_by(n * c * h2 * w2, fill) }
}

/// One plane of [`upsample2x_backward`].
struct UpsamplePlaneAdjoint<'a> {
    g: &'a [f32],
    gx: &'a mut [MaybeUninit<f32>],
    h: usize,
    w: usize,
}

impl Kernel for UpsamplePlaneAdjoint<'_> {
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let Self { g, gx, h, w } = self;
        let w2 = 2 * w;
        let mut tall = vec![0f32; w2];
        let row = |r: usize| &g[r * w2..(r + 1) * w2];
        for m in 0..h {
            let even = row(2 * m);
            let odd = row(2 * m + 1);
            let next_even = if m + 1 < h {
                row(2 * m + 2)
            } else {
                row(2 * h - 1)
            };
            let prev_odd = if m > 0 { row(2 * m - 1) } else { row(0) };
            for (j, t) in tall.iter_mut().enumerate() {
                *t = (even[j] + odd[j]) * 0.75 + (next_even[j] + prev_odd[j]) * 0.25;
            }
            let dst = &mut gx[m * w..(m + 1) * w];
            for (j, d) in dst.iter_mut().enumerate() {
                let e = tall[2 * j];
                let o = tall[2 * j + 1];
                let next_e = if j + 1 < w {
                    tall[2 * j + 2]
                } else {
                    tall[2 * w - 1]
                };
                let prev_o = if j > 0 { tall[2 * j - 1] } else { tall[0] };
                d.write((e + o) * 0.75 + (next_e + prev_o) * 0.25);
            }
        }
    }
}

/// `Upsample` backward: the adjoint along H, then along W,
/// `gx[m] = ¾·(e[m] + o[m]) + ¼·(e[m+1] + o[m−1])` with clamped edges (`e[n] → o[n−1]`,
/// `o[−1] → e[0]`), the same arithmetic as the generic path.
pub(crate) fn upsample2x_backward(grad: &[f32], dims: [usize; 4]) -> Vec<f32> {
    let [n, c, h2, w2] = dims;
    let (h, w) = (h2 / 2, w2 / 2);
    let fill = |gx: &mut [MaybeUninit<f32>]| {
        gx.par_chunks_mut(h * w)
            .zip(grad.par_chunks(h2 * w2))
            .balanced()
            .for_each(|(gx, g)| dispatch(UpsamplePlaneAdjoint { g, gx, h, w }));
    };
    // SAFETY: every row of every plane is written whole.
    unsafe { filled_by(n * c * h * w, fill) }
}
