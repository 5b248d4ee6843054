//! One CUT / FastCUT training iteration with its three Adam optimisers (official
//! `CUTModel.optimize_parameters`).

use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;
use enco_nn::{EncoAutodiffBackend, NLayerDiscriminator, PatchSampleHeads, ResnetGenerator};
use rand::{Rng, RngExt};

use crate::adam::FusedAdamConfig;
use crate::cut::config::CutConfig;
use crate::cut::model::CutModel;
use crate::error::TrainError;
use crate::gradient_sync::GradientSync;
use crate::module_slot::take_module;
use crate::step::{AdamOf, AdamRecord, StepLosses, restore_adam};

/// The optimiser states of a [`CutTrainer`] (G, D, F).
pub type CutAdamRecords<B> = (
    AdamRecord<ResnetGenerator<B>, B>,
    AdamRecord<NLayerDiscriminator<B>, B>,
    AdamRecord<PatchSampleHeads<B>, B>,
);

/// Trains a [`CutModel`]: the model and one Adam per network, all at `--lr`.
#[derive(Clone)]
pub struct CutTrainer<B: EncoAutodiffBackend> {
    /// The model being trained.
    pub model: CutModel<B>,
    /// The configuration.
    pub config: CutConfig,
    optim_g: AdamOf<ResnetGenerator<B>, B>,
    optim_d: AdamOf<NLayerDiscriminator<B>, B>,
    optim_f: AdamOf<PatchSampleHeads<B>, B>,
    sync: GradientSync,
}

fn adam(config: &CutConfig) -> FusedAdamConfig {
    FusedAdamConfig::new()
        .with_beta_1(config.beta1)
        .with_beta_2(config.beta2)
        .with_epsilon(config.adam_epsilon)
}

impl<B: EncoAutodiffBackend> CutTrainer<B> {
    /// Wraps a model with fresh optimisers.
    pub fn new(model: CutModel<B>, config: CutConfig) -> Self {
        let adam = adam(&config);
        Self {
            model,
            optim_g: adam.init(),
            optim_d: adam.init(),
            optim_f: adam.init(),
            sync: GradientSync::Local,
            config,
        }
    }

    /// How the gradients reach the optimisers: as computed ([`GradientSync::Local`], the
    /// default) or averaged over data-parallel replicas.
    pub fn set_gradient_sync(&mut self, sync: GradientSync) {
        self.sync = sync;
    }

    /// The optimiser states (G, D, F), e.g. for a checkpoint.
    pub fn optimizer_records(&self) -> CutAdamRecords<B> {
        (
            self.optim_g.to_record(),
            self.optim_d.to_record(),
            self.optim_f.to_record(),
        )
    }

    /// Restores the optimiser states (G, D, F).
    pub fn load_optimizer_records(
        &mut self,
        g: AdamRecord<ResnetGenerator<B>, B>,
        d: AdamRecord<NLayerDiscriminator<B>, B>,
        f: AdamRecord<PatchSampleHeads<B>, B>,
    ) {
        let adam = adam(&self.config);
        restore_adam(&mut self.optim_g, &adam, g);
        restore_adam(&mut self.optim_d, &adam, d);
        restore_adam(&mut self.optim_f, &adam, f);
    }

    /// One iteration (docs/reference.md §15.6): the flip coin (with flip equivariance), G forward; D step
    /// (Adam on D); G step with the updated D frozen (GAN and NCE losses, Adam on G and F).
    ///
    /// `lr_factor` scales `--lr` (the schedule of docs/reference.md §7.2).
    ///
    /// # Shapes
    /// - `real_a`, `real_b` `[B, C, H, W]`, the same shape, H and W multiples of 4 and at
    ///   least 8; the losses come back as host `f32` values
    pub fn step<R: Rng + Send + ?Sized>(
        &mut self,
        real_a: Tensor<B, 4>,
        real_b: Tensor<B, 4>,
        lr_factor: f64,
        rng: &mut R,
    ) -> Result<StepLosses, TrainError> {
        // Before any update: a configuration edited after the model was built is checked again.
        self.config.validate()?;
        {
            let config = &self.config;
            let flipped = config.flip_equivariance && rng.random::<f64>() < 0.5;
            let pass = self
                .model
                .generate(config, real_a.clone(), real_b.clone(), flipped)?;
            let lr = config.lr * lr_factor;

            let d_losses = self
                .model
                .discriminator_losses(config, &pass, real_b.clone())?;
            let grads = d_losses.loss.backward();
            let grads_d = GradientsParams::from_grads(grads, &self.model.discriminator);
            let grads_d = self.sync.apply::<B>(grads_d)?;
            let discriminator = take_module(&mut self.model.discriminator);
            self.model.discriminator = self.optim_d.step(lr, discriminator, grads_d);

            let frozen = CutModel {
                generator: self.model.generator.clone(),
                discriminator: self.model.discriminator.clone().no_grad(),
                heads: self.model.heads.clone(),
            };
            let g_losses = frozen.generator_losses(config, &pass, real_a, real_b, None, rng)?;
            let mut grads = g_losses.loss.backward();
            let grads_g = GradientsParams::from_module(&mut grads, &self.model.generator);
            let grads_f = GradientsParams::from_module(&mut grads, &self.model.heads);
            let grads_g = self.sync.apply::<B>(grads_g)?;
            let grads_f = self.sync.apply::<B>(grads_f)?;
            // The frozen copy shares G's and the heads' parameters: gone before Adam updates
            // them in place.
            drop(frozen);
            let generator = take_module(&mut self.model.generator);
            self.model.generator = self.optim_g.step(lr, generator, grads_g);
            let heads = take_module(&mut self.model.heads);
            self.model.heads = self.optim_f.step(lr, heads, grads_f);

            let scalar = |t: Tensor<B, 1>| t.into_scalar().elem::<f32>();
            Ok(StepLosses {
                d: scalar(d_losses.loss),
                g_gan: scalar(g_losses.gan),
                content: scalar(g_losses.nce.loss),
                identity: g_losses.nce_y.map(|y| scalar(y.loss)).unwrap_or(0.0),
                g: scalar(g_losses.loss),
            })
        }
    }
}
