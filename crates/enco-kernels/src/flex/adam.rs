//! The Adam update of a parameter tensor in one pass over its parameter, gradient and moments
//! ([`AdamStep`]), in place.

use rayon::prelude::*;

use super::conv::BalancedTasks;
use crate::AdamStep;

/// Elements per parallel chunk: large enough to amortise a rayon task, small enough to split the
/// larger parameter tensors over both cores.
const CHUNK: usize = 1 << 16;

/// Updates `param`, `m` and `v` in place from `grad`, with the operations (and roundings) of
/// [`crate::generic::adam_step`]: `m·β₁ + g·(1 − β₁)`, `v·β₂ + g²·(1 − β₂)`, then
/// `θ − (m·c / (√v + ε'))·lr`. Zero moments give the first step's `g·(1 − β₁)` and
/// `g²·(1 − β₂)` exactly.
pub(super) fn adam_step(
    param: &mut [f32],
    grad: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    step: &AdamStep,
) {
    let (combined, epsilon) = step.bias_corrections();
    let (beta_1, beta_2) = (step.beta_1, step.beta_2);
    let (keep_1, keep_2) = (1.0 - beta_1, 1.0 - beta_2);
    let lr = step.learning_rate as f32;
    param
        .par_chunks_mut(CHUNK)
        .zip(grad.par_chunks(CHUNK))
        .zip(m.par_chunks_mut(CHUNK))
        .zip(v.par_chunks_mut(CHUNK))
        .balanced()
        .for_each(|(((param, grad), m), v)| {
            for (((p, &g), m), v) in param.iter_mut().zip(grad).zip(m).zip(v) {
                *m = *m * beta_1 + g * keep_1;
                *v = *v * beta_2 + g * g * keep_2;
                let delta = *m * combined / (v.sqrt() + epsilon);
                *p -= delta * lr;
            }
        });
}
