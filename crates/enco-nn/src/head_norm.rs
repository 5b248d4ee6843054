//! The normalisation layers of the projection and prediction heads (docs/reference.md §1.8).

use burn::module::Param;
use burn::prelude::*;
use enco_kernels::ops::reciprocal;

/// Which normalisation the heads use (`--prj_norm`, docs/reference.md §1.8 and §14.1).
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum HeadNorm {
    /// `BatchNorm1d` in training mode: statistics over the rows of each call (code default).
    BatchNorm,
    /// `LayerNorm` over the features of each row (the paper's choice).
    LayerNorm,
    /// No normalisation (paper Table 3 row B).
    None,
}

/// `nn.BatchNorm1d` as the heads use it: always in training mode, so every call standardises
/// its `[N, C]` input with its own row statistics (biased variance, eps 1e-5), then applies
/// `weight`/`bias` when affine. Running statistics are never consumed by the official
/// computation and are not kept (docs/reference.md §1.8).
#[derive(Module, Debug)]
pub struct BatchNorm1d<B: Backend> {
    /// γ, `None` without affine.
    pub weight: Option<Param<Tensor<B, 1>>>,
    /// β, `None` without affine.
    pub bias: Option<Param<Tensor<B, 1>>>,
    /// Added to the variance.
    pub epsilon: f64,
}

impl<B: Backend> BatchNorm1d<B> {
    /// A batch norm over `features` columns, with γ = 1, β = 0 when `affine`.
    pub fn new(features: usize, affine: bool, device: &B::Device) -> Self {
        Self {
            weight: affine.then(|| Param::from_tensor(Tensor::ones([features], device))),
            bias: affine.then(|| Param::from_tensor(Tensor::zeros([features], device))),
            epsilon: 1e-5,
        }
    }

    /// # Shapes
    /// - input and output `[N, features]`
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let (var, mean) = x.clone().var_mean_bias(0);
        let y = (x - mean) * reciprocal((var + self.epsilon).sqrt());
        affine(y, &self.weight, &self.bias)
    }
}

/// `nn.LayerNorm(features)` with affine parameters: per row, biased variance, eps 1e-5.
#[derive(Module, Debug)]
pub struct LayerNorm<B: Backend> {
    /// γ.
    pub weight: Option<Param<Tensor<B, 1>>>,
    /// β.
    pub bias: Option<Param<Tensor<B, 1>>>,
    /// Added to the variance.
    pub epsilon: f64,
}

impl<B: Backend> LayerNorm<B> {
    /// A layer norm over `features` columns, γ = 1, β = 0.
    pub fn new(features: usize, device: &B::Device) -> Self {
        Self {
            weight: Some(Param::from_tensor(Tensor::ones([features], device))),
            bias: Some(Param::from_tensor(Tensor::zeros([features], device))),
            epsilon: 1e-5,
        }
    }

    /// # Shapes
    /// - input and output `[N, features]`
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let (var, mean) = x.clone().var_mean_bias(1);
        let y = (x - mean) * reciprocal((var + self.epsilon).sqrt());
        affine(y, &self.weight, &self.bias)
    }
}

fn affine<B: Backend>(
    y: Tensor<B, 2>,
    weight: &Option<Param<Tensor<B, 1>>>,
    bias: &Option<Param<Tensor<B, 1>>>,
) -> Tensor<B, 2> {
    let y = match weight {
        Some(w) => y * w.val().unsqueeze_dim(0),
        None => y,
    };
    match bias {
        Some(b) => y + b.val().unsqueeze_dim(0),
        None => y,
    }
}

/// L2 normalisation of each row as the official `Normalize(2)`: `x / (‖x‖₂ + 1e-7)`, the epsilon
/// added to the norm (docs/reference.md §1.6).
///
/// The squared norm is clamped at 1e-30 before the square root. The forward value only changes
/// for rows with ‖x‖ < 1e-15, where the 1e-7 dominates anyway; the gradient of an all-zero row
/// (dead ReLU features, possible with narrow networks) stays finite, where the official
/// `pow(1/2)` gives NaN and poisons the heads.
///
/// # Shapes
/// - input and output `[N, D]`
pub fn l2_normalize<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).clamp_min(1e-30).sqrt();
    x * reciprocal(norm + 1e-7)
}
