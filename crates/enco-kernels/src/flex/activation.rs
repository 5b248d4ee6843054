//! The LeakyReLU adjoint in one parallel pass.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::conv::filled_by;

/// Elements per parallel chunk.
const CHUNK: usize = 1 << 15;

/// `g` where `y > 0`, `negative_slope · g` elsewhere.
pub(super) fn leaky_relu_backward(output: &[f32], grad: &[f32], negative_slope: f32) -> Vec<f32> {
    assert_eq!(output.len(), grad.len(), "output and gradient sizes differ");
    let fill = |dx: &mut [MaybeUninit<f32>]| {
        dx.par_chunks_mut(CHUNK)
            .zip(output.par_chunks(CHUNK).zip(grad.par_chunks(CHUNK)))
            .for_each(|(dx, (y, g))| {
                for ((d, &y), &g) in dx.iter_mut().zip(y).zip(g) {
                    d.write(if y > 0.0 { g } else { negative_slope * g });
                }
            });
    };
    // SAFETY: the chunks of `dx` match those of `output` and `grad` (same lengths), and every
    // element of each is written.
    unsafe { filled_by(grad.len(), fill) }
}
