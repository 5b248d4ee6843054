//! The residual block of the ResNet generator (docs/reference.md §2).

use burn::nn::Relu;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use enco_kernels::EncoBackend;

use crate::conv_chain::{ChainLayer, PreludeStep, forward_chained};
use crate::init::{WeightInit, conv2d};
use crate::instance_norm::InstanceNorm2d;
use crate::padding::ReflectionPad2d;
use enco_kernels::ops::conv2d_module;

/// One module of a residual block's official `conv_block` list.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum BlockLayer<B: EncoBackend> {
    /// `nn.ReflectionPad2d(1)`.
    ReflectionPad(ReflectionPad2d),
    /// `nn.Conv2d` 3×3 with bias.
    Conv(Conv2d<B>),
    /// `nn.InstanceNorm2d` without affine parameters.
    InstanceNorm(InstanceNorm2d),
    /// `nn.ReLU`.
    Relu(Relu),
}

impl<B: EncoBackend> BlockLayer<B> {
    /// Applies the layer.
    ///
    /// # Shapes
    /// - input `[B, dim, H, W]`; output `[B, dim, H + 2, W + 2]` for the padding (H, W ≥ 2),
    ///   `[B, dim, H − 2, W − 2]` for the unpadded 3×3 convolution, `[B, dim, H, W]` for the
    ///   norm and the ReLU
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        match self {
            BlockLayer::ReflectionPad(m) => m.forward(x),
            BlockLayer::Conv(m) => conv2d_module(m, x),
            BlockLayer::InstanceNorm(m) => m.forward(x),
            BlockLayer::Relu(m) => m.forward(x),
        }
    }
}

impl<B: EncoBackend> ChainLayer<B> for BlockLayer<B> {
    fn prelude_step(&self) -> Option<PreludeStep> {
        match self {
            BlockLayer::Relu(_) => Some(PreludeStep::Relu),
            BlockLayer::ReflectionPad(m) => Some(PreludeStep::ReflectPad(m.padding)),
            _ => None,
        }
    }

    fn conv(&self) -> Option<&Conv2d<B>> {
        match self {
            BlockLayer::Conv(m) => Some(m),
            _ => None,
        }
    }

    fn instance_norm_epsilon(&self) -> Option<f64> {
        match self {
            BlockLayer::InstanceNorm(m) => Some(m.epsilon),
            _ => None,
        }
    }

    fn forward_alone(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.forward(x)
    }
}

/// `ResnetBlock(dim)`: `y = x + body(x)` with body = ReflectPad(1) → Conv 3×3 (bias) → IN →
/// ReLU → ReflectPad(1) → Conv 3×3 (bias) → IN (docs/reference.md §2). The body modules sit at the official
/// indices `conv_block.0..=6`.
#[derive(Module, Debug)]
pub struct ResnetBlock<B: EncoBackend> {
    /// The residual branch, indexed like the official `conv_block`.
    pub conv_block: Vec<BlockLayer<B>>,
}

impl<B: EncoBackend> ResnetBlock<B> {
    /// Builds a block of `dim` channels with the given weight initialisation.
    pub fn new(dim: usize, init: &mut WeightInit, device: &B::Device) -> Self {
        let conv_block = vec![
            BlockLayer::ReflectionPad(ReflectionPad2d::new(1)),
            BlockLayer::Conv(conv2d(dim, dim, 3, 1, 0, true, init, device)),
            BlockLayer::InstanceNorm(InstanceNorm2d::default()),
            BlockLayer::Relu(Relu),
            BlockLayer::ReflectionPad(ReflectionPad2d::new(1)),
            BlockLayer::Conv(conv2d(dim, dim, 3, 1, 0, true, init, device)),
            BlockLayer::InstanceNorm(InstanceNorm2d::default()),
        ];
        Self { conv_block }
    }

    /// # Shapes
    /// - input and output `[B, dim, H, W]` with `H, W ≥ 2`
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let body = forward_chained(&self.conv_block, x.clone(), |_| false, |_| {});
        x + body
    }
}
