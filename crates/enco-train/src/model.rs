//! The EnCo model: generator, discriminator and heads, and the losses of one iteration
//! (docs/reference.md §5, §6).

use burn::prelude::*;
use enco_loss::{GanLoss, GanMode, enco_content_loss, identity_loss};
use enco_nn::EncoBackend;
use enco_nn::{
    EncoHeads, EncoHeadsConfig, GeneratorOutput, NLayerDiscriminator, ResnetGenerator, WeightInit,
    gather_patches,
};
use enco_sampling::{DagSampler, resize_bilinear};
use rand::Rng;

use crate::config::EncoConfig;
use crate::error::TrainError;

/// The three networks of EnCo: G, D and the heads F.
#[derive(Module, Debug)]
pub struct EncoModel<B: EncoBackend> {
    /// The generator.
    pub generator: ResnetGenerator<B>,
    /// The discriminator.
    pub discriminator: NLayerDiscriminator<B>,
    /// The projection and prediction heads.
    pub heads: EncoHeads<B>,
}

/// One encoder/decoder feature pair (docs/reference.md §2.1): generator layers and channel count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeaturePair {
    /// Encoder layer (k side), e.g. 3.
    pub encoder: usize,
    /// Decoder layer (q side), e.g. 28.
    pub decoder: usize,
    /// Channels of both features.
    pub channels: usize,
}

impl EncoConfig {
    /// Builds the model with the official initialisation (seeds `seed`, `seed+1`, `seed+2`).
    pub fn init<B: EncoBackend>(&self, device: &B::Device) -> Result<EncoModel<B>, TrainError> {
        self.sampler.init()?;
        self.generator.validate()?;
        self.discriminator.validate()?;
        let generator = self
            .generator
            .init_with(&mut WeightInit::official(self.seed), device);
        let discriminator = self
            .discriminator
            .init_with(&mut WeightInit::official(self.seed.wrapping_add(1)), device);
        let pairs = feature_pairs(&generator, &self.nce_layers)?;
        let heads = EncoHeadsConfig::new(pairs.iter().map(|p| p.channels).collect())
            .with_nc(self.head_nc)
            .with_norm(self.head_norm)
            .init_with(&mut WeightInit::official(self.seed.wrapping_add(2)), device);
        if self.head_nc < 2 {
            return Err(TrainError::InvalidOption {
                option: "model.head_nc",
                reason: format!("must be at least 2, got {}", self.head_nc),
            });
        }
        Ok(EncoModel {
            generator,
            discriminator,
            heads,
        })
    }
}

/// EnCo's tap list sorted, or an error when it is not an even number of distinct layers (an
/// encoder half and a decoder half).
pub(crate) fn paired_layers(layers: &[usize]) -> Result<Vec<usize>, TrainError> {
    let mut sorted = layers.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.is_empty() || !sorted.len().is_multiple_of(2) || sorted.len() != layers.len() {
        return Err(TrainError::InvalidOption {
            option: "model.nce_layers",
            reason: format!(
                "must be an even number of distinct layers (encoder half, decoder half), got \
                 {layers:?}"
            ),
        });
    }
    Ok(sorted)
}

/// Pairs the feature layers: the first half (ascending) is the encoder side, the second half
/// reversed the decoder side, so pair 0 is (first, last) (docs/reference.md §2.1).
pub fn feature_pairs<B: EncoBackend>(
    generator: &ResnetGenerator<B>,
    layers: &[usize],
) -> Result<Vec<FeaturePair>, TrainError> {
    let sorted = paired_layers(layers)?;
    let half = sorted.len() / 2;
    (0..half)
        .map(|i| {
            let encoder = sorted[i];
            let decoder = sorted[sorted.len() - 1 - i];
            let channels = generator.channels_at(encoder)?;
            let dec_channels = generator.channels_at(decoder)?;
            if channels != dec_channels {
                return Err(TrainError::InvalidOption {
                    option: "model.nce_layers",
                    reason: format!(
                        "layers {encoder} and {decoder} form a pair but have {channels} and \
                         {dec_channels} channels"
                    ),
                });
            }
            Ok(FeaturePair {
                encoder,
                decoder,
                channels,
            })
        })
        .collect()
}

/// The generator pass of one iteration (docs/reference.md §6 "forward").
#[derive(Debug, Clone)]
pub struct GeneratorPass<B: EncoBackend> {
    /// G(real_A).
    pub fake_b: Tensor<B, 4>,
    /// G(real_B), in the identity phase.
    pub idt_b: Option<Tensor<B, 4>>,
    /// Features of the real_A half, one per pair: `(encoder, decoder)`.
    pub pair_features: Vec<(Tensor<B, 4>, Tensor<B, 4>)>,
    /// The full G output (batch 2B in the identity phase).
    pub output: Tensor<B, 4>,
    /// Tapped features of the full G batch, in ascending layer order.
    pub features: Vec<Tensor<B, 4>>,
}

impl<B: EncoBackend> GeneratorPass<B> {
    /// Splits one run of G over a batch of `batch` real_A images (followed, in the identity
    /// phase, by as many real_B images) into the pass of an iteration: fake_B, idt_B and the
    /// features of every pair on the real_A half. `output` must hold the features at
    /// `config.nce_layers` ([`ResnetGenerator::forward_features`]).
    ///
    /// # Shapes
    /// - `output.output` `[batch, C, H, W]`, `[2·batch, C, H, W]` in the identity phase
    /// - `fake_b` and `idt_b` `[batch, C, H, W]`; each pair's two features
    ///   `[batch, C_i, H_i, W_i]` (the same shape)
    pub fn from_output(
        generator: &ResnetGenerator<B>,
        config: &EncoConfig,
        output: GeneratorOutput<B>,
        batch: usize,
        identity_phase: bool,
    ) -> Result<Self, TrainError> {
        let pairs = feature_pairs(generator, &config.nce_layers)?;
        let feature = |layer: usize| {
            let i = output
                .layers
                .binary_search(&layer)
                .map_err(|_| TrainError::MissingFeature { layer })?;
            Ok::<_, TrainError>(output.features[i].clone().narrow(0, 0, batch))
        };
        let mut pair_features = Vec::with_capacity(pairs.len());
        for p in &pairs {
            let (enc, dec) = (feature(p.encoder)?, feature(p.decoder)?);
            if enc.dims() != dec.dims() {
                return Err(TrainError::PairShapeMismatch {
                    encoder: (p.encoder, enc.dims().to_vec()),
                    decoder: (p.decoder, dec.dims().to_vec()),
                });
            }
            pair_features.push((enc, dec));
        }
        let fake_b = output.output.clone().narrow(0, 0, batch);
        let idt_b = identity_phase.then(|| output.output.clone().narrow(0, batch, batch));
        Ok(GeneratorPass {
            fake_b,
            idt_b,
            pair_features,
            output: output.output,
            features: output.features,
        })
    }
}

/// The discriminator step's losses (docs/reference.md §5.1).
#[derive(Debug, Clone)]
pub struct DiscriminatorLosses<B: EncoBackend> {
    /// `0.5·(fake + real)`.
    pub loss: Tensor<B, 1>,
    /// Loss on D(fake_B) against "fake".
    pub fake: Tensor<B, 1>,
    /// Loss on D(real_B) against "real".
    pub real: Tensor<B, 1>,
    /// D(fake_B.detach()).
    pub pred_fake: Tensor<B, 4>,
    /// D(real_B).
    pub pred_real: Tensor<B, 4>,
}

impl<B: EncoBackend> DiscriminatorLosses<B> {
    /// The losses of the score maps D gave the fake and the real batch.
    ///
    /// # Shapes
    /// - `pred_fake`, `pred_real` `[B, 1, H', W']` score maps; `loss`, `fake`, `real` `[1]`
    pub fn from_predictions(
        mode: GanMode,
        pred_fake: Tensor<B, 4>,
        pred_real: Tensor<B, 4>,
    ) -> Self {
        let (loss, fake, real) =
            GanLoss { mode }.discriminator_loss(pred_fake.clone(), pred_real.clone());
        Self {
            loss,
            fake,
            real,
            pred_fake,
            pred_real,
        }
    }
}

/// The generator step's losses and what the content loss was computed from (docs/reference.md §5).
#[derive(Debug, Clone)]
pub struct GeneratorLosses<B: EncoBackend> {
    /// The total generator objective.
    pub loss: Tensor<B, 1>,
    /// λ_GAN·L_GAN.
    pub gan: Tensor<B, 1>,
    /// λ_NCE·L_EnCo.
    pub content: Tensor<B, 1>,
    /// λ_IDT·L_idt, in the identity phase.
    pub identity: Option<Tensor<B, 1>>,
    /// Per-pair `mean(2 − 2 cos)`.
    pub pairs: Vec<Tensor<B, 1>>,
    /// D(fake_B) of this step.
    pub pred_fake: Tensor<B, 4>,
    /// The score map resized to each pair's decoder feature.
    pub cams: Vec<Tensor<B, 4>>,
    /// The patch ids used: `ids[pair][batch]`.
    pub ids: Vec<Vec<Vec<usize>>>,
    /// Decoder projections per pair, `[B·n, nc]`.
    pub q: Vec<Tensor<B, 2>>,
    /// Encoder projections per pair, `[B·n, nc]`.
    pub k: Vec<Tensor<B, 2>>,
}

impl<B: EncoBackend> EncoModel<B> {
    /// Runs G once on `real_A` (and `real_B` in the identity phase) and taps the features of
    /// every pair (docs/reference.md §6).
    ///
    /// # Shapes
    /// - `real_a`, `real_b` `[B, input_nc, H, W]`, the same shape, H and W multiples of 4 and
    ///   at least 8
    /// - `fake_b` (and `idt_b`) `[B, output_nc, H, W]`; `output` `[B, output_nc, H, W]`,
    ///   `[2B, output_nc, H, W]` in the identity phase; each pair's features
    ///   `[B, C_i, H_i, W_i]`
    pub fn generate(
        &self,
        config: &EncoConfig,
        real_a: Tensor<B, 4>,
        real_b: Tensor<B, 4>,
        identity_phase: bool,
    ) -> Result<GeneratorPass<B>, TrainError> {
        TrainError::check_batches(real_a.dims(), real_b.dims())?;
        let batch = real_a.dims()[0];
        let input = if identity_phase {
            Tensor::cat(vec![real_a, real_b], 0)
        } else {
            real_a
        };
        let out = self.generator.forward_features(input, &config.nce_layers)?;
        GeneratorPass::from_output(&self.generator, config, out, batch, identity_phase)
    }

    /// The discriminator loss on the detached fake and the real batch (docs/reference.md §5.1, D step).
    ///
    /// # Shapes
    /// - `real_b` `[B, C, H, W]` like `pass.fake_b`
    /// - `pred_fake`, `pred_real` `[B, 1, H', W']` (D's `output_size` of H and W); losses `[1]`
    pub fn discriminator_losses(
        &self,
        config: &EncoConfig,
        pass: &GeneratorPass<B>,
        real_b: Tensor<B, 4>,
    ) -> Result<DiscriminatorLosses<B>, TrainError> {
        let pred_fake = self.discriminator.forward(pass.fake_b.clone().detach())?;
        let pred_real = self.discriminator.forward(real_b)?;
        Ok(DiscriminatorLosses::from_predictions(
            config.gan_mode,
            pred_fake,
            pred_real,
        ))
    }

    /// The generator objective (docs/reference.md §5.2–§5.5): adversarial loss through the discriminator
    /// (whose parameters the caller freezes), DAG sampling on the detached score map, the
    /// content loss of every pair, and the identity loss in the identity phase.
    ///
    /// `injected_ids` (`[pair][batch]`) replaces sampling, e.g. to replay recorded ids.
    ///
    /// # Shapes
    /// - `real_b` `[B, C, H, W]` like `pass.fake_b` (read in the identity phase only)
    /// - `loss`, `gan`, `content`, `identity` and each of `pairs` `[1]`
    /// - `pred_fake` `[B, 1, H', W']`; `cams[i]` `[B, 1, H_i, W_i]`, the size of pair i's
    ///   decoder feature
    /// - `ids[i]` B lists of `n_i = min(K, H_i·W_i)` ids when sampled (injected ids as given)
    /// - `q[i]`, `k[i]` `[Σ_b ids[i][b].len(), nc]` sample-major (`[B·n_i, nc]` when sampled)
    pub fn generator_losses<R: Rng + ?Sized>(
        &self,
        config: &EncoConfig,
        pass: &GeneratorPass<B>,
        real_b: Tensor<B, 4>,
        injected_ids: Option<&[Vec<Vec<usize>>]>,
        rng: &mut R,
    ) -> Result<GeneratorLosses<B>, TrainError> {
        let sampler: DagSampler = config.sampler.init()?;
        let pred_fake = self.discriminator.forward(pass.fake_b.clone())?;
        let gan_loss = GanLoss {
            mode: config.gan_mode,
        };
        let gan = gan_loss
            .generator_loss(pred_fake.clone())
            .mul_scalar(config.lambda_gan);
        let cam = pred_fake.clone().detach();
        let batch = pass.fake_b.dims()[0];
        if let Some(ids) = injected_ids
            && (ids.len() != pass.pair_features.len() || ids.iter().any(|p| p.len() != batch))
        {
            return Err(TrainError::InjectedIds(format!(
                "expected {} pairs × {batch} samples",
                pass.pair_features.len()
            )));
        }
        let mut cams = Vec::new();
        let mut all_ids = Vec::new();
        let mut qs = Vec::new();
        let mut ks = Vec::new();
        let mut pairs = Vec::new();
        for (i, (enc, dec)) in pass.pair_features.iter().enumerate() {
            let [_, _, h, w] = dec.dims();
            let cam_i = resize_bilinear(cam.clone(), [h, w]);
            let ids = match injected_ids {
                Some(ids) => ids[i].clone(),
                None => sampler.sample(cam_i.clone(), rng)?,
            };
            let enc = if config.stop_gradient {
                enc.clone().detach()
            } else {
                enc.clone()
            };
            let q = self.heads.project_decoder(
                i,
                gather_patches(dec.clone(), &ids)?,
                config.predictor,
            )?;
            let k = self.heads.project_encoder(i, gather_patches(enc, &ids)?)?;
            let pair = config.content_loss.pair_loss(
                q.clone(),
                k.clone(),
                batch,
                config.nce_t,
                config.stop_gradient,
            );
            cams.push(cam_i);
            all_ids.push(ids);
            qs.push(q);
            ks.push(k);
            pairs.push(pair);
        }
        let content = enco_content_loss(&pairs, config.lambda_nce);
        let identity = match (&pass.idt_b, config.identity_loss) {
            (Some(idt), true) => {
                Some(identity_loss(real_b, idt.clone()).mul_scalar(config.lambda_idt))
            }
            _ => None,
        };
        let loss = config
            .weighting
            .combine(gan.clone(), content.clone(), identity.clone());
        Ok(GeneratorLosses {
            loss,
            gan,
            content,
            identity,
            pairs,
            pred_fake,
            cams,
            ids: all_ids,
            q: qs,
            k: ks,
        })
    }
}
