//! The choice of model: EnCo, CUT, FastCUT or CycleGAN, sharing networks, data, training loop,
//! checkpoints, translation and evaluation.

use burn::prelude::*;
use enco_nn::{EncoAutodiffBackend, ResnetGeneratorConfig};
use serde::{Deserialize, Serialize};

use crate::config::EncoConfig;
use crate::cut::{CutConfig, CutTrainer, CutVariant};
use crate::cyclegan::{CycleGanConfig, CycleGanTrainer};
use crate::error::TrainError;
use crate::model_trainer::ModelTrainer;
use crate::param_ids::with_ordered_ids;
use crate::step::EncoTrainer;

/// A model and its iteration (`--model`).
#[derive(Config, Debug)]
pub enum ModelConfig {
    /// EnCo (the default), including "CUT + EnCo" through [`EncoConfig::content_loss`].
    Enco(EncoConfig),
    /// CUT or FastCUT ([`CutConfig::variant`]).
    Cut(CutConfig),
    /// CycleGAN.
    CycleGan(CycleGanConfig),
}

/// The models by name, as `--model` takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ModelKind {
    /// `enco`.
    Enco,
    /// `cut`.
    Cut,
    /// `fastcut`.
    FastCut,
    /// `cyclegan`.
    CycleGan,
}

impl ModelKind {
    /// Every model.
    pub const ALL: [ModelKind; 4] = [Self::Enco, Self::Cut, Self::FastCut, Self::CycleGan];

    /// The name `--model` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Enco => "enco",
            Self::Cut => "cut",
            Self::FastCut => "fastcut",
            Self::CycleGan => "cyclegan",
        }
    }

    /// The model's official defaults.
    pub fn default_config(self) -> ModelConfig {
        match self {
            Self::Enco => ModelConfig::Enco(EncoConfig::new()),
            Self::Cut => ModelConfig::Cut(CutConfig::cut()),
            Self::FastCut => ModelConfig::Cut(CutConfig::fastcut()),
            Self::CycleGan => ModelConfig::CycleGan(CycleGanConfig::new()),
        }
    }

    /// The official epoch budget `(n_epochs, n_epochs_decay, warmup_epochs)`: EnCo's README
    /// command 100 + 100 with 20 warm-up epochs, CUT and CycleGAN 200 + 200, FastCUT 150 + 50.
    pub fn default_epochs(self) -> (usize, usize, usize) {
        match self {
            Self::Enco => (100, 100, 20),
            Self::Cut | Self::CycleGan => (200, 200, 0),
            Self::FastCut => (150, 50, 0),
        }
    }
}

impl std::str::FromStr for ModelKind {
    type Err = String;

    /// Parses `enco`, `cut`, `fastcut` or `cyclegan`.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| format!("unknown model {name:?} (one of: enco, cut, fastcut, cyclegan)"))
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl From<EncoConfig> for ModelConfig {
    fn from(config: EncoConfig) -> Self {
        ModelConfig::Enco(config)
    }
}

impl From<CutConfig> for ModelConfig {
    fn from(config: CutConfig) -> Self {
        ModelConfig::Cut(config)
    }
}

impl From<CycleGanConfig> for ModelConfig {
    fn from(config: CycleGanConfig) -> Self {
        ModelConfig::CycleGan(config)
    }
}

impl ModelConfig {
    /// Which model this is.
    pub fn kind(&self) -> ModelKind {
        match self {
            ModelConfig::Enco(_) => ModelKind::Enco,
            ModelConfig::Cut(c) if c.variant == CutVariant::FastCut => ModelKind::FastCut,
            ModelConfig::Cut(_) => ModelKind::Cut,
            ModelConfig::CycleGan(_) => ModelKind::CycleGan,
        }
    }

    /// The configuration of the translating generator (G, or CycleGAN's G_A and G_B).
    pub fn generator(&self) -> ResnetGeneratorConfig {
        match self {
            ModelConfig::Enco(c) => c.generator.clone(),
            ModelConfig::Cut(c) => c.generator.clone(),
            ModelConfig::CycleGan(c) => c.generator_config(),
        }
    }

    /// The seed of the weight initialisation.
    pub fn seed(&self) -> u64 {
        match self {
            ModelConfig::Enco(c) => c.seed,
            ModelConfig::Cut(c) => c.seed,
            ModelConfig::CycleGan(c) => c.seed,
        }
    }

    /// The same model with another initialisation seed.
    pub fn with_seed(self, seed: u64) -> Self {
        match self {
            ModelConfig::Enco(c) => ModelConfig::Enco(c.with_seed(seed)),
            ModelConfig::Cut(c) => ModelConfig::Cut(c.with_seed(seed)),
            ModelConfig::CycleGan(c) => ModelConfig::CycleGan(c.with_seed(seed)),
        }
    }

    /// Builds the model with the official initialisation and fresh optimisers.
    pub fn init_trainer<B: EncoAutodiffBackend>(
        &self,
        device: &B::Device,
    ) -> Result<ModelTrainer<B>, TrainError> {
        // The same parameter ids in every process: replicas on other machines reduce their
        // gradients in the order of these ids.
        Ok(match self {
            ModelConfig::Enco(c) => ModelTrainer::Enco(EncoTrainer::new(
                with_ordered_ids(c.init(device)?),
                c.clone(),
            )),
            ModelConfig::Cut(c) => ModelTrainer::Cut(CutTrainer::new(
                with_ordered_ids(c.init(device)?),
                c.clone(),
            )),
            ModelConfig::CycleGan(c) => ModelTrainer::CycleGan(CycleGanTrainer::new(
                with_ordered_ids(c.init(device)?),
                c.clone(),
            )),
        })
    }
}
