//! Instance normalisation without affine parameters, one `[H, W]` plane per task, statistics
//! accumulated in f64 (in [`LANES`] interleaved partial sums, so that the additions do not wait
//! on each other, and so that one vector instruction adds a chunk at every SIMD level above the
//! baseline, in the same order: the same bits on each).

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::conv::{BalancedTasks, assume_written, filled_by};
use super::simd::{Kernel, dispatch};

/// Partial sums per plane statistic.
const LANES: usize = 8;

/// `Σ_i f(a_i)` in f64: [`LANES`] partial sums over the full chunks (lane `j` of the chunks'
/// element `j`), added lane after lane, then the tail in order.
#[inline(always)]
fn sum_of(a: &[f32], f: impl Fn(f64) -> f64) -> f64 {
    let mut lanes = [0f64; LANES];
    let chunks = a.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        let chunk: &[f32; LANES] = chunk.try_into().expect("chunks of LANES");
        for j in 0..LANES {
            lanes[j] += f(f64::from(chunk[j]));
        }
    }
    let mut sum = lanes.iter().sum::<f64>();
    for &v in tail {
        sum += f(f64::from(v));
    }
    sum
}

/// `Σ_i g_i · y_i` in f64, summed as [`sum_of`] sums.
#[inline(always)]
fn dot(g: &[f32], y: &[f32]) -> f64 {
    let mut lanes = [0f64; LANES];
    let (chunks_g, chunks_y) = (g.chunks_exact(LANES), y.chunks_exact(LANES));
    let (tail_g, tail_y) = (chunks_g.remainder(), chunks_y.remainder());
    for (cg, cy) in chunks_g.zip(chunks_y) {
        let cg: &[f32; LANES] = cg.try_into().expect("chunks of LANES");
        let cy: &[f32; LANES] = cy.try_into().expect("chunks of LANES");
        for j in 0..LANES {
            lanes[j] += f64::from(cg[j]) * f64::from(cy[j]);
        }
    }
    let mut sum = lanes.iter().sum::<f64>();
    for (&gv, &yv) in tail_g.iter().zip(tail_y) {
        sum += f64::from(gv) * f64::from(yv);
    }
    sum
}

/// One plane of [`instance_norm`]: writes `(x − mean) · inv_std` and returns `inv_std`; with
/// `relu_out`, also its ReLU there (flex's own ReLU, `v.max(0.0)`), in the same pass.
struct NormalisePlane<'a> {
    src: &'a [f32],
    out: &'a mut [MaybeUninit<f32>],
    relu_out: Option<&'a mut [MaybeUninit<f32>]>,
    epsilon: f64,
}

impl Kernel for NormalisePlane<'_> {
    type Output = f32;

    #[inline(always)]
    fn run<const FMA: bool>(self) -> f32 {
        let Self {
            src,
            out,
            relu_out,
            epsilon,
        } = self;
        let n = src.len() as f64;
        let sum = sum_of(src, |v| v);
        let mean = sum / n;
        let sum_sq = sum_of(src, |v| {
            let d = v - mean;
            d * d
        });
        let var = sum_sq / n;
        let inv_std = (1.0 / (var + epsilon).sqrt()) as f32;
        let mean = mean as f32;
        match relu_out {
            None => {
                for (o, &v) in out.iter_mut().zip(src) {
                    o.write((v - mean) * inv_std);
                }
            }
            Some(relu_out) => {
                for ((o, r), &v) in out.iter_mut().zip(relu_out.iter_mut()).zip(src) {
                    let y = (v - mean) * inv_std;
                    o.write(y);
                    r.write(y.max(0.0));
                }
            }
        }
        inv_std
    }
}

/// `y = (x − mean) · inv_std` per plane; returns `y` and `inv_std` (one per plane).
pub(crate) fn instance_norm(x: &[f32], plane: usize, epsilon: f64) -> (Vec<f32>, Vec<f32>) {
    let mut inv_std = Vec::new();
    let fill_y = |y: &mut [MaybeUninit<f32>]| {
        inv_std = y
            .par_chunks_mut(plane)
            .zip(x.par_chunks(plane))
            .balanced()
            .map(|(out, src)| {
                dispatch(NormalisePlane {
                    src,
                    out,
                    relu_out: None,
                    epsilon,
                })
            })
            .collect();
    };
    // SAFETY: `fill_y` writes every sample of every plane.
    let y = unsafe { filled_by(x.len(), fill_y) };
    (y, inv_std)
}

/// `relu(y)` of [`instance_norm`]'s `y`, in the same pass; returns `relu(y)`, `y` and `inv_std`,
/// the same values as the two operations one after the other.
pub(crate) fn instance_norm_relu(
    x: &[f32],
    plane: usize,
    epsilon: f64,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut inv_std = Vec::new();
    let mut y = Vec::new();
    let fill_r = |r: &mut [MaybeUninit<f32>]| {
        let fill_y = |y: &mut [MaybeUninit<f32>]| {
            inv_std = y
                .par_chunks_mut(plane)
                .zip(r.par_chunks_mut(plane))
                .zip(x.par_chunks(plane))
                .balanced()
                .map(|((out, relu_out), src)| {
                    dispatch(NormalisePlane {
                        src,
                        out,
                        relu_out: Some(relu_out),
                        epsilon,
                    })
                })
                .collect();
        };
        // SAFETY: `fill_y` writes every sample of every plane of `y`.
        y = unsafe { filled_by(x.len(), fill_y) };
    };
    // SAFETY: `fill_r` writes every sample of every plane of `relu(y)` with `y`'s.
    let r = unsafe { filled_by(x.len(), fill_r) };
    (r, y, inv_std)
}

/// One plane of [`norm_adjoint`]; with `RELU`, the gradient is first masked by flex's ReLU
/// adjoint (`if y > 0 { g } else { 0 }`) into `dx`, then used from there, so that the sums see
/// the same values in the same order as the two operations one after the other.
struct NormalisePlaneAdjoint<'a, const RELU: bool> {
    y: &'a [f32],
    g: &'a [f32],
    inv_std: f32,
    dx: &'a mut [MaybeUninit<f32>],
}

impl<const RELU: bool> Kernel for NormalisePlaneAdjoint<'_, RELU> {
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let Self { y, g, inv_std, dx } = self;
        let n = g.len() as f64;
        let finish = |sum_g: f64, sum_gy: f64| ((sum_g / n) as f32, (sum_gy / n) as f32);
        if RELU {
            for ((d, &gv), &yv) in dx.iter_mut().zip(g).zip(y) {
                d.write(if yv > 0.0 { gv } else { 0.0 });
            }
            // SAFETY: every sample of `dx` was written just above.
            let g = unsafe { assume_written(dx) };
            let (mean_g, mean_gy) = finish(sum_of(g, |v| v), dot(&*g, y));
            for (d, &yv) in g.iter_mut().zip(y) {
                *d = inv_std * (*d - mean_g - yv * mean_gy);
            }
        } else {
            // Two passes over the plane (in cache): each loop is vectorized, one over both was
            // not.
            let (mean_g, mean_gy) = finish(sum_of(g, |v| v), dot(g, y));
            for ((d, &gv), &yv) in dx.iter_mut().zip(g).zip(y) {
                d.write(inv_std * (gv - mean_g - yv * mean_gy));
            }
        }
    }
}

/// `dx = inv_std · (g − mean(g) − y · mean(g · y))` per plane, the adjoint of [`instance_norm`]
/// from its output `y`; with `RELU`, the adjoint of [`instance_norm_relu`] from the normalised
/// `y` before the ReLU: the same, of the gradient masked by the ReLU's adjoint, in one pass per
/// plane.
pub(crate) fn norm_adjoint<const RELU: bool>(
    output: &[f32],
    inv_std: &[f32],
    grad: &[f32],
    plane: usize,
) -> Vec<f32> {
    // Every chunk of `dx` must meet a plane of each input for `fill_dx` to write it.
    assert!(
        output.len() == grad.len() && inv_std.len() * plane == grad.len(),
        "instance-norm adjoint: output, gradient and statistics sizes differ"
    );
    let fill_dx = |dx: &mut [MaybeUninit<f32>]| {
        dx.par_chunks_mut(plane)
            .zip(output.par_chunks(plane).zip(grad.par_chunks(plane)))
            .zip(inv_std.par_iter())
            .balanced()
            .for_each(|((dx, (y, g)), &inv_std)| {
                dispatch(NormalisePlaneAdjoint::<RELU> { y, g, inv_std, dx })
            });
    };
    // SAFETY: `fill_dx` writes every sample of every plane.
    unsafe { filled_by(grad.len(), fill_dx) }
}
