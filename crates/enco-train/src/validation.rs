//! Checks of a whole [`TrainingConfig`] before any work: every impossible value or combination
//! is one [`TrainError::InvalidOption`] naming the field.

use enco_data::Preprocess;
use enco_nn::{NLayerDiscriminatorConfig, ResnetGeneratorConfig};

use crate::error::TrainError;
use crate::model::paired_layers;
use crate::model_config::ModelConfig;
use crate::run::TrainingConfig;

fn invalid(option: &'static str, reason: impl Into<String>) -> TrainError {
    TrainError::InvalidOption {
        option,
        reason: reason.into(),
    }
}

fn positive(option: &'static str, value: usize) -> Result<(), TrainError> {
    if value == 0 {
        return Err(invalid(option, "must be at least 1"));
    }
    Ok(())
}

fn finite_at_least(option: &'static str, value: f64, min: f64) -> Result<(), TrainError> {
    if !value.is_finite() || value < min {
        return Err(invalid(
            option,
            format!("must be a finite number ≥ {min}, got {value}"),
        ));
    }
    Ok(())
}

fn positive_number(option: &'static str, value: f64) -> Result<(), TrainError> {
    if !value.is_finite() || value <= 0.0 {
        return Err(invalid(
            option,
            format!("must be a positive number, got {value}"),
        ));
    }
    Ok(())
}

fn beta(option: &'static str, value: f32) -> Result<(), TrainError> {
    if !(0.0..1.0).contains(&value) {
        return Err(invalid(option, format!("must lie in [0, 1), got {value}")));
    }
    Ok(())
}

/// λ_GAN, λ_NCE and the PatchNCE temperature of EnCo and CUT.
fn contrastive_terms(lambda_gan: f64, lambda_nce: f64, nce_t: f64) -> Result<(), TrainError> {
    finite_at_least("model.lambda_gan", lambda_gan, 0.0)?;
    finite_at_least("model.lambda_nce", lambda_nce, 0.0)?;
    positive_number("model.nce_t", nce_t)
}

fn networks(
    generator: &ResnetGeneratorConfig,
    discriminator: &NLayerDiscriminatorConfig,
) -> Result<(), TrainError> {
    positive("model.generator.ngf", generator.ngf)?;
    positive("model.discriminator.ndf", discriminator.ndf)?;
    positive("model.discriminator.n_layers", discriminator.n_layers)?;
    if generator.input_nc != 3 || generator.output_nc != 3 || discriminator.input_nc != 3 {
        return Err(invalid(
            "model.generator.input_nc",
            "the networks translate RGB images: 3 channels in and out",
        ));
    }
    Ok(())
}

/// The number of modules of the official ResNet generator with `n_blocks` blocks (28 + blocks
/// with the anti-aliased up-sampling, 26 + blocks without).
fn generator_modules(generator: &ResnetGeneratorConfig) -> usize {
    let down = if generator.no_antialias { 3 } else { 4 };
    let up = if generator.no_antialias_up { 3 } else { 4 };
    4 + 2 * down + generator.n_blocks + 2 * up + 3
}

fn layers_in_range(
    option: &'static str,
    layers: &[usize],
    generator: &ResnetGeneratorConfig,
) -> Result<(), TrainError> {
    let modules = generator_modules(generator);
    if let Some(&bad) = layers.iter().find(|&&l| l >= modules) {
        return Err(invalid(
            option,
            format!("layer {bad} is out of range: the generator has modules 0..{modules}"),
        ));
    }
    Ok(())
}

impl TrainingConfig {
    /// Checks every option and the combinations between them without building anything:
    /// sizes, counts and rates in range, tap lists of the right shape and within the generator.
    /// (Tap pairs whose channel counts differ are found when the model is built, which
    /// [`TrainingRun::new`](crate::TrainingRun::new) does before it writes anything.)
    pub fn validate(&self) -> Result<(), TrainError> {
        positive("batch_size", self.batch_size)?;
        if self.n_epochs + self.n_epochs_decay == 0 {
            return Err(invalid(
                "n_epochs",
                "n_epochs + n_epochs_decay must be at least 1",
            ));
        }
        if self.warmup_epochs > self.n_epochs + self.n_epochs_decay {
            return Err(invalid(
                "warmup_epochs",
                format!(
                    "{} warm-up epochs exceed the {} epochs of the run",
                    self.warmup_epochs,
                    self.n_epochs + self.n_epochs_decay
                ),
            ));
        }
        positive("keep_checkpoints", self.keep_checkpoints)?;
        positive("prefetch", self.prefetch)?;
        if let Some(evaluation) = &self.evaluation {
            evaluation.validate()?;
        }
        if self.max_dataset_size == Some(0) {
            return Err(invalid("max_dataset_size", "must be at least 1"));
        }
        let t = &self.transform;
        positive("transform.load_size", t.load_size as usize)?;
        positive("transform.crop_size", t.crop_size as usize)?;
        let resized_then_cropped = matches!(
            t.preprocess,
            Preprocess::ResizeAndCrop | Preprocess::ScaleWidthAndCrop
        );
        if resized_then_cropped && t.load_size < t.crop_size {
            return Err(invalid(
                "transform.crop_size",
                format!(
                    "the crop ({}) is larger than the load size ({})",
                    t.crop_size, t.load_size
                ),
            ));
        }
        match &self.model {
            ModelConfig::Enco(c) => {
                networks(&c.generator, &c.discriminator)?;
                let layers = paired_layers(&c.nce_layers)?;
                layers_in_range("model.nce_layers", &layers, &c.generator)?;
                if c.head_nc < 2 {
                    return Err(invalid("model.head_nc", "must be at least 2"));
                }
                positive("model.sampler.num_patches", c.sampler.num_patches)?;
                positive("model.sampler.oversample_ratio", c.sampler.oversample_ratio)?;
                if !(0.0..=1.0).contains(&c.sampler.random_ratio) {
                    return Err(invalid(
                        "model.sampler.random_ratio",
                        format!("must lie in [0, 1], got {}", c.sampler.random_ratio),
                    ));
                }
                contrastive_terms(c.lambda_gan, c.lambda_nce, c.nce_t)?;
                finite_at_least("model.lambda_idt", c.lambda_idt, 0.0)?;
                positive_number("model.lr_g", c.lr_g)?;
                positive_number("model.lr_d", c.lr_d)?;
                positive_number("model.lr_f", c.lr_f)?;
                beta("model.beta1", c.beta1)?;
                beta("model.beta2", c.beta2)?;
            }
            ModelConfig::Cut(c) => {
                networks(&c.generator, &c.discriminator)?;
                c.validate()?;
                layers_in_range("model.nce_layers", &c.nce_layers, &c.generator)?;
                contrastive_terms(c.lambda_gan, c.lambda_nce, c.nce_t)?;
                positive_number("model.lr", c.lr)?;
                beta("model.beta1", c.beta1)?;
                beta("model.beta2", c.beta2)?;
            }
            ModelConfig::CycleGan(c) => {
                networks(&c.generator, &c.discriminator)?;
                finite_at_least("model.lambda_a", c.lambda_a, 0.0)?;
                finite_at_least("model.lambda_b", c.lambda_b, 0.0)?;
                finite_at_least("model.lambda_identity", c.lambda_identity, 0.0)?;
                positive_number("model.lr", c.lr)?;
                beta("model.beta1", c.beta1)?;
            }
        }
        Ok(())
    }
}
