//! The building blocks of the FID Inception: `BasicConv2d`, the pools, and the Inception
//! blocks A–E with the FID variants of pytorch-fid.

use super::*;

/// `BasicConv2d`: convolution without bias, BatchNorm (eps 1e-3, always in eval mode with the
/// running statistics) and ReLU.
#[derive(Module, Debug)]
pub struct BasicConv2d<B: Backend> {
    /// The convolution (no bias).
    pub conv: Conv2d<B>,
    /// The BatchNorm; only its running statistics are used (eval mode).
    pub bn: BatchNorm<B>,
}

impl<B: EncoBackend> BasicConv2d<B> {
    pub(super) fn new(
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

    pub(super) fn square(
        c_in: usize,
        c_out: usize,
        k: usize,
        stride: usize,
        pad: usize,
        d: &B::Device,
    ) -> Self {
        Self::new([c_in, c_out], [k, k], stride, [pad, pad], d)
    }

    /// Convolution (through [`EncoBackend::enco_conv2d`], on all cores on the CPU), eval-mode
    /// BatchNorm, ReLU.
    ///
    /// The BatchNorm is evaluated as PyTorch's CPU kernel does it, whatever the backend's
    /// autodiff state: `α = γ / √(var + eps)`, `β' = β − mean·α`, `y = x·α + β'`, with the
    /// ReLU in the same pass ([`EncoBackend::scale_shift_relu`]).
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let x = conv2d_module(&self.conv, x);
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
        scale_shift_relu(x, alpha, beta)
    }
}

/// `F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)`, the FID variant.
pub(super) fn avg_pool_3x3_same<B: EncoBackend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    avg_pool2d(x, [3, 3], [1, 1], [1, 1], false)
}

/// `F.max_pool2d(x, 3, stride=2)`.
pub(super) fn max_pool_3x3_s2<B: EncoBackend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    max_pool2d(x, [3, 3], [2, 2], [0, 0])
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

impl<B: EncoBackend> InceptionA<B> {
    pub(super) fn new(c_in: usize, pool_features: usize, d: &B::Device) -> Self {
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

impl<B: EncoBackend> InceptionB<B> {
    pub(super) fn new(c_in: usize, d: &B::Device) -> Self {
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

impl<B: EncoBackend> InceptionC<B> {
    pub(super) fn new(c_in: usize, c7: usize, d: &B::Device) -> Self {
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

impl<B: EncoBackend> InceptionD<B> {
    pub(super) fn new(c_in: usize, d: &B::Device) -> Self {
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

impl<B: EncoBackend> InceptionE<B> {
    pub(super) fn new(c_in: usize, max_pool: bool, d: &B::Device) -> Self {
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
            max_pool2d(x, [3, 3], [1, 1], [1, 1])
        } else {
            avg_pool_3x3_same(x)
        };
        let bp = self.branch_pool.forward(pooled);
        Tensor::cat(vec![b1, b3, bd, bp], 1)
    }
}
