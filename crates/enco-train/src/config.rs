//! The EnCo model and training configuration (docs/reference.md §0).

use burn::prelude::*;
use enco_loss::{ContentLoss, GanMode, LossWeighting};
use enco_nn::{HeadNorm, NLayerDiscriminatorConfig, ResnetGeneratorConfig};
use enco_sampling::DagSamplerConfig;

/// Everything that defines an EnCo model and its training iteration. Defaults are the official
/// README command (docs/reference.md §0): λ_NCE 2, λ_IDT 10, BN heads, LSGAN, DAG with K = 256, k = 4,
/// random ratio 0.5, TTUR learning rates 5e-5 / 2e-4 / 5e-5, Adam β = (0.5, 0.999), ε = 1e-8.
#[derive(Config, Debug)]
pub struct EncoConfig {
    /// The generator.
    #[config(default = "ResnetGeneratorConfig::new()")]
    pub generator: ResnetGeneratorConfig,
    /// The discriminator.
    #[config(default = "NLayerDiscriminatorConfig::new()")]
    pub discriminator: NLayerDiscriminatorConfig,
    /// Width of the projection heads (`--netF_nc`).
    #[config(default = 256)]
    pub head_nc: usize,
    /// Normalisation in the heads (`--prj_norm`): BN (code) or LN (paper).
    #[config(default = "HeadNorm::BatchNorm")]
    pub head_norm: HeadNorm,
    /// Generator layers whose features are paired (`--nce_layers`): first half encoder, second
    /// half decoder in reverse, so (3, 28), (7, 24), (13, 18) by default (docs/reference.md §2.1).
    #[config(default = "vec![3, 7, 13, 18, 24, 28]")]
    pub nce_layers: Vec<usize>,
    /// Patch sampling (`--num_patches`, `--oversample_ratio`, `--random_ratio`).
    #[config(default = "DagSamplerConfig::new()")]
    pub sampler: DagSamplerConfig,
    /// Adversarial objective (`--gan_mode`).
    #[config(default = "GanMode::Lsgan")]
    pub gan_mode: GanMode,
    /// How the generator terms are combined (official 0.5 factor, or the paper's Eq. 7).
    #[config(default = "LossWeighting::Official")]
    pub weighting: LossWeighting,
    /// The content loss of every pair (`--content-loss`): EnCo's, or CUT's PatchNCE ("CUT +
    /// EnCo", paper Table 3 rows D and E).
    #[config(default = "ContentLoss::Enco")]
    pub content_loss: ContentLoss,
    /// PatchNCE temperature τ (`--nce_T`), used by [`ContentLoss::PatchNce`].
    #[config(default = 0.07)]
    pub nce_t: f64,
    /// λ_GAN.
    #[config(default = 1.0)]
    pub lambda_gan: f64,
    /// λ_NCE, weight of the content loss.
    #[config(default = 2.0)]
    pub lambda_nce: f64,
    /// λ_IDT, weight of the identity loss.
    #[config(default = 10.0)]
    pub lambda_idt: f64,
    /// `--nce_idt`: whether the identity loss is used at all during its phase.
    #[config(default = true)]
    pub identity_loss: bool,
    /// `--stop_gradient`: detach the encoder branch (turning it off collapses, paper Table 3).
    #[config(default = true)]
    pub stop_gradient: bool,
    /// Use the prediction head on the decoder branch (`--no_predictor` turns it off).
    #[config(default = true)]
    pub predictor: bool,
    /// Generator learning rate.
    #[config(default = 5e-5)]
    pub lr_g: f64,
    /// Discriminator learning rate.
    #[config(default = 2e-4)]
    pub lr_d: f64,
    /// Heads learning rate.
    #[config(default = 5e-5)]
    pub lr_f: f64,
    /// Adam β₁.
    #[config(default = 0.5)]
    pub beta1: f32,
    /// Adam β₂.
    #[config(default = 0.999)]
    pub beta2: f32,
    /// Adam ε (PyTorch's 1e-8, not Burn's default 1e-5).
    #[config(default = 1e-8)]
    pub adam_epsilon: f32,
    /// Seed of the weight initialisation; G, D and the heads draw from `seed`, `seed + 1` and
    /// `seed + 2`.
    #[config(default = 0)]
    pub seed: u64,
}
