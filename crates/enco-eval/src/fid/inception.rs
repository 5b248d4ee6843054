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
use burn::tensor::activation::relu;
use burn::tensor::module::{adaptive_avg_pool2d, avg_pool2d, max_pool2d};
use burn_store::{
    ApplyError, ApplyResult, KeyRemapper, ModuleSnapshot, PyTorchToBurnAdapter, PytorchStore,
    SafetensorsStore,
};
use enco_kernels::ops::reciprocal;

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

/// `BasicConv2d`: convolution without bias, BatchNorm (eps 1e-3, always in eval mode with the
/// running statistics) and ReLU.
#[derive(Module, Debug)]
pub struct BasicConv2d<B: Backend> {
    /// The convolution (no bias).
    pub conv: Conv2d<B>,
    /// The BatchNorm; only its running statistics are used (eval mode).
    pub bn: BatchNorm<B>,
}

impl<B: Backend> BasicConv2d<B> {
    fn new(
        channels: [usize; 2],
        kernel: [usize; 2],
        stride: usize,
        padding: [usize; 2],
        device: &B::Device,
    ) -> Self {
        let [ph, pw] = padding;
        let conv = Conv2dConfig::new(channels, kernel)
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(ph, pw, ph, pw))
            .with_bias(false)
            .init(device);
        let bn = BatchNormConfig::new(channels[1])
            .with_epsilon(BN_EPS)
            .init(device);
        Self { conv, bn }
    }

    fn square(
        c_in: usize,
        c_out: usize,
        k: usize,
        stride: usize,
        pad: usize,
        d: &B::Device,
    ) -> Self {
        Self::new([c_in, c_out], [k, k], stride, [pad, pad], d)
    }

    /// Convolution, eval-mode BatchNorm, ReLU.
    ///
    /// The BatchNorm is evaluated as PyTorch's CPU kernel does it, whatever the backend's
    /// autodiff state: `α = γ / √(var + eps)`, `β' = β − mean·α`, `y = x·α + β'`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let x = self.conv.forward(x);
        let c = x.dims()[1];
        let invstd = reciprocal(
            self.bn
                .running_var
                .value()
                .add_scalar(self.bn.epsilon)
                .sqrt(),
        );
        let alpha = invstd.mul(self.bn.gamma.val());
        let beta = self
            .bn
            .beta
            .val()
            .sub(self.bn.running_mean.value().mul(alpha.clone()));
        let x = x.mul(alpha.reshape([1, c, 1, 1])) + beta.reshape([1, c, 1, 1]);
        relu(x)
    }
}

/// `F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)`, the FID variant.
fn avg_pool_3x3_same<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    avg_pool2d(x, [3, 3], [1, 1], [1, 1], false, false)
}

/// `F.max_pool2d(x, 3, stride=2)`.
fn max_pool_3x3_s2<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    max_pool2d(x, [3, 3], [2, 2], [0, 0], [1, 1], false)
}

/// `FIDInceptionA` (`Mixed_5b`, `Mixed_5c`, `Mixed_5d`): branches 1×1, 5×5, double 3×3 and
/// avg-pool (`count_include_pad=False`) + 1×1, concatenated in that order.
#[derive(Module, Debug)]
pub struct InceptionA<B: Backend> {
    /// 1×1 → 64.
    pub branch1x1: BasicConv2d<B>,
    /// 1×1 → 48.
    pub branch5x5_1: BasicConv2d<B>,
    /// 5×5 (padding 2) → 64.
    pub branch5x5_2: BasicConv2d<B>,
    /// 1×1 → 64.
    pub branch3x3dbl_1: BasicConv2d<B>,
    /// 3×3 (padding 1) → 96.
    pub branch3x3dbl_2: BasicConv2d<B>,
    /// 3×3 (padding 1) → 96.
    pub branch3x3dbl_3: BasicConv2d<B>,
    /// 1×1 after the average pool → `pool_features`.
    pub branch_pool: BasicConv2d<B>,
}

impl<B: Backend> InceptionA<B> {
    fn new(c_in: usize, pool_features: usize, d: &B::Device) -> Self {
        Self {
            branch1x1: BasicConv2d::square(c_in, 64, 1, 1, 0, d),
            branch5x5_1: BasicConv2d::square(c_in, 48, 1, 1, 0, d),
            branch5x5_2: BasicConv2d::square(48, 64, 5, 1, 2, d),
            branch3x3dbl_1: BasicConv2d::square(c_in, 64, 1, 1, 0, d),
            branch3x3dbl_2: BasicConv2d::square(64, 96, 3, 1, 1, d),
            branch3x3dbl_3: BasicConv2d::square(96, 96, 3, 1, 1, d),
            branch_pool: BasicConv2d::square(c_in, pool_features, 1, 1, 0, d),
        }
    }

    /// Runs the block.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let b1 = self.branch1x1.forward(x.clone());
        let b5 = self
            .branch5x5_2
            .forward(self.branch5x5_1.forward(x.clone()));
        let b3 = self.branch3x3dbl_3.forward(
            self.branch3x3dbl_2
                .forward(self.branch3x3dbl_1.forward(x.clone())),
        );
        let bp = self.branch_pool.forward(avg_pool_3x3_same(x));
        Tensor::cat(vec![b1, b5, b3, bp], 1)
    }
}

/// `InceptionB` (`Mixed_6a`): stride-2 3×3, stride-2 double 3×3 and a 3×3/2 max pool.
#[derive(Module, Debug)]
pub struct InceptionB<B: Backend> {
    /// 3×3 stride 2 → 384.
    pub branch3x3: BasicConv2d<B>,
    /// 1×1 → 64.
    pub branch3x3dbl_1: BasicConv2d<B>,
    /// 3×3 (padding 1) → 96.
    pub branch3x3dbl_2: BasicConv2d<B>,
    /// 3×3 stride 2 → 96.
    pub branch3x3dbl_3: BasicConv2d<B>,
}

impl<B: Backend> InceptionB<B> {
    fn new(c_in: usize, d: &B::Device) -> Self {
        Self {
            branch3x3: BasicConv2d::square(c_in, 384, 3, 2, 0, d),
            branch3x3dbl_1: BasicConv2d::square(c_in, 64, 1, 1, 0, d),
            branch3x3dbl_2: BasicConv2d::square(64, 96, 3, 1, 1, d),
            branch3x3dbl_3: BasicConv2d::square(96, 96, 3, 2, 0, d),
        }
    }

    /// Runs the block.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let b3 = self.branch3x3.forward(x.clone());
        let bd = self.branch3x3dbl_3.forward(
            self.branch3x3dbl_2
                .forward(self.branch3x3dbl_1.forward(x.clone())),
        );
        let bp = max_pool_3x3_s2(x);
        Tensor::cat(vec![b3, bd, bp], 1)
    }
}

/// `FIDInceptionC` (`Mixed_6b` … `Mixed_6e`): factorised 7×7 branches (1×7 with padding
/// (0, 3), 7×1 with padding (3, 0)) and avg-pool (`count_include_pad=False`) + 1×1.
#[derive(Module, Debug)]
pub struct InceptionC<B: Backend> {
    /// 1×1 → 192.
    pub branch1x1: BasicConv2d<B>,
    /// 1×1 → c7.
    pub branch7x7_1: BasicConv2d<B>,
    /// 1×7 → c7.
    pub branch7x7_2: BasicConv2d<B>,
    /// 7×1 → 192.
    pub branch7x7_3: BasicConv2d<B>,
    /// 1×1 → c7.
    pub branch7x7dbl_1: BasicConv2d<B>,
    /// 7×1 → c7.
    pub branch7x7dbl_2: BasicConv2d<B>,
    /// 1×7 → c7.
    pub branch7x7dbl_3: BasicConv2d<B>,
    /// 7×1 → c7.
    pub branch7x7dbl_4: BasicConv2d<B>,
    /// 1×7 → 192.
    pub branch7x7dbl_5: BasicConv2d<B>,
    /// 1×1 after the average pool → 192.
    pub branch_pool: BasicConv2d<B>,
}

impl<B: Backend> InceptionC<B> {
    fn new(c_in: usize, c7: usize, d: &B::Device) -> Self {
        let row = |a, b| BasicConv2d::new([a, b], [1, 7], 1, [0, 3], d);
        let col = |a, b| BasicConv2d::new([a, b], [7, 1], 1, [3, 0], d);
        Self {
            branch1x1: BasicConv2d::square(c_in, 192, 1, 1, 0, d),
            branch7x7_1: BasicConv2d::square(c_in, c7, 1, 1, 0, d),
            branch7x7_2: row(c7, c7),
            branch7x7_3: col(c7, 192),
            branch7x7dbl_1: BasicConv2d::square(c_in, c7, 1, 1, 0, d),
            branch7x7dbl_2: col(c7, c7),
            branch7x7dbl_3: row(c7, c7),
            branch7x7dbl_4: col(c7, c7),
            branch7x7dbl_5: row(c7, 192),
            branch_pool: BasicConv2d::square(c_in, 192, 1, 1, 0, d),
        }
    }

    /// Runs the block.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let b1 = self.branch1x1.forward(x.clone());
        let b7 = self.branch7x7_1.forward(x.clone());
        let b7 = self.branch7x7_3.forward(self.branch7x7_2.forward(b7));
        let bd = self.branch7x7dbl_1.forward(x.clone());
        let bd = self.branch7x7dbl_2.forward(bd);
        let bd = self.branch7x7dbl_3.forward(bd);
        let bd = self.branch7x7dbl_4.forward(bd);
        let bd = self.branch7x7dbl_5.forward(bd);
        let bp = self.branch_pool.forward(avg_pool_3x3_same(x));
        Tensor::cat(vec![b1, b7, bd, bp], 1)
    }
}

/// `InceptionD` (`Mixed_7a`): stride-2 3×3, stride-2 7×7×3 and a 3×3/2 max pool.
#[derive(Module, Debug)]
pub struct InceptionD<B: Backend> {
    /// 1×1 → 192.
    pub branch3x3_1: BasicConv2d<B>,
    /// 3×3 stride 2 → 320.
    pub branch3x3_2: BasicConv2d<B>,
    /// 1×1 → 192.
    pub branch7x7x3_1: BasicConv2d<B>,
    /// 1×7 → 192.
    pub branch7x7x3_2: BasicConv2d<B>,
    /// 7×1 → 192.
    pub branch7x7x3_3: BasicConv2d<B>,
    /// 3×3 stride 2 → 192.
    pub branch7x7x3_4: BasicConv2d<B>,
}

impl<B: Backend> InceptionD<B> {
    fn new(c_in: usize, d: &B::Device) -> Self {
        Self {
            branch3x3_1: BasicConv2d::square(c_in, 192, 1, 1, 0, d),
            branch3x3_2: BasicConv2d::square(192, 320, 3, 2, 0, d),
            branch7x7x3_1: BasicConv2d::square(c_in, 192, 1, 1, 0, d),
            branch7x7x3_2: BasicConv2d::new([192, 192], [1, 7], 1, [0, 3], d),
            branch7x7x3_3: BasicConv2d::new([192, 192], [7, 1], 1, [3, 0], d),
            branch7x7x3_4: BasicConv2d::square(192, 192, 3, 2, 0, d),
        }
    }

    /// Runs the block.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let b3 = self
            .branch3x3_2
            .forward(self.branch3x3_1.forward(x.clone()));
        let b7 = self.branch7x7x3_1.forward(x.clone());
        let b7 = self.branch7x7x3_2.forward(b7);
        let b7 = self.branch7x7x3_3.forward(b7);
        let b7 = self.branch7x7x3_4.forward(b7);
        let bp = max_pool_3x3_s2(x);
        Tensor::cat(vec![b3, b7, bp], 1)
    }
}

/// `FIDInceptionE_1` (`Mixed_7b`, avg-pool with `count_include_pad=False`) and
/// `FIDInceptionE_2` (`Mixed_7c`, 3×3/1 max pool with padding 1): branches 1×1, 3×3 split in
/// (1×3, 3×1), double 3×3 split in (1×3, 3×1), and pool + 1×1.
#[derive(Module, Debug)]
pub struct InceptionE<B: Backend> {
    /// 1×1 → 320.
    pub branch1x1: BasicConv2d<B>,
    /// 1×1 → 384.
    pub branch3x3_1: BasicConv2d<B>,
    /// 1×3 (padding (0, 1)) → 384.
    pub branch3x3_2a: BasicConv2d<B>,
    /// 3×1 (padding (1, 0)) → 384.
    pub branch3x3_2b: BasicConv2d<B>,
    /// 1×1 → 448.
    pub branch3x3dbl_1: BasicConv2d<B>,
    /// 3×3 (padding 1) → 384.
    pub branch3x3dbl_2: BasicConv2d<B>,
    /// 1×3 (padding (0, 1)) → 384.
    pub branch3x3dbl_3a: BasicConv2d<B>,
    /// 3×1 (padding (1, 0)) → 384.
    pub branch3x3dbl_3b: BasicConv2d<B>,
    /// 1×1 after the pool → 192.
    pub branch_pool: BasicConv2d<B>,
    /// `true` for `FIDInceptionE_2` (max pool), `false` for `FIDInceptionE_1` (avg pool).
    pub max_pool: bool,
}

impl<B: Backend> InceptionE<B> {
    fn new(c_in: usize, max_pool: bool, d: &B::Device) -> Self {
        let row = |a, b| BasicConv2d::new([a, b], [1, 3], 1, [0, 1], d);
        let col = |a, b| BasicConv2d::new([a, b], [3, 1], 1, [1, 0], d);
        Self {
            branch1x1: BasicConv2d::square(c_in, 320, 1, 1, 0, d),
            branch3x3_1: BasicConv2d::square(c_in, 384, 1, 1, 0, d),
            branch3x3_2a: row(384, 384),
            branch3x3_2b: col(384, 384),
            branch3x3dbl_1: BasicConv2d::square(c_in, 448, 1, 1, 0, d),
            branch3x3dbl_2: BasicConv2d::square(448, 384, 3, 1, 1, d),
            branch3x3dbl_3a: row(384, 384),
            branch3x3dbl_3b: col(384, 384),
            branch_pool: BasicConv2d::square(c_in, 192, 1, 1, 0, d),
            max_pool,
        }
    }

    /// Runs the block.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let b1 = self.branch1x1.forward(x.clone());
        let b3 = self.branch3x3_1.forward(x.clone());
        let b3 = Tensor::cat(
            vec![
                self.branch3x3_2a.forward(b3.clone()),
                self.branch3x3_2b.forward(b3),
            ],
            1,
        );
        let bd = self.branch3x3dbl_1.forward(x.clone());
        let bd = self.branch3x3dbl_2.forward(bd);
        let bd = Tensor::cat(
            vec![
                self.branch3x3dbl_3a.forward(bd.clone()),
                self.branch3x3dbl_3b.forward(bd),
            ],
            1,
        );
        let pooled = if self.max_pool {
            max_pool2d(x, [3, 3], [1, 1], [1, 1], [1, 1], false)
        } else {
            avg_pool_3x3_same(x)
        };
        let bp = self.branch_pool.forward(pooled);
        Tensor::cat(vec![b1, b3, bd, bp], 1)
    }
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

impl FidInceptionConfig {
    /// Builds the network with Burn's default (random) initialisation and default BatchNorm
    /// statistics; load the FID weights before use (see [`FidInception::load_weights_pth`]).
    pub fn init<B: Backend>(&self, device: &B::Device) -> FidInception<B> {
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

/// Key rules from the PyTorch state_dict names to this module's parameter paths.
const KEY_RULES: [(&str, &str); 2] = [(r"^Conv2d_", "conv2d_"), (r"^Mixed_", "mixed_")];

/// State_dict entries that are not part of the pool3 network.
fn is_ignored_key(key: &str) -> bool {
    key.starts_with("fc.") || key.ends_with(".num_batches_tracked")
}

/// Maps a parameter path of [`FidInception`] back to its PyTorch state_dict key (prefixes
/// re-capitalised, BatchNorm `gamma` / `beta` back to `weight` / `bias`).
fn official_key(path: &str) -> String {
    let key = if let Some(rest) = path.strip_prefix("conv2d_") {
        format!("Conv2d_{rest}")
    } else if let Some(rest) = path.strip_prefix("mixed_") {
        format!("Mixed_{rest}")
    } else {
        path.to_string()
    };
    if let Some(stem) = key.strip_suffix(".bn.gamma") {
        format!("{stem}.bn.weight")
    } else if let Some(stem) = key.strip_suffix(".bn.beta") {
        format!("{stem}.bn.bias")
    } else {
        key
    }
}

/// Whether the file key `key` (after remapping) was consumed under its Burn name: burn-store
/// finds BatchNorm `weight` / `bias` as alternatives of `gamma` / `beta` but still lists the
/// PyTorch names as unused.
fn applied_under_burn_name(key: &str, applied: &HashSet<&str>) -> bool {
    let burn = if let Some(stem) = key.strip_suffix(".weight") {
        format!("{stem}.gamma")
    } else if let Some(stem) = key.strip_suffix(".bias") {
        format!("{stem}.beta")
    } else {
        return false;
    };
    applied.contains(burn.as_str())
}

fn remapper() -> Result<KeyRemapper, FidError> {
    KeyRemapper::from_patterns(KEY_RULES.to_vec()).map_err(|e| FidError::Config(e.to_string()))
}

fn check_result(result: ApplyResult) -> Result<(), FidError> {
    if let Some(error) = result.errors.first() {
        return Err(match error {
            ApplyError::ShapeMismatch {
                path,
                expected,
                found,
            } => FidError::WeightShape {
                key: official_key(path),
                message: format!(
                    "the network expects {:?}, the file holds {:?}",
                    expected.as_slice(),
                    found.as_slice()
                ),
            },
            other => FidError::WeightShape {
                key: String::new(),
                message: other.to_string(),
            },
        });
    }
    if let Some((path, _)) = result.missing.first() {
        return Err(FidError::MissingWeight {
            key: official_key(path),
        });
    }
    let applied: HashSet<&str> = result.applied.iter().map(String::as_str).collect();
    if let Some(key) = result
        .unused
        .iter()
        .find(|k| !is_ignored_key(k) && !applied_under_burn_name(k, &applied))
    {
        return Err(FidError::UnexpectedWeight {
            key: official_key(key),
        });
    }
    Ok(())
}

fn check_file(path: &Path) -> Result<(), FidError> {
    if path.is_file() {
        Ok(())
    } else {
        Err(FidError::MissingWeights {
            path: path.to_path_buf(),
        })
    }
}

impl<B: Backend> FidInception<B> {
    /// Builds the default network (pytorch-fid's FID settings) and loads the official
    /// `pt_inception-2015-12-05-6726825d.pth` (or any `.pth` holding the same state_dict).
    /// A missing file gives [`FidError::MissingWeights`], whose message names the download URL
    /// ([`FID_WEIGHTS_URL`](super::FID_WEIGHTS_URL)).
    pub fn load_pth(path: impl AsRef<Path>, device: &B::Device) -> Result<Self, FidError> {
        FidInceptionConfig::new()
            .init(device)
            .load_weights_pth(path)
    }

    /// Builds the default network and loads a `.safetensors` file holding the state_dict of
    /// the `.pth` (same key names).
    pub fn load_safetensors(path: impl AsRef<Path>, device: &B::Device) -> Result<Self, FidError> {
        FidInceptionConfig::new()
            .init(device)
            .load_weights_safetensors(path)
    }

    /// Loads the weights and BatchNorm running statistics of a PyTorch `.pth` state_dict into
    /// this network. Every parameter and running statistic must be present with its exact
    /// shape; `fc.*` and `num_batches_tracked` are ignored, other extra keys are an error.
    pub fn load_weights_pth(mut self, path: impl AsRef<Path>) -> Result<Self, FidError> {
        let path = path.as_ref();
        check_file(path)?;
        let mut store = PytorchStore::from_file(path)
            .validate(false)
            .allow_partial(true)
            .remap(remapper()?);
        let result = self
            .load_from(&mut store)
            .map_err(|e| FidError::WeightFile {
                path: path.to_path_buf(),
                source: Box::new(e),
            })?;
        check_result(result)?;
        Ok(self)
    }

    /// Loads the weights and BatchNorm running statistics of a `.safetensors` state_dict (the
    /// `.pth` key names) into this network, with the checks of
    /// [`load_weights_pth`](Self::load_weights_pth).
    pub fn load_weights_safetensors(mut self, path: impl AsRef<Path>) -> Result<Self, FidError> {
        let path = path.as_ref();
        check_file(path)?;
        let mut store = SafetensorsStore::from_file(path)
            .with_from_adapter(PyTorchToBurnAdapter)
            .validate(false)
            .allow_partial(true)
            .remap(remapper()?);
        let result = self
            .load_from(&mut store)
            .map_err(|e| FidError::WeightFile {
                path: path.to_path_buf(),
                source: Box::new(e),
            })?;
        check_result(result)?;
        Ok(self)
    }

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
        let (values, shape) = self.preprocess_values(values, shape)?;
        Ok(Tensor::from_data(TensorData::new(values, shape), &device))
    }

    /// [`preprocess`](Self::preprocess) on host values `[N, 3, H, W]`, row-major.
    pub(crate) fn preprocess_values(
        &self,
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
