//! The FID Inception of pytorch-fid 0.3.0 up to the pool3 features.
//!
//! This is `pytorch_fid.inception.InceptionV3([3], resize_input=True, normalize_input=True,
//! use_fid_inception=True)`: torchvision's `Inception3` with the TensorFlow-compatible blocks
//! `FIDInceptionA` / `FIDInceptionC` (average pooling with `count_include_pad=False`),
//! `FIDInceptionE_1` (same) and `FIDInceptionE_2` (max pooling in the pool branch), ending with
//! a global average pool to `[N, 2048]`.
//!
//! # Parameter names
//!
//! The module tree mirrors the PyTorch state_dict, with the two CamelCase prefixes of the
//! `.pth` file lower-cased: `Conv2d_1a_3x3.conv.weight` is `conv2d_1a_3x3.conv.weight`,
//! `Mixed_5b.branch1x1.bn.running_mean` is `mixed_5b.branch1x1.bn.running_mean`. Loading
//! remaps `^Conv2d_` → `conv2d_` and `^Mixed_` → `mixed_`; BatchNorm `weight` / `bias` become
//! Burn's `gamma` / `beta` (burn-store's `PyTorchToBurnAdapter`), `running_mean` /
//! `running_var` keep their names and are loaded. `fc.*` (the 1008-way classifier, unused for
//! pool3) and `*.num_batches_tracked` are ignored; any other extra or missing tensor is an
//! error.

use std::collections::HashSet;
use std::path::Path;

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::TensorData;
use burn::tensor::module::adaptive_avg_pool2d;
use burn_store::{
    ApplyError, ApplyResult, KeyRemapper, ModuleSnapshot, ModuleStore, PyTorchToBurnAdapter,
    PytorchStore, SafetensorsStore,
};
use enco_kernels::EncoBackend;
use enco_kernels::ops::{avg_pool2d, conv2d_module, max_pool2d, reciprocal, scale_shift_relu};

mod blocks;
mod weights;

use blocks::max_pool_3x3_s2;
pub use blocks::{BasicConv2d, InceptionA, InceptionB, InceptionC, InceptionD, InceptionE};

use super::error::FidError;
use super::preprocess::{normalize, resize_bilinear};

/// Dimension of the pool3 features (`--dims 2048`, pytorch-fid's default).
pub const FID_DIMS: usize = 2048;

/// Side of the square the images are resized to before entering the network.
pub const FID_INPUT_SIZE: usize = 299;

/// Smallest input side the network accepts without resizing.
const MIN_SIDE: usize = 75;

/// Epsilon of every BatchNorm of the FID Inception (`BasicConv2d` uses `eps=0.001`).
const BN_EPS: f64 = 1e-3;

/// Configuration of [`FidInception`]: pytorch-fid's `InceptionV3([3])` flags.
#[derive(Config, Debug)]
pub struct FidInceptionConfig {
    /// Bilinearly resize the input to 299×299 (`align_corners=False`) first
    /// (`resize_input`, true in pytorch-fid's FID computation).
    #[config(default = true)]
    pub resize_input: bool,
    /// Map the input from [0, 1] to [−1, 1] with `2x − 1` (`normalize_input`, true in
    /// pytorch-fid's FID computation).
    #[config(default = true)]
    pub normalize_input: bool,
}
/// The FID Inception (pytorch-fid 0.3.0, `InceptionV3([3], use_fid_inception=True)`) up to
/// the 2048-d pool3 features. Build it with [`FidInceptionConfig::init`] and load weights, or
/// directly with [`FidInception::load_pth`] / [`FidInception::load_safetensors`].
#[derive(Module, Debug)]
pub struct FidInception<B: Backend> {
    /// `Conv2d_1a_3x3`: 3 → 32, 3×3 stride 2.
    pub conv2d_1a_3x3: BasicConv2d<B>,
    /// `Conv2d_2a_3x3`: 32 → 32, 3×3.
    pub conv2d_2a_3x3: BasicConv2d<B>,
    /// `Conv2d_2b_3x3`: 32 → 64, 3×3 padding 1.
    pub conv2d_2b_3x3: BasicConv2d<B>,
    /// `Conv2d_3b_1x1`: 64 → 80, 1×1.
    pub conv2d_3b_1x1: BasicConv2d<B>,
    /// `Conv2d_4a_3x3`: 80 → 192, 3×3.
    pub conv2d_4a_3x3: BasicConv2d<B>,
    /// `Mixed_5b`: FIDInceptionA(192, 32).
    pub mixed_5b: InceptionA<B>,
    /// `Mixed_5c`: FIDInceptionA(256, 64).
    pub mixed_5c: InceptionA<B>,
    /// `Mixed_5d`: FIDInceptionA(288, 64).
    pub mixed_5d: InceptionA<B>,
    /// `Mixed_6a`: InceptionB(288).
    pub mixed_6a: InceptionB<B>,
    /// `Mixed_6b`: FIDInceptionC(768, 128).
    pub mixed_6b: InceptionC<B>,
    /// `Mixed_6c`: FIDInceptionC(768, 160).
    pub mixed_6c: InceptionC<B>,
    /// `Mixed_6d`: FIDInceptionC(768, 160).
    pub mixed_6d: InceptionC<B>,
    /// `Mixed_6e`: FIDInceptionC(768, 192).
    pub mixed_6e: InceptionC<B>,
    /// `Mixed_7a`: InceptionD(768).
    pub mixed_7a: InceptionD<B>,
    /// `Mixed_7b`: FIDInceptionE_1(1280).
    pub mixed_7b: InceptionE<B>,
    /// `Mixed_7c`: FIDInceptionE_2(2048).
    pub mixed_7c: InceptionE<B>,
    /// Resize the input to 299×299 first.
    pub resize_input: bool,
    /// Map the input from [0, 1] to [−1, 1] first.
    pub normalize_input: bool,
}

/// The host part of [`FidInception::preprocess`]: the resize to 299×299 and the map to
/// [−1, 1], each if enabled.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HostPreprocessing {
    resize_input: bool,
    normalize_input: bool,
}

impl HostPreprocessing {
    /// Preprocesses host values `[N, 3, H, W]`, row-major.
    pub(crate) fn apply(
        self,
        values: Vec<f32>,
        shape: [usize; 4],
    ) -> Result<(Vec<f32>, [usize; 4]), FidError> {
        let [n, c, h, w] = shape;
        if c != 3 || n == 0 || h == 0 || w == 0 {
            return Err(FidError::Shape(format!(
                "the FID Inception takes [N ≥ 1, 3, H ≥ 1, W ≥ 1] images, got {shape:?}"
            )));
        }
        if values.len() != n * c * h * w {
            return Err(FidError::Shape(format!(
                "{} values for images of shape {shape:?}",
                values.len()
            )));
        }
        let (mut values, shape) = if self.resize_input {
            let size = [FID_INPUT_SIZE, FID_INPUT_SIZE];
            (
                resize_bilinear(&values, shape, size),
                [n, c, FID_INPUT_SIZE, FID_INPUT_SIZE],
            )
        } else if h < MIN_SIDE || w < MIN_SIDE {
            return Err(FidError::Shape(format!(
                "without resizing the FID Inception needs inputs of at least \
                 {MIN_SIDE}×{MIN_SIDE}, got {w}×{h}"
            )));
        } else {
            (values, shape)
        };
        if self.normalize_input {
            normalize(&mut values);
        }
        Ok((values, shape))
    }
}

impl FidInceptionConfig {
    /// Builds the network with Burn's default (random) initialisation and default BatchNorm
    /// statistics; load the FID weights before use (see [`FidInception::load_weights_pth`]).
    pub fn init<B: EncoBackend>(&self, device: &B::Device) -> FidInception<B> {
        let d = device;
        FidInception {
            conv2d_1a_3x3: BasicConv2d::square(3, 32, 3, 2, 0, d),
            conv2d_2a_3x3: BasicConv2d::square(32, 32, 3, 1, 0, d),
            conv2d_2b_3x3: BasicConv2d::square(32, 64, 3, 1, 1, d),
            conv2d_3b_1x1: BasicConv2d::square(64, 80, 1, 1, 0, d),
            conv2d_4a_3x3: BasicConv2d::square(80, 192, 3, 1, 0, d),
            mixed_5b: InceptionA::new(192, 32, d),
            mixed_5c: InceptionA::new(256, 64, d),
            mixed_5d: InceptionA::new(288, 64, d),
            mixed_6a: InceptionB::new(288, d),
            mixed_6b: InceptionC::new(768, 128, d),
            mixed_6c: InceptionC::new(768, 160, d),
            mixed_6d: InceptionC::new(768, 160, d),
            mixed_6e: InceptionC::new(768, 192, d),
            mixed_7a: InceptionD::new(768, d),
            mixed_7b: InceptionE::new(1280, false, d),
            mixed_7c: InceptionE::new(2048, true, d),
            resize_input: self.resize_input,
            normalize_input: self.normalize_input,
        }
    }
}

impl<B: EncoBackend> FidInception<B> {
    /// The tensor entering `Conv2d_1a_3x3`: `images` (`[N, 3, H, W]` in [0, 1]) resized to
    /// 299×299 with bilinear interpolation (`align_corners=False`, no antialiasing, as
    /// `F.interpolate` in pytorch-fid) and mapped to [−1, 1] with `2x − 1` (each step only if
    /// enabled in the configuration).
    ///
    /// This runs on the host (the images are read back from the device and the result is
    /// uploaded again), so that it reproduces PyTorch's CPU kernel bit for bit on every
    /// backend; Burn's `interpolate` (Flex) computes the source coordinates in f64 and
    /// differs from PyTorch by up to 3e-5 on the fixture images.
    pub fn preprocess(&self, images: Tensor<B, 4>) -> Result<Tensor<B, 4>, FidError> {
        let shape = images.dims();
        let device = images.device();
        let values = images.into_data().convert::<f32>().into_vec::<f32>()?;
        let (values, shape) = self.host_preprocessing().apply(values, shape)?;
        Ok(Tensor::from_data(TensorData::new(values, shape), &device))
    }

    /// The configuration's preprocessing, as a value another thread can run.
    pub(crate) fn host_preprocessing(&self) -> HostPreprocessing {
        HostPreprocessing {
            resize_input: self.resize_input,
            normalize_input: self.normalize_input,
        }
    }

    /// The pool3 features `[N, 2048]` of images `[N, 3, H, W]` with values in [0, 1] (what
    /// pytorch-fid's `InceptionV3([3])` returns, squeezed).
    pub fn forward_features(&self, images: Tensor<B, 4>) -> Result<Tensor<B, 2>, FidError> {
        let x = self.preprocess(images)?;
        Ok(self.forward(x))
    }

    /// The network proper on an already preprocessed input (`[N, 3, ≥75, ≥75]`, normally
    /// the 299×299 output of [`preprocess`](Self::preprocess)): blocks 0 to 3 and the global
    /// average pool, `[N, 2048]`.
    ///
    /// # Panics
    ///
    /// On inputs that are not `[N, 3, H, W]` with `H, W ≥ 75` (Burn's convolutions panic);
    /// [`forward_features`](Self::forward_features) checks its input and returns an error
    /// instead.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        // Block 0.
        let x = self.conv2d_1a_3x3.forward(x);
        let x = self.conv2d_2a_3x3.forward(x);
        let x = self.conv2d_2b_3x3.forward(x);
        let x = max_pool_3x3_s2(x);
        // Block 1.
        let x = self.conv2d_3b_1x1.forward(x);
        let x = self.conv2d_4a_3x3.forward(x);
        let x = max_pool_3x3_s2(x);
        // Block 2.
        let x = self.mixed_5b.forward(x);
        let x = self.mixed_5c.forward(x);
        let x = self.mixed_5d.forward(x);
        let x = self.mixed_6a.forward(x);
        let x = self.mixed_6b.forward(x);
        let x = self.mixed_6c.forward(x);
        let x = self.mixed_6d.forward(x);
        let x = self.mixed_6e.forward(x);
        // Block 3.
        let x = self.mixed_7a.forward(x);
        let x = self.mixed_7b.forward(x);
        let x = self.mixed_7c.forward(x);
        let x = adaptive_avg_pool2d(x, [1, 1]);
        let n = x.dims()[0];
        x.reshape([n, FID_DIMS])
    }
}
