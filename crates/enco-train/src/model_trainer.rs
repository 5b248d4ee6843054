//! A trainer of any of the models.

use burn::module::{AutodiffModule, Module, ModuleVisitor};
use burn::prelude::*;
use enco_nn::{EncoAutodiffBackend, ResnetGenerator};

use crate::cut::CutTrainer;
use crate::cyclegan::CycleGanTrainer;
use crate::error::TrainError;
use crate::gradient_sync::GradientSync;
use crate::model_config::ModelConfig;
use crate::sample_grid::SampleColumn;
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

    /// A copy of this trainer on `device`: the same networks with the same parameter ids
    /// (Burn's `Module::fork`), the same optimiser states (Burn's optimiser moves a state to its
    /// parameter's device at the next step) and, for CycleGAN, the same image pools. The copy a
    /// data-parallel replica trains.
    pub fn fork(&self, device: &B::Device) -> Self {
        let mut copy = self.clone();
        match &mut copy {
            ModelTrainer::Enco(t) => t.model = t.model.clone().fork(device),
            ModelTrainer::Cut(t) => t.model = t.model.clone().fork(device),
            ModelTrainer::CycleGan(t) => t.model = t.model.clone().fork(device),
        }
        copy
    }

    /// How the gradients reach the optimisers ([`GradientSync`]).
    pub fn set_gradient_sync(&mut self, sync: GradientSync) {
        match self {
            ModelTrainer::Enco(t) => t.set_gradient_sync(sync),
            ModelTrainer::Cut(t) => t.set_gradient_sync(sync),
            ModelTrainer::CycleGan(t) => t.set_gradient_sync(sync),
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

    /// The model's visuals for a sample grid, translated with the current networks (no
    /// gradient), as the official visualiser names them: real A, fake B, real B and idt B for
    /// EnCo and CUT (idt B only with its identity term); real A, fake B, rec A, real B, fake A,
    /// rec B (plus idt B and idt A with λ_identity > 0) for CycleGAN.
    ///
    /// # Shapes
    /// `real_a`, `real_b`: `[N, 3, H, W]`; every column the same.
    pub fn visuals(
        &self,
        real_a: Tensor<B::InnerBackend, 4>,
        real_b: Tensor<B::InnerBackend, 4>,
    ) -> Result<Vec<SampleColumn<B::InnerBackend>>, TrainError> {
        let n = real_a.dims()[0];
        let column = |name: &str, t: Tensor<B::InnerBackend, 4>| (name.to_string(), t);
        let both = |g: &ResnetGenerator<B::InnerBackend>,
                    a: &Tensor<B::InnerBackend, 4>,
                    b: &Tensor<B::InnerBackend, 4>| {
            g.forward(Tensor::cat(vec![a.clone(), b.clone()], 0))
                .map(|out| (out.clone().narrow(0, 0, n), out.narrow(0, n, n)))
        };
        let with_identity = match self {
            ModelTrainer::Enco(_) => true,
            ModelTrainer::Cut(t) => t.config.nce_idt,
            ModelTrainer::CycleGan(t) => {
                let g_a = t.model.g_a.valid();
                let g_b = t.model.g_b.valid();
                let (fake_b, idt_a) = both(&g_a, &real_a, &real_b)?;
                let (fake_a, idt_b) = both(&g_b, &real_b, &real_a)?;
                let rec_a = g_b.forward(fake_b.clone())?;
                let rec_b = g_a.forward(fake_a.clone())?;
                let mut columns = vec![
                    column("real A", real_a),
                    column("fake B", fake_b),
                    column("rec A", rec_a),
                ];
                if t.config.lambda_identity > 0.0 {
                    columns.push(column("idt B", idt_b));
                }
                columns.extend([
                    column("real B", real_b),
                    column("fake A", fake_a),
                    column("rec B", rec_b),
                ]);
                if t.config.lambda_identity > 0.0 {
                    columns.push(column("idt A", idt_a));
                }
                return Ok(columns);
            }
        };
        let generator = self.generator().valid();
        let (fake_b, idt_b) = both(&generator, &real_a, &real_b)?;
        let mut columns = vec![
            column("real A", real_a),
            column("fake B", fake_b),
            column("real B", real_b),
        ];
        if with_identity {
            columns.push(column("idt B", idt_b));
        }
        Ok(columns)
    }
}
