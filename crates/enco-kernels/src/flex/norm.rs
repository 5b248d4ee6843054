//! Instance normalisation without affine parameters, one `[H, W]` plane per task, statistics
//! accumulated in f64 (in [`LANES`] interleaved partial sums, so that the additions do not wait
//! on each other, and so that one vector instruction adds a chunk at every SIMD level above the
//! baseline, in the same order: the same bits on each).

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::conv::filled_by;
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

/// One plane of [`instance_norm`]: writes `(x − mean) · inv_std` and returns `inv_std`.
struct NormalisePlane<'a> {
    src: &'a [f32],
    out: &'a mut [MaybeUninit<f32>],
    epsilon: f64,
}

impl Kernel for NormalisePlane<'_> {
    type Output = f32;

    #[inline(always)]
    fn run<const FMA: bool>(self) -> f32 {
        let Self { src, out, epsilon } = self;
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
        for (o, &v) in out.iter_mut().zip(src) {
            o.write((v - mean) * inv_std);
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
            .map(|(out, src)| dispatch(NormalisePlane { src, out, epsilon }))
            .collect();
    };
    // SAFETY: `fill_y` writes every sample of every plane.
    let y = unsafe { filled_by(x.len(), fill_y) };
    (y, inv_std)
}

/// One plane of [`instance_norm_backward`].
struct NormalisePlaneAdjoint<'a> {
    y: &'a [f32],
    g: &'a [f32],
    inv_std: f32,
    dx: &'a mut [MaybeUninit<f32>],
}

impl Kernel for NormalisePlaneAdjoint<'_> {
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let Self { y, g, inv_std, dx } = self;
        let n = g.len() as f64;
        // Two passes over the plane (in cache): each loop is vectorized, one over both was not.
        let (sum_g, sum_gy) = (sum_of(g, |v| v), dot(g, y));
        let mean_g = (sum_g / n) as f32;
        let mean_gy = (sum_gy / n) as f32;
        for ((d, &gv), &yv) in dx.iter_mut().zip(g).zip(y) {
            d.write(inv_std * (gv - mean_g - yv * mean_gy));
        }
    }
}

/// `dx = inv_std · (g − mean(g) − y · mean(g · y))` per plane.
pub(crate) fn instance_norm_backward(
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
            .for_each(|((dx, (y, g)), &inv_std)| {
                dispatch(NormalisePlaneAdjoint { y, g, inv_std, dx })
            });
    };
    // SAFETY: `fill_dx` writes every sample of every plane.
    unsafe { filled_by(grad.len(), fill_dx) }
}
