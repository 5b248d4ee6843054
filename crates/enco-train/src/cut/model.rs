//! The CUT model: G, D and the PatchSampleF heads, and the losses of one iteration (official
//! `models/cut_model.py`, `models/patchnce.py`).

use burn::prelude::*;
use enco_loss::{GanLoss, patch_nce_loss};
use enco_nn::{
    EncoBackend, NLayerDiscriminator, PatchSampleHeads, PatchSampleHeadsConfig, ResnetGenerator,
    WeightInit, gather_patches,
};
use enco_sampling::uniform_patch_ids;
use rand::Rng;

use crate::cut::config::{CutConfig, CutVariant};
use crate::error::TrainError;
use crate::model::DiscriminatorLosses;

/// The three networks of CUT and FastCUT.
#[derive(Module, Debug)]
pub struct CutModel<B: EncoBackend> {
    /// The generator.
    pub generator: ResnetGenerator<B>,
    /// The discriminator.
    pub discriminator: NLayerDiscriminator<B>,
    /// The heads F, one per tap.
    pub heads: PatchSampleHeads<B>,
}

impl CutConfig {
    /// Builds the model with the official initialisation (seeds `seed`, `seed+1`, `seed+2`).
    pub fn init<B: EncoBackend>(&self, device: &B::Device) -> Result<CutModel<B>, TrainError> {
        self.validate()?;
        self.generator.validate()?;
        self.discriminator.validate()?;
        let generator = self
            .generator
            .init_with(&mut WeightInit::official(self.seed), device);
        let discriminator = self
            .discriminator
            .init_with(&mut WeightInit::official(self.seed.wrapping_add(1)), device);
        let channels = self
            .nce_layers
            .iter()
            .map(|&l| generator.channels_at(l))
            .collect::<Result<Vec<_>, _>>()?;
        let heads = PatchSampleHeadsConfig::new(channels)
            .with_nc(self.head_nc)
            .init_with(&mut WeightInit::official(self.seed.wrapping_add(2)), device);
        Ok(CutModel {
            generator,
            discriminator,
            heads,
        })
    }

    /// Checks CUT's own options (taps distinct and ascending, K, head width, τ), each error
    /// naming its field; [`TrainingConfig::validate`](crate::TrainingConfig::validate) calls it.
    pub(crate) fn validate(&self) -> Result<(), TrainError> {
        let invalid = |option, reason: String| TrainError::InvalidOption { option, reason };
        let ascending = self.nce_layers.windows(2).all(|w| w[0] < w[1]);
        if self.nce_layers.is_empty() || !ascending {
            return Err(invalid(
                "model.nce_layers",
                format!(
                    "must be distinct layers in ascending order, got {:?}",
                    self.nce_layers
                ),
            ));
        }
        if self.num_patches == 0 {
            return Err(invalid("model.num_patches", "must be at least 1".into()));
        }
        if self.head_nc == 0 {
            return Err(invalid("model.head_nc", "must be at least 1".into()));
        }
        if !self.nce_t.is_finite() || self.nce_t <= 0.0 {
            return Err(invalid(
                "model.nce_t",
                format!("must be a positive number, got {}", self.nce_t),
            ));
        }
        Ok(())
    }
}

/// The generator pass of one CUT iteration (docs/reference.md §15.6 "forward").
#[derive(Debug, Clone)]
pub struct CutPass<B: EncoBackend> {
    /// What G translated: real_A (and real_B with the NCE identity), mirrored if `flipped`.
    pub input: Tensor<B, 4>,
    /// G's output on the real_A half.
    pub fake_b: Tensor<B, 4>,
    /// G's output on the real_B half (with the NCE identity).
    pub idt_b: Option<Tensor<B, 4>>,
    /// Whether this iteration mirrored G's input (flip equivariance).
    pub flipped: bool,
}

/// One PatchNCE term (docs/reference.md §15.4–15.5): source, target, and what was computed per tap.
#[derive(Debug, Clone)]
pub struct NceTerm<B: EncoBackend> {
    /// `Σ_j mean(λ_NCE · loss_j) / len(nce_layers)`.
    pub loss: Tensor<B, 1>,
    /// `mean(λ_NCE · loss_j)` per tap.
    pub layer_losses: Vec<Tensor<B, 1>>,
    /// Per-patch PatchNCE of each tap, before λ_NCE, `[B·n]`.
    pub patch_losses: Vec<Tensor<B, 1>>,
    /// The ids of each tap (shared by the images of the batch).
    pub ids: Vec<Vec<usize>>,
    /// Target projections per tap, `[B·n, nc]`.
    pub q: Vec<Tensor<B, 2>>,
    /// Source projections per tap, `[B·n, nc]`.
    pub k: Vec<Tensor<B, 2>>,
}

/// The generator step's losses.
#[derive(Debug, Clone)]
pub struct CutGeneratorLosses<B: EncoBackend> {
    /// The generator objective.
    pub loss: Tensor<B, 1>,
    /// λ_GAN·L_GAN.
    pub gan: Tensor<B, 1>,
    /// D(fake_B) of this step (`None` when λ_GAN is 0).
    pub pred_fake: Option<Tensor<B, 4>>,
    /// NCE(real_A → fake_B).
    pub nce: NceTerm<B>,
    /// NCE(real_B → idt_B), with the NCE identity.
    pub nce_y: Option<NceTerm<B>>,
}

impl<B: EncoBackend> CutModel<B> {
    /// Runs G on real_A (and real_B with the NCE identity), mirrored when `flipped`.
    ///
    /// # Shapes
    /// - `real_a`, `real_b` `[B, input_nc, H, W]`, the same shape, H and W multiples of 4 and
    ///   at least 8
    /// - `input` `[B, input_nc, H, W]`, `[2B, input_nc, H, W]` with the NCE identity
    /// - `fake_b` (and `idt_b`) `[B, output_nc, H, W]`
    pub fn generate(
        &self,
        config: &CutConfig,
        real_a: Tensor<B, 4>,
        real_b: Tensor<B, 4>,
        flipped: bool,
    ) -> Result<CutPass<B>, TrainError> {
        TrainError::check_batches(real_a.dims(), real_b.dims())?;
        let batch = real_a.dims()[0];
        let input = if config.nce_idt {
            Tensor::cat(vec![real_a, real_b], 0)
        } else {
            real_a
        };
        let input = if flipped { input.flip([3]) } else { input };
        let fake = self.generator.forward(input.clone())?;
        let fake_b = fake.clone().narrow(0, 0, batch);
        let idt_b = config.nce_idt.then(|| fake.narrow(0, batch, batch));
        Ok(CutPass {
            input,
            fake_b,
            idt_b,
            flipped,
        })
    }

    /// The D step's loss on the detached fake and the real batch: one D call on both
    /// (CUT) or two calls (FastCUT).
    ///
    /// # Shapes
    /// - `real_b` `[B, C, H, W]` like `pass.fake_b`
    /// - `pred_fake`, `pred_real` `[B, 1, H', W']` (D's `output_size` of H and W); losses `[1]`
    pub fn discriminator_losses(
        &self,
        config: &CutConfig,
        pass: &CutPass<B>,
        real_b: Tensor<B, 4>,
    ) -> Result<DiscriminatorLosses<B>, TrainError> {
        let fake = pass.fake_b.clone().detach();
        let batch = fake.dims()[0];
        let (pred_fake, pred_real) = match config.variant {
            CutVariant::Cut => {
                let pred = self
                    .discriminator
                    .forward(Tensor::cat(vec![fake, real_b], 0))?;
                (
                    pred.clone().narrow(0, 0, batch),
                    pred.narrow(0, batch, batch),
                )
            }
            CutVariant::FastCut => (
                self.discriminator.forward(fake)?,
                self.discriminator.forward(real_b)?,
            ),
        };
        Ok(DiscriminatorLosses::from_predictions(
            config.gan_mode,
            pred_fake,
            pred_real,
        ))
    }

    /// One PatchNCE term from `src` to `tgt` (docs/reference.md §15.4–15.5): G's encoder on both, the
    /// target's features mirrored back when the iteration was `flipped`, one shared id list per
    /// tap (drawn from `rng`, or `injected`), the heads, and PatchNCE with the source side
    /// detached.
    ///
    /// The official `PatchNCELoss2` groups the rows by the `--batch_size` option, not by the
    /// tensor's batch; they differ only for a last, smaller batch of an epoch, which
    /// [`EpochLoader`](enco_data::EpochLoader) never yields, so the batch at hand is used.
    ///
    /// # Shapes
    /// - `src`, `tgt` `[B, input_nc, H, W]`
    /// - `loss` and each of `layer_losses` `[1]`
    /// - `ids[j]` `n_j` ids for tap j's `[B, C_j, H_j, W_j]` features, one list for every
    ///   image; `n_j = min(num_patches, H_j·W_j)` when drawn
    /// - `patch_losses[j]` `[B·n_j]`; `q[j]`, `k[j]` `[B·n_j, nc]` sample-major
    pub fn nce_term<R: Rng + ?Sized>(
        &self,
        config: &CutConfig,
        src: Tensor<B, 4>,
        tgt: Tensor<B, 4>,
        flipped: bool,
        injected: Option<&[Vec<usize>]>,
        rng: &mut R,
    ) -> Result<NceTerm<B>, TrainError> {
        config.validate()?;
        let batch = src.dims()[0];
        let device = src.device();
        let taps = config.nce_layers.len();
        if let Some(ids) = injected
            && ids.len() != taps
        {
            return Err(TrainError::InjectedIds(format!(
                "expected one id list per tap ({taps}), got {}",
                ids.len()
            )));
        }
        let feat_q = self.generator.encode(tgt, &config.nce_layers)?;
        let feat_q: Vec<_> = if flipped {
            feat_q.into_iter().map(|f| f.flip([3])).collect()
        } else {
            feat_q
        };
        let feat_k = self.generator.encode(src, &config.nce_layers)?;
        let groups = if config.negatives_from_minibatch {
            1
        } else {
            batch
        };
        let mut term = NceTerm {
            loss: Tensor::zeros([1], &device),
            layer_losses: Vec::with_capacity(taps),
            patch_losses: Vec::with_capacity(taps),
            ids: Vec::with_capacity(taps),
            q: Vec::with_capacity(taps),
            k: Vec::with_capacity(taps),
        };
        for (j, (fk, fq)) in feat_k.into_iter().zip(feat_q).enumerate() {
            let [_, _, h, w] = fk.dims();
            let ids = match injected {
                Some(ids) => ids[j].clone(),
                None => uniform_patch_ids(h * w, config.num_patches, rng),
            };
            let per_image = vec![ids.clone(); batch];
            let k = self.heads.project(j, gather_patches(fk, &per_image)?)?;
            let q = self.heads.project(j, gather_patches(fq, &per_image)?)?;
            let patch = patch_nce_loss(q.clone(), k.clone(), groups, config.nce_t);
            let layer = patch.clone().mul_scalar(config.lambda_nce).mean();
            term.layer_losses.push(layer);
            term.patch_losses.push(patch);
            term.ids.push(ids);
            term.q.push(q);
            term.k.push(k);
        }
        term.loss = Tensor::cat(term.layer_losses.clone(), 0)
            .sum()
            .div_scalar(taps as f64);
        Ok(term)
    }

    /// The generator objective (docs/reference.md §15.6, G step): λ_GAN·L_GAN through D (whose parameters the
    /// caller freezes), NCE(real_A → fake_B), and with the NCE identity NCE(real_B → idt_B),
    /// `L_GAN + 0.5·(L_NCE + L_NCE_Y)`; otherwise `L_GAN + L_NCE`.
    ///
    /// `injected` replaces the id draws: `[term][tap]`, term 0 NCE and term 1 NCE_Y.
    ///
    /// # Shapes
    /// - `real_a`, `real_b` `[B, input_nc, H, W]`, as given to [`CutModel::generate`]
    /// - `loss`, `gan` `[1]`; `pred_fake` `[B, 1, H', W']`; `nce`, `nce_y` as
    ///   [`CutModel::nce_term`]
    pub fn generator_losses<R: Rng + ?Sized>(
        &self,
        config: &CutConfig,
        pass: &CutPass<B>,
        real_a: Tensor<B, 4>,
        real_b: Tensor<B, 4>,
        injected: Option<&[Vec<Vec<usize>>]>,
        rng: &mut R,
    ) -> Result<CutGeneratorLosses<B>, TrainError> {
        let (gan, pred_fake) = if config.lambda_gan > 0.0 {
            let pred = self.discriminator.forward(pass.fake_b.clone())?;
            let loss = GanLoss {
                mode: config.gan_mode,
            }
            .generator_loss(pred.clone())
            .mul_scalar(config.lambda_gan);
            (loss, Some(pred))
        } else {
            (Tensor::zeros([1], &pass.fake_b.device()), None)
        };
        let ids = |term: usize| injected.and_then(|ids| ids.get(term).map(Vec::as_slice));
        if let Some(ids) = injected
            && ids.len() != 1 + usize::from(pass.idt_b.is_some())
        {
            return Err(TrainError::InjectedIds(format!(
                "expected one id set per NCE term, got {}",
                ids.len()
            )));
        }
        let nce = self.nce_term(
            config,
            real_a,
            pass.fake_b.clone(),
            pass.flipped,
            ids(0),
            rng,
        )?;
        let nce_y = match &pass.idt_b {
            Some(idt) => {
                Some(self.nce_term(config, real_b, idt.clone(), pass.flipped, ids(1), rng)?)
            }
            None => None,
        };
        let loss = match &nce_y {
            Some(y) => gan.clone() + (nce.loss.clone() + y.loss.clone()).mul_scalar(0.5),
            None => gan.clone() + nce.loss.clone(),
        };
        Ok(CutGeneratorLosses {
            loss,
            gan,
            pred_fake,
            nce,
            nce_y,
        })
    }
}
