//! The official weight initialisation (docs/reference.md §4.2), reproducible from a seed.

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::TensorData;
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// Draws initial weights: Xavier-normal with `std = gain·sqrt(2 / (fan_in + fan_out))` (conv fans
/// include kh·kw) for every conv and linear weight, zero for every bias (docs/reference.md §4.2; the official
/// `init_type=xavier`, `init_gain=0.02`).
///
/// Weights are drawn on the host from a seeded [`ChaCha8Rng`] in construction order, then uploaded,
/// so the same seed gives the same parameters on every backend. Parameters are created eagerly
/// (not lazily), so the draw order never depends on which parameter is used first.
#[derive(Debug)]
pub struct WeightInit {
    rng: ChaCha8Rng,
    gain: f64,
}

impl Clone for WeightInit {
    /// A copy that draws the same values next (the generator is copied at its position).
    fn clone(&self) -> Self {
        Self {
            rng: ChaCha8Rng::deserialize_state(&self.rng.serialize_state()),
            gain: self.gain,
        }
    }
}

impl WeightInit {
    /// The official gain, 0.02.
    pub const OFFICIAL_GAIN: f64 = 0.02;

    /// Xavier-normal with the official gain 0.02, drawing from `seed`.
    pub fn official(seed: u64) -> Self {
        Self::xavier_normal(seed, Self::OFFICIAL_GAIN)
    }

    /// Xavier-normal with a custom gain, drawing from `seed`.
    pub fn xavier_normal(seed: u64, gain: f64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            gain,
        }
    }

    /// Draws a weight tensor of `shape` with the given fans.
    ///
    /// # Panics
    /// If `fan_in + fan_out` is 0 (no finite standard deviation).
    pub fn weight<B: Backend, const D: usize>(
        &mut self,
        shape: [usize; D],
        fan_in: usize,
        fan_out: usize,
        device: &B::Device,
    ) -> Tensor<B, D> {
        let std = self.gain * (2.0 / (fan_in + fan_out) as f64).sqrt();
        // A finite std ≥ 0 is a valid normal distribution; fans of 0 (a layer of width 0) are
        // refused by the network configurations' `validate` before any weight is drawn.
        let normal = Normal::new(0.0f64, std).expect("finite std");
        let n: usize = shape.iter().product();
        let values: Vec<f32> = (0..n)
            .map(|_| normal.sample(&mut self.rng) as f32)
            .collect();
        Tensor::from_data(TensorData::new(values, shape), device)
    }
}

/// A `nn.Conv2d` with square kernel, zero padding `padding`, initialised by `init`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv2d<B: Backend>(
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    bias: bool,
    init: &mut WeightInit,
    device: &B::Device,
) -> Conv2d<B> {
    let mut conv = Conv2dConfig::new([in_channels, out_channels], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(
            padding, padding, padding, padding,
        ))
        .with_bias(bias)
        .init(device);
    let fan = kernel * kernel;
    conv.weight = Param::from_tensor(init.weight(
        [out_channels, in_channels, kernel, kernel],
        in_channels * fan,
        out_channels * fan,
        device,
    ));
    conv.bias = bias.then(|| Param::from_tensor(Tensor::zeros([out_channels], device)));
    conv
}

/// A `nn.ConvTranspose2d` (square kernel) initialised by `init`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_transpose2d<B: Backend>(
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    output_padding: usize,
    bias: bool,
    init: &mut WeightInit,
    device: &B::Device,
) -> ConvTranspose2d<B> {
    let mut conv = ConvTranspose2dConfig::new([in_channels, out_channels], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding([padding, padding])
        .with_padding_out([output_padding, output_padding])
        .with_bias(bias)
        .init(device);
    let fan = kernel * kernel;
    conv.weight = Param::from_tensor(init.weight(
        [in_channels, out_channels, kernel, kernel],
        out_channels * fan,
        in_channels * fan,
        device,
    ));
    conv.bias = bias.then(|| Param::from_tensor(Tensor::zeros([out_channels], device)));
    conv
}

/// A `nn.Linear` initialised by `init` (Burn layout: weight `[in, out]`).
pub(crate) fn linear<B: Backend>(
    d_input: usize,
    d_output: usize,
    bias: bool,
    init: &mut WeightInit,
    device: &B::Device,
) -> Linear<B> {
    let mut linear = LinearConfig::new(d_input, d_output)
        .with_bias(bias)
        .init(device);
    linear.weight = Param::from_tensor(init.weight([d_input, d_output], d_input, d_output, device));
    linear.bias = bias.then(|| Param::from_tensor(Tensor::zeros([d_output], device)));
    linear
}
