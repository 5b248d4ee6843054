//! CycleGAN configuration (official `models/cycle_gan_model.py`).

use burn::prelude::*;
use enco_loss::GanMode;
use enco_nn::{NLayerDiscriminatorConfig, ResnetGeneratorConfig};
use serde::{Deserialize, Serialize};

/// Which networks CycleGAN builds. The official model passes its `gpu_ids` into the
/// `no_antialias` argument of `define_G` / `define_D`, so the architecture depends on where it
/// runs (docs/reference.md §16.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum CycleGanNetworks {
    /// What the official code builds on the CPU: the anti-aliased G and D of EnCo.
    #[default]
    AntiAliased,
    /// What it builds on a GPU: G down-samples with stride-2 convolutions (its up-sampling stays
    /// anti-aliased) and D is the plain strided PatchGAN. Same parameter counts, other
    /// state_dict keys.
    OfficialGpu,
}

/// Everything that defines a CycleGAN model and its iteration; the defaults are the official
/// ones (docs/reference.md §16.1).
#[derive(Config, Debug)]
pub struct CycleGanConfig {
    /// The generators G_A (A → B) and G_B (B → A), before [`CycleGanConfig::networks`] applies.
    #[config(default = "ResnetGeneratorConfig::new()")]
    pub generator: ResnetGeneratorConfig,
    /// The discriminators D_A (judges B) and D_B (judges A).
    #[config(default = "NLayerDiscriminatorConfig::new()")]
    pub discriminator: NLayerDiscriminatorConfig,
    /// The architecture variant.
    #[config(default = "CycleGanNetworks::AntiAliased")]
    pub networks: CycleGanNetworks,
    /// λ_A, weight of the cycle loss A → B → A.
    #[config(default = 10.0)]
    pub lambda_a: f64,
    /// λ_B, weight of the cycle loss B → A → B.
    #[config(default = 10.0)]
    pub lambda_b: f64,
    /// λ_identity (0 turns the identity terms off).
    #[config(default = 0.5)]
    pub lambda_identity: f64,
    /// Images each fake pool holds (0: D always sees the current fakes).
    #[config(default = 50)]
    pub pool_size: usize,
    /// Adversarial objective (`--gan_mode`).
    #[config(default = "GanMode::Lsgan")]
    pub gan_mode: GanMode,
    /// Learning rate of both optimisers (`--lr`).
    #[config(default = 2e-4)]
    pub lr: f64,
    /// Adam β₁ (β₂ is 0.999: the official model ignores `--beta2`).
    #[config(default = 0.5)]
    pub beta1: f32,
    /// Adam ε (PyTorch's 1e-8).
    #[config(default = 1e-8)]
    pub adam_epsilon: f32,
    /// Seed of the weight initialisation; G_A, G_B, D_A and D_B draw from `seed` … `seed + 3`.
    #[config(default = 0)]
    pub seed: u64,
}

impl CycleGanConfig {
    /// The generator configuration after the architecture variant.
    pub fn generator_config(&self) -> ResnetGeneratorConfig {
        match self.networks {
            CycleGanNetworks::AntiAliased => self.generator.clone(),
            CycleGanNetworks::OfficialGpu => self
                .generator
                .clone()
                .with_no_antialias(true)
                .with_no_antialias_up(false),
        }
    }

    /// The discriminator configuration after the architecture variant.
    pub fn discriminator_config(&self) -> NLayerDiscriminatorConfig {
        match self.networks {
            CycleGanNetworks::AntiAliased => self.discriminator.clone(),
            CycleGanNetworks::OfficialGpu => self.discriminator.clone().with_no_antialias(true),
        }
    }
}
