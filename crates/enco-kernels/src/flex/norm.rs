//! Instance normalisation without affine parameters, one `[H, W]` plane per task, statistics
//! accumulated in f64.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::conv::filled_by;

/// `y = (x − mean) · inv_std` per plane; returns `y` and `inv_std` (one per plane).
pub(crate) fn instance_norm(x: &[f32], plane: usize, epsilon: f64) -> (Vec<f32>, Vec<f32>) {
    let mut inv_std = Vec::new();
    let fill_y = |y: &mut [MaybeUninit<f32>]| {
        inv_std = y
            .par_chunks_mut(plane)
            .zip(x.par_chunks(plane))
            .map(|(out, src)| {
                let n = src.len() as f64;
                let mean = src.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
                let var = src
                    .iter()
                    .map(|&v| {
                        let d = f64::from(v) - mean;
                        d * d
                    })
                    .sum::<f64>()
                    / n;
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
                let mut sum_g = 0f64;
                let mut sum_gy = 0f64;
                for (&gv, &yv) in g.iter().zip(y) {
                    sum_g += f64::from(gv);
                    sum_gy += f64::from(gv) * f64::from(yv);
                }
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
