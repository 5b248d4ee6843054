//! CUT and FastCUT configuration (official `models/cut_model.py`, `models/fastcut_model.py`).

use burn::prelude::*;
use enco_loss::GanMode;
use enco_nn::{NLayerDiscriminatorConfig, ResnetGeneratorConfig};
use serde::{Deserialize, Serialize};

/// Which of the two official models: they differ in their defaults and in how the discriminator
/// step calls D.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum CutVariant {
    /// `--model cut`: the D step is one D call on the concatenated fake and real batch.
    #[default]
    Cut,
    /// `--model fastcut`: two D calls in the D step.
    FastCut,
}

/// Everything that defines a CUT or FastCUT model and its iteration. [`CutConfig::new`] gives
/// CUT's official defaults; [`CutConfig::fastcut`] FastCUT's.
#[derive(Config, Debug)]
pub struct CutConfig {
    /// CUT or FastCUT.
    #[config(default = "CutVariant::Cut")]
    pub variant: CutVariant,
    /// The generator.
    #[config(default = "ResnetGeneratorConfig::new()")]
    pub generator: ResnetGeneratorConfig,
    /// The discriminator.
    #[config(default = "NLayerDiscriminatorConfig::new()")]
    pub discriminator: NLayerDiscriminatorConfig,
    /// Width of the heads (`--netF_nc`).
    #[config(default = 256)]
    pub head_nc: usize,
    /// Encoder taps (`--nce_layers`), ascending: 0 is the input image, `l` the output of module
    /// `l` (4 and 8 are convolutions taken before their instance norm).
    #[config(default = "vec![0, 4, 8, 12, 16]")]
    pub nce_layers: Vec<usize>,
    /// Patches per tap, shared by the images of a batch (`--num_patches`, K).
    #[config(default = 256)]
    pub num_patches: usize,
    /// PatchNCE temperature τ (`--nce_T`).
    #[config(default = 0.07)]
    pub nce_t: f64,
    /// λ_GAN.
    #[config(default = 1.0)]
    pub lambda_gan: f64,
    /// λ_NCE (CUT 1, FastCUT 10).
    #[config(default = 1.0)]
    pub lambda_nce: f64,
    /// `--nce_idt`: the identity NCE term on real_B (CUT on, FastCUT off).
    #[config(default = true)]
    pub nce_idt: bool,
    /// `--flip_equivariance`: mirror the whole G input with probability 0.5 and mirror the
    /// q features back (CUT off, FastCUT on).
    #[config(default = false)]
    pub flip_equivariance: bool,
    /// `--nce_includes_all_negatives_from_minibatch`: negatives from every image of the batch
    /// instead of the same image only.
    #[config(default = false)]
    pub negatives_from_minibatch: bool,
    /// Adversarial objective (`--gan_mode`).
    #[config(default = "GanMode::Lsgan")]
    pub gan_mode: GanMode,
    /// The one learning rate of G, D and F (`--lr`).
    #[config(default = 2e-4)]
    pub lr: f64,
    /// Adam β₁.
    #[config(default = 0.5)]
    pub beta1: f32,
    /// Adam β₂.
    #[config(default = 0.999)]
    pub beta2: f32,
    /// Adam ε (PyTorch's 1e-8).
    #[config(default = 1e-8)]
    pub adam_epsilon: f32,
    /// Seed of the weight initialisation; G, D and F draw from `seed`, `seed + 1`, `seed + 2`.
    #[config(default = 0)]
    pub seed: u64,
}

impl CutConfig {
    /// CUT's official defaults (docs/reference.md §15.1): NCE identity on, λ_NCE 1, no flips.
    pub fn cut() -> Self {
        Self::new()
    }

    /// FastCUT's official defaults: NCE identity off, λ_NCE 10, flip equivariance on.
    pub fn fastcut() -> Self {
        Self::new()
            .with_variant(CutVariant::FastCut)
            .with_nce_idt(false)
            .with_lambda_nce(10.0)
            .with_flip_equivariance(true)
    }
}
