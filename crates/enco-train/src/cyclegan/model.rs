//! The CycleGAN model: two generators, two discriminators, and the losses of one iteration
//! (official `models/cycle_gan_model.py`).

use burn::prelude::*;
use enco_loss::{GanLoss, identity_loss};
use enco_nn::{EncoBackend, NLayerDiscriminator, ResnetGenerator, WeightInit};

use crate::cyclegan::config::CycleGanConfig;
use crate::error::TrainError;
use crate::model::DiscriminatorLosses;

/// The four networks of CycleGAN.
#[derive(Module, Debug)]
pub struct CycleGanModel<B: EncoBackend> {
    /// G_A: A → B.
    pub g_a: ResnetGenerator<B>,
    /// G_B: B → A.
    pub g_b: ResnetGenerator<B>,
    /// D_A: judges domain B (real_B against fake_B).
    pub d_a: NLayerDiscriminator<B>,
    /// D_B: judges domain A (real_A against fake_A).
    pub d_b: NLayerDiscriminator<B>,
}

impl CycleGanConfig {
    /// Builds the model with the official initialisation (seeds `seed` … `seed + 3` for G_A,
    /// G_B, D_A, D_B).
    pub fn init<B: EncoBackend>(&self, device: &B::Device) -> Result<CycleGanModel<B>, TrainError> {
        for (name, value) in [
            ("model.lambda_a", self.lambda_a),
            ("model.lambda_b", self.lambda_b),
            ("model.lambda_identity", self.lambda_identity),
        ] {
            if !(value >= 0.0 && value.is_finite()) {
                return Err(TrainError::InvalidOption {
                    option: name,
                    reason: format!("must be a finite value ≥ 0, got {value}"),
                });
            }
        }
        let g = self.generator_config();
        let d = self.discriminator_config();
        g.validate()?;
        d.validate()?;
        let seed = |i: u64| WeightInit::official(self.seed.wrapping_add(i));
        Ok(CycleGanModel {
            g_a: g.init_with(&mut seed(0), device),
            g_b: g.init_with(&mut seed(1), device),
            d_a: d.init_with(&mut seed(2), device),
            d_b: d.init_with(&mut seed(3), device),
        })
    }
}

/// The four translations of one iteration's forward pass (docs/reference.md §16.4).
#[derive(Debug, Clone)]
pub struct CycleGanPass<B: EncoBackend> {
    /// G_A(real_A).
    pub fake_b: Tensor<B, 4>,
    /// G_B(fake_B).
    pub rec_a: Tensor<B, 4>,
    /// G_B(real_B).
    pub fake_a: Tensor<B, 4>,
    /// G_A(fake_A).
    pub rec_b: Tensor<B, 4>,
}

/// The generator step's losses (docs/reference.md §16.3).
#[derive(Debug, Clone)]
pub struct CycleGanGeneratorLosses<B: EncoBackend> {
    /// `G_A + G_B + cycle_A + cycle_B + idt_A + idt_B`.
    pub loss: Tensor<B, 1>,
    /// `mean((D_A(fake_B) − 1)²)`.
    pub gan_a: Tensor<B, 1>,
    /// `mean((D_B(fake_A) − 1)²)`.
    pub gan_b: Tensor<B, 1>,
    /// `λ_A·mean|rec_A − real_A|`.
    pub cycle_a: Tensor<B, 1>,
    /// `λ_B·mean|rec_B − real_B|`.
    pub cycle_b: Tensor<B, 1>,
    /// `λ_B·λ_idt·mean|G_A(real_B) − real_B|` (0 without identity).
    pub idt_a: Tensor<B, 1>,
    /// `λ_A·λ_idt·mean|G_B(real_A) − real_A|` (0 without identity).
    pub idt_b: Tensor<B, 1>,
    /// D_A(fake_B).
    pub pred_a: Tensor<B, 4>,
    /// D_B(fake_A).
    pub pred_b: Tensor<B, 4>,
    /// G_A(real_B) and G_B(real_A), with identity.
    pub identities: Option<(Tensor<B, 4>, Tensor<B, 4>)>,
}

impl<B: EncoBackend> CycleGanModel<B> {
    /// The forward pass: `fake_B = G_A(real_A)`, `rec_A = G_B(fake_B)`, `fake_A = G_B(real_B)`,
    /// `rec_B = G_A(fake_A)`.
    ///
    /// # Shapes
    /// - `real_a`, `real_b` `[B, C, H, W]` (C the generators' `input_nc` and `output_nc`; H and
    ///   W multiples of 4, at least 8)
    /// - `fake_b` and `rec_a` the shape of `real_a`, `fake_a` and `rec_b` that of `real_b`
    pub fn generate(
        &self,
        real_a: Tensor<B, 4>,
        real_b: Tensor<B, 4>,
    ) -> Result<CycleGanPass<B>, TrainError> {
        let fake_b = self.g_a.forward(real_a)?;
        let rec_a = self.g_b.forward(fake_b.clone())?;
        let fake_a = self.g_b.forward(real_b)?;
        let rec_b = self.g_a.forward(fake_a.clone())?;
        Ok(CycleGanPass {
            fake_b,
            rec_a,
            fake_a,
            rec_b,
        })
    }

    /// The generator objective, with the discriminators as they are (the caller freezes them;
    /// in the official order they have not been updated yet in this iteration).
    ///
    /// # Shapes
    /// - `real_a`, `real_b` `[B, C, H, W]`, as given to [`CycleGanModel::generate`]
    /// - every loss `[1]`; `pred_a` `[B, 1, H', W']` (D_A's `output_size` of H and W),
    ///   `pred_b` likewise; `identities` `(G_A(real_B), G_B(real_A))` shaped like `real_b`
    ///   and `real_a`
    pub fn generator_losses(
        &self,
        config: &CycleGanConfig,
        pass: &CycleGanPass<B>,
        real_a: Tensor<B, 4>,
        real_b: Tensor<B, 4>,
    ) -> Result<CycleGanGeneratorLosses<B>, TrainError> {
        let device = real_a.device();
        let (idt_a, idt_b, identities) = if config.lambda_identity > 0.0 {
            let g_a_of_b = self.g_a.forward(real_b.clone())?;
            let g_b_of_a = self.g_b.forward(real_a.clone())?;
            let idt_a = identity_loss(real_b.clone(), g_a_of_b.clone())
                .mul_scalar(config.lambda_b * config.lambda_identity);
            let idt_b = identity_loss(real_a.clone(), g_b_of_a.clone())
                .mul_scalar(config.lambda_a * config.lambda_identity);
            (idt_a, idt_b, Some((g_a_of_b, g_b_of_a)))
        } else {
            let zero = || Tensor::zeros([1], &device);
            (zero(), zero(), None)
        };
        let gan = GanLoss {
            mode: config.gan_mode,
        };
        let pred_a = self.d_a.forward(pass.fake_b.clone())?;
        let pred_b = self.d_b.forward(pass.fake_a.clone())?;
        let gan_a = gan.generator_loss(pred_a.clone());
        let gan_b = gan.generator_loss(pred_b.clone());
        let cycle_a = identity_loss(real_a, pass.rec_a.clone()).mul_scalar(config.lambda_a);
        let cycle_b = identity_loss(real_b, pass.rec_b.clone()).mul_scalar(config.lambda_b);
        let loss = gan_a.clone()
            + gan_b.clone()
            + cycle_a.clone()
            + cycle_b.clone()
            + idt_a.clone()
            + idt_b.clone();
        Ok(CycleGanGeneratorLosses {
            loss,
            gan_a,
            gan_b,
            cycle_a,
            cycle_b,
            idt_a,
            idt_b,
            pred_a,
            pred_b,
            identities,
        })
    }

    /// The loss of one discriminator on a real batch and a (pooled, detached) fake batch:
    /// `0.5·(mean((D(real) − 1)²) + mean(D(fake)²))` (docs/reference.md §16.3).
    ///
    /// # Shapes
    /// - `real`, `fake` `[B, C, H, W]`
    /// - `pred_real`, `pred_fake` `[B, 1, H', W']` (D's `output_size` of H and W); losses `[1]`
    pub fn discriminator_loss(
        config: &CycleGanConfig,
        discriminator: &NLayerDiscriminator<B>,
        real: Tensor<B, 4>,
        fake: Tensor<B, 4>,
    ) -> Result<DiscriminatorLosses<B>, TrainError> {
        // D is called on the real batch first, as the official `backward_D_basic` does.
        let pred_real = discriminator.forward(real)?;
        let pred_fake = discriminator.forward(fake.detach())?;
        Ok(DiscriminatorLosses::from_predictions(
            config.gan_mode,
            pred_fake,
            pred_real,
        ))
    }
}
