//! Instance normalisation without affine parameters, one `[H, W]` plane per task, statistics
//! accumulated in f64 (in [`LANES`] interleaved partial sums, so that the additions do not wait
//! on each other).

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::conv::filled_by;

/// Partial sums per plane statistic.
const LANES: usize = 8;

/// `Σ_i f(a_i, b_i)` for each of the `K` components of `f`, in f64, over `a` and `b` of one
/// length: [`LANES`] partial sums per component over the full chunks, then the tail.
#[inline]
fn sums<const K: usize>(a: &[f32], b: &[f32], f: impl Fn(f64, f64) -> [f64; K]) -> [f64; K] {
    let mut lanes = [[0f64; LANES]; K];
    let (chunks_a, chunks_b) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (tail_a, tail_b) = (chunks_a.remainder(), chunks_b.remainder());
    for (ca, cb) in chunks_a.zip(chunks_b) {
        for j in 0..LANES {
            let terms = f(f64::from(ca[j]), f64::from(cb[j]));
            for (lane, term) in lanes.iter_mut().zip(terms) {
                lane[j] += term;
            }
        }
    }
    let mut out = lanes.map(|lane| lane.iter().sum::<f64>());
    for (&va, &vb) in tail_a.iter().zip(tail_b) {
        for (o, term) in out.iter_mut().zip(f(f64::from(va), f64::from(vb))) {
            *o += term;
        }
    }
    out
}

/// `y = (x − mean) · inv_std` per plane; returns `y` and `inv_std` (one per plane).
pub(crate) fn instance_norm(x: &[f32], plane: usize, epsilon: f64) -> (Vec<f32>, Vec<f32>) {
    let mut inv_std = Vec::new();
    let fill_y = |y: &mut [MaybeUninit<f32>]| {
        inv_std = y
            .par_chunks_mut(plane)
            .zip(x.par_chunks(plane))
            .map(|(out, src)| {
                let n = src.len() as f64;
                let [sum] = sums(src, src, |v, _| [v]);
                let mean = sum / n;
                let [sum_sq] = sums(src, src, |v, _| {
                    let d = v - mean;
                    [d * d]
                });
                let var = sum_sq / n;
                let inv_std = (1.0 / (var + epsilon).sqrt()) as f32;
                let mean = mean as f32;
                for (o, &v) in out.iter_mut().zip(src) {
                    o.write((v - mean) * inv_std);
                }
                inv_std
            })
            .collect();
    };
    // SAFETY: `fill_y` writes every sample of every plane.
    let y = unsafe { filled_by(x.len(), fill_y) };
    (y, inv_std)
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
                let n = g.len() as f64;
                let [sum_g, sum_gy] = sums(g, y, |gv, yv| [gv, gv * yv]);
                let mean_g = (sum_g / n) as f32;
                let mean_gy = (sum_gy / n) as f32;
                for ((d, &gv), &yv) in dx.iter_mut().zip(g).zip(y) {
                    d.write(inv_std * (gv - mean_g - yv * mean_gy));
                }
            });
    };
    // SAFETY: `fill_dx` writes every sample of every plane.
    unsafe { filled_by(grad.len(), fill_dx) }
}
