//! One CycleGAN training iteration (official `CycleGANModel.optimize_parameters`): G first,
//! then D.

use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;
use enco_nn::{EncoAutodiffBackend, NLayerDiscriminator, ResnetGenerator};
use rand::Rng;

use crate::adam::FusedAdamConfig;
use crate::cyclegan::config::CycleGanConfig;
use crate::cyclegan::image_pool::ImagePool;
use crate::cyclegan::model::CycleGanModel;
use crate::error::TrainError;
use crate::gradient_sync::GradientSync;
use crate::module_slot::take_module;
use crate::step::{AdamOf, AdamRecord, StepLosses, restore_adam};

/// The optimiser states of a [`CycleGanTrainer`] (G_A, G_B, D_A, D_B).
pub type CycleGanAdamRecords<B> = (
    AdamRecord<ResnetGenerator<B>, B>,
    AdamRecord<ResnetGenerator<B>, B>,
    AdamRecord<NLayerDiscriminator<B>, B>,
    AdamRecord<NLayerDiscriminator<B>, B>,
);

/// Trains a [`CycleGanModel`]. The official code has one Adam over G_A and G_B and one over
/// D_A and D_B; Adam works per parameter, so one optimiser per network is the same update.
#[derive(Clone)]
pub struct CycleGanTrainer<B: EncoAutodiffBackend> {
    /// The model being trained.
    pub model: CycleGanModel<B>,
    /// The configuration.
    pub config: CycleGanConfig,
    /// The pool of fake A images D_B is trained on.
    pub fake_a_pool: ImagePool,
    /// The pool of fake B images D_A is trained on.
    pub fake_b_pool: ImagePool,
    optim_g_a: AdamOf<ResnetGenerator<B>, B>,
    optim_g_b: AdamOf<ResnetGenerator<B>, B>,
    optim_d_a: AdamOf<NLayerDiscriminator<B>, B>,
    optim_d_b: AdamOf<NLayerDiscriminator<B>, B>,
    sync: GradientSync,
}

fn adam(config: &CycleGanConfig) -> FusedAdamConfig {
    FusedAdamConfig::new()
        .with_beta_1(config.beta1)
        .with_beta_2(0.999)
        .with_epsilon(config.adam_epsilon)
}

impl<B: EncoAutodiffBackend> CycleGanTrainer<B> {
    /// Wraps a model with fresh optimisers and empty pools.
    pub fn new(model: CycleGanModel<B>, config: CycleGanConfig) -> Self {
        let adam = adam(&config);
        Self {
            model,
            fake_a_pool: ImagePool::new(config.pool_size),
            fake_b_pool: ImagePool::new(config.pool_size),
            optim_g_a: adam.init(),
            optim_g_b: adam.init(),
            optim_d_a: adam.init(),
            optim_d_b: adam.init(),
            sync: GradientSync::Local,
            config,
        }
    }

    /// How the gradients reach the optimisers: as computed ([`GradientSync::Local`], the
    /// default) or averaged over data-parallel replicas.
    pub fn set_gradient_sync(&mut self, sync: GradientSync) {
        self.sync = sync;
    }

    /// The optimiser states, e.g. for a checkpoint.
    pub fn optimizer_records(&self) -> CycleGanAdamRecords<B> {
        (
            self.optim_g_a.to_record(),
            self.optim_g_b.to_record(),
            self.optim_d_a.to_record(),
            self.optim_d_b.to_record(),
        )
    }

    /// Restores the optimiser states.
    pub fn load_optimizer_records(&mut self, records: CycleGanAdamRecords<B>) {
        let (g_a, g_b, d_a, d_b) = records;
        let adam = adam(&self.config);
        restore_adam(&mut self.optim_g_a, &adam, g_a);
        restore_adam(&mut self.optim_g_b, &adam, g_b);
        restore_adam(&mut self.optim_d_a, &adam, d_a);
        restore_adam(&mut self.optim_d_b, &adam, d_b);
    }

    /// One iteration (docs/reference.md §16.4): the four translations; the G step against the D's of the
    /// previous iteration (frozen), Adam on G_A and G_B; the D step on the pooled fakes of this
    /// iteration's forward pass, Adam on D_A and D_B. The pools draw from `rng`.
    ///
    /// Reports `d = D_A + D_B`, `g_gan = G_A + G_B`, `content` = the two cycle terms, `identity`
    /// = the two identity terms, `g` = the generator objective.
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
        TrainError::check_batches(real_a.dims(), real_b.dims())?;
        {
            let config = &self.config;
            let lr = config.lr * lr_factor;
            let pass = self.model.generate(real_a.clone(), real_b.clone())?;

            let frozen = CycleGanModel {
                g_a: self.model.g_a.clone(),
                g_b: self.model.g_b.clone(),
                d_a: self.model.d_a.clone().no_grad(),
                d_b: self.model.d_b.clone().no_grad(),
            };
            let g = frozen.generator_losses(config, &pass, real_a.clone(), real_b.clone())?;
            let mut grads = g.loss.backward();
            let grads_g_a = GradientsParams::from_module(&mut grads, &self.model.g_a);
            let grads_g_b = GradientsParams::from_module(&mut grads, &self.model.g_b);
            let grads_g_a = self.sync.apply::<B>(grads_g_a)?;
            let grads_g_b = self.sync.apply::<B>(grads_g_b)?;
            // The frozen copy shares the generators' parameters: gone before Adam updates them
            // in place.
            drop(frozen);
            let g_a = take_module(&mut self.model.g_a);
            self.model.g_a = self.optim_g_a.step(lr, g_a, grads_g_a);
            let g_b = take_module(&mut self.model.g_b);
            self.model.g_b = self.optim_g_b.step(lr, g_b, grads_g_b);

            let fake_b = self.fake_b_pool.query(pass.fake_b.clone(), rng);
            let d_a = CycleGanModel::discriminator_loss(config, &self.model.d_a, real_b, fake_b)?;
            let fake_a = self.fake_a_pool.query(pass.fake_a.clone(), rng);
            let d_b = CycleGanModel::discriminator_loss(config, &self.model.d_b, real_a, fake_a)?;
            let mut grads = (d_a.loss.clone() + d_b.loss.clone()).backward();
            let grads_d_a = GradientsParams::from_module(&mut grads, &self.model.d_a);
            let grads_d_b = GradientsParams::from_module(&mut grads, &self.model.d_b);
            let grads_d_a = self.sync.apply::<B>(grads_d_a)?;
            let grads_d_b = self.sync.apply::<B>(grads_d_b)?;
            let d_a_net = take_module(&mut self.model.d_a);
            self.model.d_a = self.optim_d_a.step(lr, d_a_net, grads_d_a);
            let d_b_net = take_module(&mut self.model.d_b);
            self.model.d_b = self.optim_d_b.step(lr, d_b_net, grads_d_b);

            let scalar = |t: Tensor<B, 1>| t.into_scalar().elem::<f32>();
            Ok(StepLosses {
                d: scalar(d_a.loss + d_b.loss),
                g_gan: scalar(g.gan_a + g.gan_b),
                content: scalar(g.cycle_a + g.cycle_b),
                identity: scalar(g.idt_a + g.idt_b),
                g: scalar(g.loss),
            })
        }
    }
}
