//! The guard against non-finite training: what a run does when a loss goes NaN or infinite, and
//! the checks behind it (the losses of every step, the parameters before every checkpoint).

use burn::module::{ModuleVisitor, Param};
use burn::prelude::*;
use enco_nn::EncoAutodiffBackend;
use serde::{Deserialize, Serialize};

use crate::model_trainer::ModelTrainer;
use crate::step::StepLosses;

/// What a run does at a step whose losses are not finite (`--nan-policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum NanPolicy {
    /// Stop with an error naming the iteration and the loss; no checkpoint of that state is
    /// written (the default).
    #[default]
    Stop,
    /// Undo the step (model, optimisers and image pools as before it) and go on with the next
    /// batch. Keeps a copy of the trainer's state during every step.
    SkipStep,
}

/// The first loss of a step that is NaN or infinite, by its log name.
pub fn first_non_finite(losses: &StepLosses) -> Option<(&'static str, f32)> {
    [
        ("loss_D", losses.d),
        ("loss_G", losses.g),
        ("loss_G_GAN", losses.g_gan),
        ("loss_EnCo", losses.content),
        ("loss_idt", losses.identity),
    ]
    .into_iter()
    .find(|(_, v)| !v.is_finite())
}

/// Counts the non-finite values of every parameter.
struct NonFiniteCount(usize);

impl<B: Backend> ModuleVisitor<B> for NonFiniteCount {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let value = param.val();
        let bad = value.clone().is_nan().int().sum() + value.is_inf().int().sum();
        self.0 += bad.into_scalar().elem::<i64>() as usize;
    }
}

impl<B: EncoAutodiffBackend> ModelTrainer<B> {
    /// The number of NaN or infinite values among the parameters of every network.
    pub fn non_finite_parameters(&self) -> usize {
        let mut count = NonFiniteCount(0);
        self.visit(&mut count);
        count.0
    }
}
