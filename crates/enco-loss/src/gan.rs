//! Adversarial losses (docs/reference.md §5.1).

use burn::nn::loss::BinaryCrossEntropyLossConfig;
use burn::prelude::*;
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};

/// The adversarial objective (`--gan_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum GanMode {
    /// Least squares: `mean((D − target)²)`, real target 1, fake target 0 (the default).
    #[default]
    Lsgan,
    /// Hinge: `mean(relu(1 − D))` for real, `mean(relu(1 + D))` for fake; the generator uses
    /// the real form on its fakes, as the official `GANLoss('hinge')` does.
    Hinge,
    /// Binary cross-entropy with logits against 1 / 0.
    Vanilla,
}

/// The official `GANLoss(gan_mode)`: a loss of a score map against "real" or "fake".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct GanLoss {
    /// Which objective.
    pub mode: GanMode,
}

impl GanLoss {
    /// The loss of `prediction` against the real (`true`) or fake (`false`) target, averaged
    /// over every element.
    ///
    /// # Shapes
    /// - `prediction` any `[B, 1, H, W]` score map, output `[1]`
    pub fn loss<B: Backend>(&self, prediction: Tensor<B, 4>, target_is_real: bool) -> Tensor<B, 1> {
        match self.mode {
            GanMode::Lsgan => {
                let target = if target_is_real { 1.0 } else { 0.0 };
                prediction.sub_scalar(target).powi_scalar(2).mean()
            }
            GanMode::Hinge => {
                if target_is_real {
                    relu(prediction.neg().add_scalar(1.0)).mean()
                } else {
                    relu(prediction.add_scalar(1.0)).mean()
                }
            }
            GanMode::Vanilla => {
                let device = prediction.device();
                let logits = prediction.flatten::<1>(0, 3);
                let n = logits.dims()[0];
                let targets = if target_is_real {
                    Tensor::<B, 1, Int>::ones([n], &device)
                } else {
                    Tensor::<B, 1, Int>::zeros([n], &device)
                };
                BinaryCrossEntropyLossConfig::new()
                    .with_logits(true)
                    .init(&device)
                    .forward(logits, targets)
            }
        }
    }

    /// Discriminator loss `0.5·(L(D(fake), fake) + L(D(real), real))` (docs/reference.md §5.1). Returns
    /// `(total, fake part, real part)`.
    ///
    /// # Shapes
    /// - `pred_fake`, `pred_real` `[B, 1, H, W]` score maps, each output `[1]`
    pub fn discriminator_loss<B: Backend>(
        &self,
        pred_fake: Tensor<B, 4>,
        pred_real: Tensor<B, 4>,
    ) -> (Tensor<B, 1>, Tensor<B, 1>, Tensor<B, 1>) {
        let fake = self.loss(pred_fake, false);
        let real = self.loss(pred_real, true);
        ((fake.clone() + real.clone()).mul_scalar(0.5), fake, real)
    }

    /// Generator loss `L(D(fake), real)` (before λ_GAN).
    ///
    /// # Shapes
    /// - `pred_fake` `[B, 1, H, W]` score map, output `[1]`
    pub fn generator_loss<B: Backend>(&self, pred_fake: Tensor<B, 4>) -> Tensor<B, 1> {
        self.loss(pred_fake, true)
    }
}
