//! The PatchGAN discriminator (docs/reference.md §3).

use burn::nn::LeakyReluConfig;
use burn::prelude::*;
use enco_kernels::EncoBackend;

use crate::downsample::Downsample;
use crate::error::{NnError, check_rank4_channels};
use crate::init::{WeightInit, conv2d};
use crate::instance_norm::InstanceNorm2d;
use crate::layer::{Layer, forward_all};

/// Configuration of the official `NLayerDiscriminator` (`--netD basic`), docs/reference.md §3.
#[derive(Config, Debug)]
pub struct NLayerDiscriminatorConfig {
    /// Input image channels.
    #[config(default = 3)]
    pub input_nc: usize,
    /// Width of the first layer (`ndf`).
    #[config(default = 64)]
    pub ndf: usize,
    /// Number of intermediate layers (`n_layers_D`).
    #[config(default = 3)]
    pub n_layers: usize,
    /// `--no_antialias`: stride-2 convolutions instead of conv + blur downsampling.
    #[config(default = false)]
    pub no_antialias: bool,
    /// Seed of the official initialisation (§4.2).
    #[config(default = 0)]
    pub seed: u64,
}

/// The official PatchGAN discriminator: an unbounded score map (no sigmoid), 30×30 for a
/// 256×256 input with the default configuration. `model[l]` is module `l` of the official
/// `nn.Sequential`.
#[derive(Module, Debug)]
pub struct NLayerDiscriminator<B: EncoBackend> {
    /// The modules, indexed as in the official code.
    pub model: Vec<Layer<B>>,
    /// Input channels.
    pub input_nc: usize,
    /// Whether the blur downsampling is used (changes the output size arithmetic).
    pub antialias: bool,
    /// Number of intermediate layers.
    pub n_layers: usize,
}

impl NLayerDiscriminatorConfig {
    /// Checks that every width is at least 1 (`input_nc`, `ndf`).
    pub fn validate(&self) -> Result<(), NnError> {
        for (name, value) in [("input_nc", self.input_nc), ("ndf", self.ndf)] {
            if value == 0 {
                return Err(NnError::InvalidConfig(format!(
                    "discriminator {name} must be at least 1"
                )));
            }
        }
        Ok(())
    }

    /// Builds the discriminator with the official initialisation drawn from `self.seed`.
    ///
    /// # Panics
    /// If the configuration does not pass [`NLayerDiscriminatorConfig::validate`]; the models'
    /// `init` functions check it and return the error.
    pub fn init<B: EncoBackend>(&self, device: &B::Device) -> NLayerDiscriminator<B> {
        self.init_with(&mut WeightInit::official(self.seed), device)
    }

    /// Builds the discriminator drawing its weights from `weights`.
    ///
    /// # Panics
    /// As [`NLayerDiscriminatorConfig::init`].
    pub fn init_with<B: EncoBackend>(
        &self,
        weights: &mut WeightInit,
        device: &B::Device,
    ) -> NLayerDiscriminator<B> {
        let lrelu = || Layer::LeakyRelu(LeakyReluConfig::new().with_negative_slope(0.2).init());
        let norm = || Layer::InstanceNorm(InstanceNorm2d::default());
        let ndf = self.ndf;
        let mut model = Vec::new();
        if self.no_antialias {
            model.push(Layer::Conv(conv2d(
                self.input_nc,
                ndf,
                4,
                2,
                1,
                true,
                weights,
                device,
            )));
            model.push(lrelu());
        } else {
            model.push(Layer::Conv(conv2d(
                self.input_nc,
                ndf,
                4,
                1,
                1,
                true,
                weights,
                device,
            )));
            model.extend([lrelu(), Layer::Downsample(Downsample)]);
        }
        let mut mult = 1;
        for n in 1..self.n_layers {
            let prev = mult;
            mult = (1 << n).min(8);
            let (cin, cout) = (ndf * prev, ndf * mult);
            if self.no_antialias {
                model.push(Layer::Conv(conv2d(
                    cin, cout, 4, 2, 1, true, weights, device,
                )));
                model.extend([norm(), lrelu()]);
            } else {
                model.push(Layer::Conv(conv2d(
                    cin, cout, 4, 1, 1, true, weights, device,
                )));
                model.extend([norm(), lrelu(), Layer::Downsample(Downsample)]);
            }
        }
        let prev = mult;
        mult = (1 << self.n_layers).min(8);
        model.push(Layer::Conv(conv2d(
            ndf * prev,
            ndf * mult,
            4,
            1,
            1,
            true,
            weights,
            device,
        )));
        model.extend([norm(), lrelu()]);
        model.push(Layer::Conv(conv2d(
            ndf * mult,
            1,
            4,
            1,
            1,
            true,
            weights,
            device,
        )));
        NLayerDiscriminator {
            model,
            input_nc: self.input_nc,
            antialias: !self.no_antialias,
            n_layers: self.n_layers,
        }
    }
}

impl<B: EncoBackend> NLayerDiscriminator<B> {
    /// Scores every patch of a batch of images (low = looks fake).
    ///
    /// # Shapes
    /// - input `[B, input_nc, H, W]`
    /// - output `[B, 1, H', W']` (30×30 for 256×256 with the defaults)
    pub fn forward(&self, x: Tensor<B, 4>) -> Result<Tensor<B, 4>, NnError> {
        let dims = x.dims();
        check_rank4_channels("NLayerDiscriminator", dims, self.input_nc)?;
        if self.output_size(dims[2]).is_none() || self.output_size(dims[3]).is_none() {
            return Err(NnError::InvalidInput {
                network: "NLayerDiscriminator",
                expected: "an image large enough to leave a score map of at least 1×1".into(),
                got: dims.to_vec(),
            });
        }
        Ok(forward_all(&self.model, x))
    }

    /// The score map size along one axis for an input of size `n`, or `None` when the input is
    /// too small.
    pub fn output_size(&self, n: usize) -> Option<usize> {
        // Conv k4 p1: s1 → n − 1; s2 → floor((n − 2) / 2) + 1. Blur: needs n ≥ 2 → (n − 1)/2 + 1.
        let conv_s1 = |n: usize| (n >= 2).then(|| n - 1);
        let conv_s2 = |n: usize| (n >= 2).then(|| (n - 2) / 2 + 1);
        let blur = |n: usize| (n >= 2).then(|| (n - 1) / 2 + 1);
        let mut n = Some(n);
        for _ in 0..self.n_layers {
            n = if self.antialias {
                n.and_then(conv_s1).and_then(blur)
            } else {
                n.and_then(conv_s2)
            };
        }
        n.and_then(conv_s1).and_then(conv_s1).filter(|&n| n >= 1)
    }
}
