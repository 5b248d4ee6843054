//! A trainer of any of the models.

use burn::module::{Module, ModuleVisitor};
use enco_nn::{EncoAutodiffBackend, ResnetGenerator};

use crate::cut::CutTrainer;
use crate::cyclegan::CycleGanTrainer;
use crate::model_config::ModelConfig;
use crate::step::EncoTrainer;

/// The model being trained and its optimisers, for any [`ModelConfig`].
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub enum ModelTrainer<B: EncoAutodiffBackend> {
    /// EnCo.
    Enco(EncoTrainer<B>),
    /// CUT or FastCUT.
    Cut(CutTrainer<B>),
    /// CycleGAN.
    CycleGan(CycleGanTrainer<B>),
}

impl<B: EncoAutodiffBackend> ModelTrainer<B> {
    /// The configuration of the model.
    pub fn config(&self) -> ModelConfig {
        match self {
            ModelTrainer::Enco(t) => ModelConfig::Enco(t.config.clone()),
            ModelTrainer::Cut(t) => ModelConfig::Cut(t.config.clone()),
            ModelTrainer::CycleGan(t) => ModelConfig::CycleGan(t.config.clone()),
        }
    }

    /// The generator that translates source → target (G, or CycleGAN's G_A).
    pub fn generator(&self) -> &ResnetGenerator<B> {
        match self {
            ModelTrainer::Enco(t) => &t.model.generator,
            ModelTrainer::Cut(t) => &t.model.generator,
            ModelTrainer::CycleGan(t) => &t.model.g_a,
        }
    }

    /// Visits every parameter of the model's networks.
    pub fn visit<V: ModuleVisitor<B>>(&self, visitor: &mut V) {
        match self {
            ModelTrainer::Enco(t) => t.model.visit(visitor),
            ModelTrainer::Cut(t) => t.model.visit(visitor),
            ModelTrainer::CycleGan(t) => t.model.visit(visitor),
        }
    }
}
