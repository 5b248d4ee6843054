//! One entry of a generator's or discriminator's module list.

use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::nn::{LeakyRelu, Relu, Tanh};
use burn::prelude::*;
use enco_kernels::EncoBackend;

use crate::conv_chain::{ChainLayer, PreludeStep, forward_chained};
use crate::downsample::Downsample;
use crate::instance_norm::InstanceNorm2d;
use crate::padding::{ReflectionPad2d, ReplicationPad2d};
use crate::resnet_block::ResnetBlock;
use crate::upsample::Upsample;
use enco_kernels::ops::conv2d_module;

/// One module of an `nn.Sequential` of the official networks.
///
/// The generator and the discriminator keep their modules in a `model: Vec<Layer>`, so that the
/// index of a layer is the index of the official `nn.Sequential` (docs/reference.md §2 and §3): feature taps
/// use the same numbers as the paper and the official code, and parameter paths are the
/// PyTorch state_dict keys (`model.12.conv_block.1.weight`).
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Layer<B: EncoBackend> {
    /// `nn.ReflectionPad2d`.
    ReflectionPad(ReflectionPad2d),
    /// `nn.ReplicationPad2d`.
    ReplicationPad(ReplicationPad2d),
    /// `nn.Conv2d` (weights `[out, in, kh, kw]`).
    Conv(Conv2d<B>),
    /// `nn.ConvTranspose2d` (weights `[in, out, kh, kw]`).
    ConvTranspose(ConvTranspose2d<B>),
    /// `nn.InstanceNorm2d` without affine parameters.
    InstanceNorm(InstanceNorm2d),
    /// `nn.ReLU`.
    Relu(Relu),
    /// `nn.LeakyReLU`, run as one node of the backend extension (`enco_kernels::ops::leaky_relu`).
    LeakyRelu(LeakyRelu),
    /// `nn.Tanh`.
    Tanh(Tanh),
    /// Anti-aliased downsampling (docs/reference.md §1.3).
    Downsample(Downsample),
    /// Anti-aliased ×2 upsampling (docs/reference.md §1.4).
    Upsample(Upsample),
    /// A residual block (docs/reference.md §2).
    ResnetBlock(ResnetBlock<B>),
}

impl<B: EncoBackend> Layer<B> {
    /// Applies the layer.
    ///
    /// # Shapes
    /// - input `[B, C, H, W]`, output `[B, C', H', W']` as the wrapped module gives it: the
    ///   same for norms, activations and residual blocks, `[B, C, H + 2p, W + 2p]` for padding,
    ///   `[B, C, floor((H − 1) / 2) + 1, floor((W − 1) / 2) + 1]` for [`Downsample`],
    ///   `[B, C, 2H, 2W]` for [`Upsample`], and the convolution's output channels and size for
    ///   `Conv` and `ConvTranspose`
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        match self {
            Layer::ReflectionPad(m) => m.forward(x),
            Layer::ReplicationPad(m) => m.forward(x),
            Layer::Conv(m) => conv2d_module(m, x),
            Layer::ConvTranspose(m) => m.forward(x),
            Layer::InstanceNorm(m) => m.forward(x),
            Layer::Relu(m) => m.forward(x),
            Layer::LeakyRelu(m) => enco_kernels::ops::leaky_relu(x, m.negative_slope),
            Layer::Tanh(m) => m.forward(x),
            Layer::Downsample(m) => m.forward(x),
            Layer::Upsample(m) => m.forward(x),
            Layer::ResnetBlock(m) => m.forward(x),
        }
    }
}

impl<B: EncoBackend> ChainLayer<B> for Layer<B> {
    fn prelude_step(&self) -> Option<PreludeStep> {
        match self {
            Layer::Relu(_) => Some(PreludeStep::Relu),
            Layer::Upsample(_) => Some(PreludeStep::Upsample),
            Layer::ReflectionPad(m) => Some(PreludeStep::ReflectPad(m.padding)),
            _ => None,
        }
    }

    fn conv(&self) -> Option<&Conv2d<B>> {
        match self {
            Layer::Conv(m) => Some(m),
            _ => None,
        }
    }

    fn instance_norm_epsilon(&self) -> Option<f64> {
        match self {
            Layer::InstanceNorm(m) => Some(m.epsilon),
            _ => None,
        }
    }

    fn forward_alone(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.forward(x)
    }
}

/// Applies a list of layers in order (each prelude chain as one convolution,
/// [`forward_chained`]).
pub(crate) fn forward_all<B: EncoBackend>(layers: &[Layer<B>], x: Tensor<B, 4>) -> Tensor<B, 4> {
    forward_chained(layers, x, |_| false, |_| {})
}
