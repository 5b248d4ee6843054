//! One full EnCo training iteration with three Adam optimisers (docs/reference.md §6, §7.1).

use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;
use enco_nn::EncoAutodiffBackend;
use enco_nn::{EncoHeads, NLayerDiscriminator, ResnetGenerator};
use rand::Rng;

use crate::adam::{FusedAdam, FusedAdamConfig};
use crate::config::EncoConfig;
use crate::error::TrainError;
use crate::gradient_sync::GradientSync;
use crate::model::EncoModel;
use crate::module_slot::take_module;

/// Adam as the official code uses it: `torch.optim.Adam(β₁, β₂, eps)`, no weight decay
/// (docs/reference.md §7.1), with the β and ε of `config`.
pub fn official_adam(config: &EncoConfig) -> FusedAdamConfig {
    FusedAdamConfig::new()
        .with_beta_1(config.beta1)
        .with_beta_2(config.beta2)
        .with_epsilon(config.adam_epsilon)
}

/// The Adam optimiser of one network.
pub type AdamOf<M, B> = OptimizerAdaptor<FusedAdam, M, B>;

/// The state of [`AdamOf`], as stored in checkpoints.
pub type AdamRecord<M, B> = <AdamOf<M, B> as Optimizer<M, B>>::Record;

/// Restores `optimizer` from `record` (Burn's optimisers load a record by value, so the current
/// one is swapped for a fresh one from `config` while it loads).
pub(crate) fn restore_adam<B: EncoAutodiffBackend, M: AutodiffModule<B>>(
    optimizer: &mut AdamOf<M, B>,
    config: &FusedAdamConfig,
    record: AdamRecord<M, B>,
) {
    let current = std::mem::replace(optimizer, config.init());
    *optimizer = current.load_record(record);
}

/// The scalar losses of one iteration.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StepLosses {
    /// D loss `0.5·(fake + real)`.
    pub d: f32,
    /// λ_GAN·L_GAN of the G step.
    pub g_gan: f32,
    /// λ_NCE·L_EnCo.
    pub content: f32,
    /// λ_IDT·L_idt (0 outside the identity phase).
    pub identity: f32,
    /// Total generator objective.
    pub g: f32,
}

/// Trains an [`EncoModel`]: holds the model and the three optimisers (G, D, heads), each with
/// its own learning rate (TTUR).
#[derive(Clone)]
pub struct EncoTrainer<B: EncoAutodiffBackend> {
    /// The model being trained.
    pub model: EncoModel<B>,
    /// The configuration.
    pub config: EncoConfig,
    optim_g: AdamOf<ResnetGenerator<B>, B>,
    optim_d: AdamOf<NLayerDiscriminator<B>, B>,
    optim_f: AdamOf<EncoHeads<B>, B>,
    sync: GradientSync,
}

impl<B: EncoAutodiffBackend> EncoTrainer<B> {
    /// Wraps a model with fresh optimisers.
    pub fn new(model: EncoModel<B>, config: EncoConfig) -> Self {
        let adam = official_adam(&config);
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

    /// The generator's optimiser.
    pub fn optimizer_g(&self) -> &AdamOf<ResnetGenerator<B>, B> {
        &self.optim_g
    }

    /// The discriminator's optimiser.
    pub fn optimizer_d(&self) -> &AdamOf<NLayerDiscriminator<B>, B> {
        &self.optim_d
    }

    /// The heads' optimiser.
    pub fn optimizer_f(&self) -> &AdamOf<EncoHeads<B>, B> {
        &self.optim_f
    }

    /// Restores the optimiser states (G, D, heads), e.g. from a checkpoint.
    pub fn load_optimizer_records(
        &mut self,
        g: AdamRecord<ResnetGenerator<B>, B>,
        d: AdamRecord<NLayerDiscriminator<B>, B>,
        f: AdamRecord<EncoHeads<B>, B>,
    ) {
        let adam = official_adam(&self.config);
        restore_adam(&mut self.optim_g, &adam, g);
        restore_adam(&mut self.optim_d, &adam, d);
        restore_adam(&mut self.optim_f, &adam, f);
    }

    /// One iteration (docs/reference.md §6): G forward; D step (loss on the detached fake and the real
    /// batch, Adam on D); G step with D frozen and already updated (adversarial, content and
    /// identity losses, Adam on G and on the heads).
    ///
    /// `lr_factor` scales the three base learning rates (the schedule of docs/reference.md §7.2);
    /// `identity_phase` runs G on real_B too and adds the identity loss. `injected_ids`
    /// replaces DAG sampling (`[pair][batch]`).
    ///
    /// How the step's kernels use the CPU's threads is the caller's choice: run it inside
    /// [`Executor::run`](enco_kernels::Executor::run).
    ///
    /// # Shapes
    /// - `real_a`, `real_b` `[B, C, H, W]`, the same shape, H and W multiples of 4 and at
    ///   least 8; `injected_ids[pair]` one id list per image
    /// - the losses come back as host `f32` values
    pub fn step<R: Rng + Send + ?Sized>(
        &mut self,
        real_a: Tensor<B, 4>,
        real_b: Tensor<B, 4>,
        identity_phase: bool,
        lr_factor: f64,
        injected_ids: Option<&[Vec<Vec<usize>>]>,
        rng: &mut R,
    ) -> Result<StepLosses, TrainError> {
        {
            let config = &self.config;
            let pass = self
                .model
                .generate(config, real_a, real_b.clone(), identity_phase)?;

            // D step.
            let d_losses = self
                .model
                .discriminator_losses(config, &pass, real_b.clone())?;
            let grads = d_losses.loss.backward();
            let grads_d = GradientsParams::from_grads(grads, &self.model.discriminator);
            let grads_d = self.sync.apply::<B>(grads_d)?;
            let discriminator = take_module(&mut self.model.discriminator);
            self.model.discriminator =
                self.optim_d
                    .step(config.lr_d * lr_factor, discriminator, grads_d);

            // G step with D frozen: gradients flow through D into G, none into D's parameters.
            let frozen = EncoModel {
                generator: self.model.generator.clone(),
                discriminator: self.model.discriminator.clone().no_grad(),
                heads: self.model.heads.clone(),
            };
            let g_losses = frozen.generator_losses(config, &pass, real_b, injected_ids, rng)?;
            let mut grads = g_losses.loss.backward();
            let grads_g = GradientsParams::from_module(&mut grads, &self.model.generator);
            let grads_f = GradientsParams::from_module(&mut grads, &self.model.heads);
            let grads_g = self.sync.apply::<B>(grads_g)?;
            let grads_f = self.sync.apply::<B>(grads_f)?;
            // The frozen copy shares G's and the heads' parameters: gone before Adam updates
            // them in place.
            drop(frozen);
            let generator = take_module(&mut self.model.generator);
            self.model.generator = self
                .optim_g
                .step(config.lr_g * lr_factor, generator, grads_g);
            let heads = take_module(&mut self.model.heads);
            self.model.heads = self.optim_f.step(config.lr_f * lr_factor, heads, grads_f);

            let scalar = |t: Tensor<B, 1>| t.into_scalar().elem::<f32>();
            Ok(StepLosses {
                d: scalar(d_losses.loss),
                g_gan: scalar(g_losses.gan),
                content: scalar(g_losses.content),
                identity: g_losses.identity.map(scalar).unwrap_or(0.0),
                g: scalar(g_losses.loss),
            })
        }
    }
}
