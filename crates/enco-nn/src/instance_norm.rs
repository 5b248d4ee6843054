//! Instance normalisation without affine parameters (docs/reference.md §1.2).

use burn::prelude::*;
use enco_kernels::{EncoBackend, ops};

/// `nn.InstanceNorm2d(affine=False, track_running_stats=False)`: per sample and channel,
/// `y = (x − mean) / sqrt(var_biased + eps)` over H×W (docs/reference.md §1.2). It has no parameters and
/// behaves the same in training and inference. It runs as one operation of the backend
/// ([`EncoBackend::instance_norm`]).
#[derive(Module, Clone, Debug)]
pub struct InstanceNorm2d {
    /// Added to the variance, 1e-5 in the official code.
    pub epsilon: f64,
}

impl Default for InstanceNorm2d {
    fn default() -> Self {
        Self { epsilon: 1e-5 }
    }
}

impl InstanceNorm2d {
    /// # Shapes
    /// - input and output `[B, C, H, W]`
    pub fn forward<B: EncoBackend>(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        ops::instance_norm(x, self.epsilon)
    }
}
