//! Anti-aliased downsampling ("BlurPool"), spec §1.3.

use burn::prelude::*;
use burn::tensor::TensorData;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;

use crate::padding::ReflectionPad2d;

/// The official `Downsample`: reflect padding of 1, then a depthwise 3×3 blur
/// `[1,2,1]ᵀ[1,2,1] / 16` with stride 2 (spec §1.3). Output size `floor((N − 1) / 2) + 1`.
///
/// The filter is a constant (PyTorch's non-trainable `filt` buffer); it is rebuilt from the
/// channel count of the input, so the module has no state.
#[derive(Module, Clone, Debug, Default)]
pub struct Downsample;

impl Downsample {
    /// The 3×3 blur taps, row-major, summing to 1.
    pub const FILTER: [f32; 9] = [
        1.0 / 16.0,
        2.0 / 16.0,
        1.0 / 16.0,
        2.0 / 16.0,
        4.0 / 16.0,
        2.0 / 16.0,
        1.0 / 16.0,
        2.0 / 16.0,
        1.0 / 16.0,
    ];

    /// # Shapes
    /// - input `[B, C, H, W]` with `H, W ≥ 2`
    /// - output `[B, C, floor((H − 1) / 2) + 1, floor((W − 1) / 2) + 1]`
    pub fn forward<B: Backend>(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let channels = x.dims()[1];
        let device = x.device();
        let taps: Vec<f32> = (0..channels).flat_map(|_| Self::FILTER).collect();
        let filter = Tensor::<B, 4>::from_data(TensorData::new(taps, [channels, 1, 3, 3]), &device);
        let x = ReflectionPad2d::new(1).forward(x);
        conv2d(
            x,
            filter,
            None,
            ConvOptions::new([2, 2], [0, 0], [1, 1], channels),
        )
    }
}
