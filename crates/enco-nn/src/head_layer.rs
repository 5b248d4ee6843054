//! One entry of a head's module list.

use burn::nn::{Linear, Relu};
use burn::prelude::*;

use crate::head_norm::{BatchNorm1d, HeadNorm, LayerNorm};

/// One module of a head's official `nn.Sequential` (indices as in `mlp_i.<j>` / `prj_i.<j>`).
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum HeadLayer<B: Backend> {
    /// `nn.Linear` (Burn layout: weight `[in, out]`).
    Linear(Linear<B>),
    /// Training-mode `nn.BatchNorm1d`.
    BatchNorm(BatchNorm1d<B>),
    /// `nn.LayerNorm`.
    LayerNorm(LayerNorm<B>),
    /// `nn.ReLU`.
    Relu(Relu),
    /// No normalisation (`--prj_norm None`); holds the column count only.
    Identity(usize),
}

impl<B: Backend> HeadLayer<B> {
    /// The normalisation layer of kind `norm` over `features` columns.
    pub fn norm(norm: HeadNorm, features: usize, affine: bool, device: &B::Device) -> Self {
        match norm {
            HeadNorm::BatchNorm => HeadLayer::BatchNorm(BatchNorm1d::new(features, affine, device)),
            HeadNorm::LayerNorm => HeadLayer::LayerNorm(LayerNorm::new(features, device)),
            HeadNorm::None => HeadLayer::Identity(features),
        }
    }

    /// Applies the layer to `[N, features]` rows.
    ///
    /// # Shapes
    /// - input `[N, C_in]`, output `[N, C_out]`: `C_out` is a `Linear`'s output width, `C_in`
    ///   for the other layers
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        match self {
            HeadLayer::Linear(m) => m.forward(x),
            HeadLayer::BatchNorm(m) => m.forward(x),
            HeadLayer::LayerNorm(m) => m.forward(x),
            HeadLayer::Relu(m) => m.forward(x),
            HeadLayer::Identity(_) => x,
        }
    }
}

pub(crate) fn forward_all<B: Backend>(layers: &[HeadLayer<B>], x: Tensor<B, 2>) -> Tensor<B, 2> {
    layers.iter().fold(x, |x, layer| layer.forward(x))
}
