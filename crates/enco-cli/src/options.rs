//! The options of `enco train` and `enco config`: where the configuration starts (a model's
//! official defaults, a data-set preset, or a config file) and one flag per field of
//! [`TrainingConfig`] and of the model's configuration, named after the official option.
//!
//! No flag has a default of its own: an absent flag leaves the field as the base configuration
//! has it, so the defaults live in the config structs only (`enco config` prints them).

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use enco_data::{Direction, Preprocess};
use enco_loss::{ContentLoss, GanMode, LossWeighting};
use enco_nn::HeadNorm;
use enco_sampling::DagSamplerConfig;
use enco_train::{
    CycleGanNetworks, DatasetPreset, EvaluationConfig, ModelConfig, ModelKind, NanPolicy,
    TrainError, TrainingConfig,
};
use thiserror::Error;

/// A command line that cannot become a training configuration.
#[derive(Debug, Error)]
pub enum OptionsError {
    /// Two options that exclude each other.
    #[error("{0} and {1} cannot be used together: {2}")]
    Conflict(&'static str, &'static str, &'static str),
    /// An option that the chosen model does not have.
    #[error("{flag} does not apply to --model {model}{hint}")]
    NotForModel {
        /// The flag.
        flag: &'static str,
        /// The model's name.
        model: &'static str,
        /// What to use instead, if anything (starts with "; ").
        hint: &'static str,
    },
    /// A required value is missing.
    #[error("{0}")]
    Missing(&'static str),
    /// The resolved configuration has an impossible value.
    #[error("{flag}: {reason}")]
    Invalid {
        /// The flag that sets the value.
        flag: String,
        /// What is wrong.
        reason: String,
    },
    /// The config file cannot be read.
    #[error(transparent)]
    Train(#[from] TrainError),
}

impl OptionsError {
    /// Turns a library validation error into one that names the flag.
    pub fn from_validation(error: TrainError) -> Self {
        match error {
            TrainError::InvalidOption { option, reason } => Self::Invalid {
                flag: flag_of(option),
                reason,
            },
            other => Self::Train(other),
        }
    }
}

/// The flag that sets a [`TrainingConfig`] field (given as its dotted path).
pub fn flag_of(option: &str) -> String {
    let name = match option {
        "model.discriminator.n_layers" => "n-layers-d".to_string(),
        "transform.load_size" => "load-size".to_string(),
        other => other.rsplit('.').next().unwrap_or(other).replace('_', "-"),
    };
    format!("--{name}")
}

/// The models selectable with `--model`, as `clap` values.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelArg {
    /// EnCo (the default).
    Enco,
    /// CUT (Park et al. 2020).
    Cut,
    /// FastCUT.
    Fastcut,
    /// CycleGAN.
    Cyclegan,
}

impl From<ModelArg> for ModelKind {
    fn from(m: ModelArg) -> Self {
        match m {
            ModelArg::Enco => ModelKind::Enco,
            ModelArg::Cut => ModelKind::Cut,
            ModelArg::Fastcut => ModelKind::FastCut,
            ModelArg::Cyclegan => ModelKind::CycleGan,
        }
    }
}

/// `--preset`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PresetArg {
    /// AFHQ cat → dog.
    Cat2dog,
    /// horse → zebra.
    Horse2zebra,
    /// Cityscapes, label → photo.
    Cityscapes,
}

impl From<PresetArg> for DatasetPreset {
    fn from(p: PresetArg) -> Self {
        match p {
            PresetArg::Cat2dog => DatasetPreset::Cat2dog,
            PresetArg::Horse2zebra => DatasetPreset::Horse2zebra,
            PresetArg::Cityscapes => DatasetPreset::Cityscapes,
        }
    }
}

/// `--gan-mode`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum GanModeArg {
    /// Least squares (the official default).
    Lsgan,
    /// Hinge.
    Hinge,
    /// Binary cross-entropy.
    Vanilla,
}

impl From<GanModeArg> for GanMode {
    fn from(m: GanModeArg) -> Self {
        match m {
            GanModeArg::Lsgan => GanMode::Lsgan,
            GanModeArg::Hinge => GanMode::Hinge,
            GanModeArg::Vanilla => GanMode::Vanilla,
        }
    }
}

/// `--loss-weighting`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightingArg {
    /// The official code's 0.5 factor during the identity phase.
    Official,
    /// The paper's Eq. 7.
    Paper,
}

impl From<WeightingArg> for LossWeighting {
    fn from(w: WeightingArg) -> Self {
        match w {
            WeightingArg::Official => LossWeighting::Official,
            WeightingArg::Paper => LossWeighting::Paper,
        }
    }
}

/// `--prj-norm`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadNormArg {
    /// BatchNorm (the official code).
    Bn,
    /// LayerNorm (the paper).
    Ln,
    /// None (paper Table 3 row B).
    None,
}

impl From<HeadNormArg> for HeadNorm {
    fn from(n: HeadNormArg) -> Self {
        match n {
            HeadNormArg::Bn => HeadNorm::BatchNorm,
            HeadNormArg::Ln => HeadNorm::LayerNorm,
            HeadNormArg::None => HeadNorm::None,
        }
    }
}

/// `--sampling`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SamplingArg {
    /// Discriminator-guided (DAG).
    Dag,
    /// Uniform (paper Table 2 and Table 3 row D).
    Uniform,
}

/// `--content-loss`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentLossArg {
    /// EnCo's stop-gradient MSE.
    Enco,
    /// CUT's PatchNCE ("CUT + EnCo", paper Table 3 rows D and E).
    Patchnce,
}

impl From<ContentLossArg> for ContentLoss {
    fn from(c: ContentLossArg) -> Self {
        match c {
            ContentLossArg::Enco => ContentLoss::Enco,
            ContentLossArg::Patchnce => ContentLoss::PatchNce,
        }
    }
}

/// `--preprocess`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreprocessArg {
    /// Resize to load-size², random crop-size² crop.
    ResizeAndCrop,
    /// Random crop-size² crop of the image as it is.
    Crop,
    /// Resize to width load-size, keeping the aspect.
    ScaleWidth,
    /// scale_width, then a random crop.
    ScaleWidthAndCrop,
    /// Keep the image (rounded to a multiple of 4).
    None,
}

impl From<PreprocessArg> for Preprocess {
    fn from(p: PreprocessArg) -> Self {
        match p {
            PreprocessArg::ResizeAndCrop => Preprocess::ResizeAndCrop,
            PreprocessArg::Crop => Preprocess::Crop,
            PreprocessArg::ScaleWidth => Preprocess::ScaleWidth,
            PreprocessArg::ScaleWidthAndCrop => Preprocess::ScaleWidthAndCrop,
            PreprocessArg::None => Preprocess::None,
        }
    }
}

/// `--nan-policy`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum NanPolicyArg {
    /// Stop with an error.
    Stop,
    /// Undo the step and go on.
    SkipStep,
}

impl From<NanPolicyArg> for NanPolicy {
    fn from(p: NanPolicyArg) -> Self {
        match p {
            NanPolicyArg::Stop => NanPolicy::Stop,
            NanPolicyArg::SkipStep => NanPolicy::SkipStep,
        }
    }
}

/// `--direction`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirectionArg {
    /// A → B.
    #[value(name = "AtoB")]
    AtoB,
    /// B → A.
    #[value(name = "BtoA")]
    BtoA,
}

/// Where the configuration starts, and every option on top of it.
#[derive(Args, Debug, Clone, Default)]
pub struct TrainingOptions {
    /// Start from this configuration file (written by `enco config` or saved in a run folder
    /// as training.json); flags override its values.
    #[arg(long, value_name = "FILE", help_heading = "Base configuration")]
    pub config: Option<PathBuf>,
    /// Start from a data-set preset (the official README command): cat2dog, horse2zebra or
    /// cityscapes (trained label → photo).
    #[arg(long, conflicts_with = "config", help_heading = "Base configuration")]
    pub preset: Option<PresetArg>,
    /// The model, with its official defaults [default: enco].
    #[arg(long, conflicts_with = "config", help_heading = "Base configuration")]
    pub model: Option<ModelArg>,
    /// The paper's epoch budget for the preset (400 epochs for Cityscapes and horse2zebra, 200
    /// for cat2dog) instead of the README's 100 + 100.
    #[arg(long, requires = "preset", help_heading = "Base configuration")]
    pub paper_epochs: bool,

    /// Folder holding trainA and trainB.
    #[arg(long, help_heading = "Data")]
    pub dataroot: Option<PathBuf>,
    /// Which domain is the source (--direction).
    #[arg(long, help_heading = "Data")]
    pub direction: Option<DirectionArg>,
    /// Swap the direction of the base configuration (A → B becomes B → A).
    #[arg(long, conflicts_with = "direction", help_heading = "Data")]
    pub reverse: bool,
    /// How images reach the training size (--preprocess).
    #[arg(long, help_heading = "Data")]
    pub preprocess: Option<PreprocessArg>,
    /// Resize size before cropping (--load_size).
    #[arg(long, help_heading = "Data")]
    pub load_size: Option<u32>,
    /// Training crop size (--crop_size).
    #[arg(long, help_heading = "Data")]
    pub crop_size: Option<u32>,
    /// No random horizontal flips of single images (--no_flip).
    #[arg(long, help_heading = "Data")]
    pub no_flip: bool,
    /// Images in order, each A with B[i mod |B|], no shuffling (--serial_batches).
    #[arg(long, help_heading = "Data")]
    pub serial_batches: bool,
    /// At most this many images of each domain (--max_dataset_size).
    #[arg(long, help_heading = "Data")]
    pub max_dataset_size: Option<usize>,
    /// Random flips of whole batches (--flip_equivariance True); EnCo, CUT and FastCUT.
    #[arg(long, conflicts_with = "no_flip_equivariance", help_heading = "Data")]
    pub flip_equivariance: bool,
    /// No random flips of whole batches (--flip_equivariance False).
    #[arg(long, help_heading = "Data")]
    pub no_flip_equivariance: bool,
    /// Images per batch (--batch_size).
    #[arg(long, help_heading = "Data")]
    pub batch_size: Option<usize>,
    /// Train without the images that cannot be used (every image is decoded once at the start;
    /// the skipped files are listed in OUTPUT/bad_images.txt) instead of refusing to start.
    #[arg(long, help_heading = "Data")]
    pub skip_bad_images: bool,
    /// Batches decoded ahead of the training thread.
    #[arg(long, help_heading = "Data")]
    pub prefetch: Option<usize>,

    /// Epochs at the base learning rate (--n_epochs).
    #[arg(long, help_heading = "Schedule")]
    pub n_epochs: Option<usize>,
    /// Epochs of linear decay (--n_epochs_decay).
    #[arg(long, help_heading = "Schedule")]
    pub n_epochs_decay: Option<usize>,
    /// Warm-up epochs, 0 = off (--warmup_epochs).
    #[arg(long, help_heading = "Schedule")]
    pub warmup_epochs: Option<usize>,
    /// Last epoch with the identity loss (--stop_idt_epochs; default: n_epochs).
    #[arg(long, help_heading = "Schedule")]
    pub stop_idt_epochs: Option<usize>,
    /// Decay the identity weight linearly over training (--decay_idt).
    #[arg(long, help_heading = "Schedule")]
    pub decay_idt: bool,
    /// Seed of initialisation, data order, crops, flips and sampling.
    #[arg(long, help_heading = "Schedule")]
    pub seed: Option<u64>,
    /// Checkpoint every N iterations (and at every epoch end; 0: at epoch ends only).
    #[arg(long, help_heading = "Schedule")]
    pub checkpoint_every: Option<u64>,
    /// Checkpoints kept (the newest).
    #[arg(long, help_heading = "Schedule")]
    pub keep_checkpoints: Option<usize>,
    /// A sample grid every N iterations (0: never).
    #[arg(long, help_heading = "Schedule")]
    pub sample_every: Option<u64>,
    /// At a step whose losses are not finite: stop (with an error naming the iteration and the
    /// loss, and no checkpoint of that state), or skip-step (undo the step, go on).
    #[arg(long, help_heading = "Schedule")]
    pub nan_policy: Option<NanPolicyArg>,
    /// A permanent snapshot every E epochs in OUTPUT/snapshots, outside the rotation of
    /// --keep-checkpoints (--save_epoch_freq; 0: none).
    #[arg(long, help_heading = "Schedule")]
    pub save_epoch_freq: Option<usize>,

    /// Evaluate every N iterations and at the end: translate the test images, score them
    /// (FID with --fid-weights, PSNR/SSIM with --paired-target), log to eval.jsonl and keep the
    /// best checkpoint in OUTPUT/best.
    #[arg(long, help_heading = "Periodic evaluation")]
    pub eval_every: Option<u64>,
    /// Images to translate [default: DATAROOT/testA, testB for B → A].
    #[arg(long, help_heading = "Periodic evaluation")]
    pub eval_input: Option<PathBuf>,
    /// Real images for FID, arranged as the official test protocol does [default:
    /// DATAROOT/testB, testA for B → A].
    #[arg(long, help_heading = "Periodic evaluation")]
    pub fid_real: Option<PathBuf>,
    /// FID Inception weights (pytorch-fid's pt_inception-2015-12-05-6726825d.pth or its
    /// safetensors).
    #[arg(long, help_heading = "Periodic evaluation")]
    pub fid_weights: Option<PathBuf>,
    /// Exact targets of the evaluated images (same stems): PSNR and SSIM.
    #[arg(long, help_heading = "Periodic evaluation")]
    pub paired_target: Option<PathBuf>,
    /// Test-time size (bicubic resize) [default: the training crop size].
    #[arg(long, help_heading = "Periodic evaluation")]
    pub eval_size: Option<u32>,

    /// Generator width (--ngf).
    #[arg(long, help_heading = "Networks")]
    pub ngf: Option<usize>,
    /// Discriminator width (--ndf).
    #[arg(long, help_heading = "Networks")]
    pub ndf: Option<usize>,
    /// ResNet blocks of the generator (9 for resnet_9blocks, 6 for resnet_6blocks).
    #[arg(long, help_heading = "Networks")]
    pub n_blocks: Option<usize>,
    /// Strided layers of the PatchGAN discriminator (--n_layers_D).
    #[arg(long, help_heading = "Networks")]
    pub n_layers_d: Option<usize>,
    /// Strided convolutions instead of anti-aliased down-sampling (--no_antialias).
    #[arg(long, help_heading = "Networks")]
    pub no_antialias: bool,
    /// Transposed convolutions instead of anti-aliased up-sampling (--no_antialias_up).
    #[arg(long, help_heading = "Networks")]
    pub no_antialias_up: bool,
    /// CycleGAN's networks as the official code builds them on a GPU (strided down-sampling,
    /// plain PatchGAN) instead of the anti-aliased ones it builds on the CPU.
    #[arg(long, help_heading = "Networks")]
    pub cyclegan_gpu_networks: bool,

    /// Adversarial objective (--gan_mode).
    #[arg(long, help_heading = "Losses")]
    pub gan_mode: Option<GanModeArg>,
    /// λ_GAN (--lambda_GAN).
    #[arg(long, help_heading = "Losses")]
    pub lambda_gan: Option<f64>,
    /// λ_NCE, the content loss weight (--lambda_NCE).
    #[arg(long, help_heading = "Losses")]
    pub lambda_nce: Option<f64>,
    /// λ_IDT, the identity loss weight (--lambda_IDT); EnCo.
    #[arg(long, help_heading = "Losses")]
    pub lambda_idt: Option<f64>,
    /// Use the identity loss (--nce_idt True).
    #[arg(long, conflicts_with = "no_identity", help_heading = "Losses")]
    pub identity: bool,
    /// No identity loss (--nce_idt False).
    #[arg(long, help_heading = "Losses")]
    pub no_identity: bool,
    /// How EnCo's terms are combined: official (0.5 factor) or paper (Eq. 7).
    #[arg(long, help_heading = "Losses")]
    pub loss_weighting: Option<WeightingArg>,
    /// EnCo's content loss: enco, or patchnce ("CUT + EnCo", paper Table 3 rows D and E).
    #[arg(long, help_heading = "Losses")]
    pub content_loss: Option<ContentLossArg>,
    /// PatchNCE temperature τ (--nce_T).
    #[arg(long, help_heading = "Losses")]
    pub nce_t: Option<f64>,
    /// Train without EnCo's stop-gradient (paper Table 3 row C; it collapses).
    #[arg(long, help_heading = "Losses")]
    pub no_stop_gradient: bool,
    /// CUT's negatives from the whole minibatch (--nce_includes_all_negatives_from_minibatch).
    #[arg(long, help_heading = "Losses")]
    pub negatives_from_minibatch: bool,
    /// CycleGAN's λ_A, cycle A → B → A (--lambda_A).
    #[arg(long, help_heading = "Losses")]
    pub lambda_a: Option<f64>,
    /// CycleGAN's λ_B, cycle B → A → B (--lambda_B).
    #[arg(long, help_heading = "Losses")]
    pub lambda_b: Option<f64>,
    /// CycleGAN's identity weight (--lambda_identity).
    #[arg(long, help_heading = "Losses")]
    pub lambda_identity: Option<f64>,
    /// CycleGAN's image pool size (--pool_size).
    #[arg(long, help_heading = "Losses")]
    pub pool_size: Option<usize>,

    /// Generator layers whose features are used (--nce_layers), e.g. 3,7,13,18,24,28.
    #[arg(long, value_delimiter = ',', help_heading = "Heads and sampling")]
    pub nce_layers: Option<Vec<usize>>,
    /// Patches per layer K (--num_patches).
    #[arg(long, help_heading = "Heads and sampling")]
    pub num_patches: Option<usize>,
    /// Width of the projection heads (--netF_nc).
    #[arg(long, alias = "netf-nc", help_heading = "Heads and sampling")]
    pub head_nc: Option<usize>,
    /// EnCo's patch sampling: dag or uniform.
    #[arg(long, help_heading = "Heads and sampling")]
    pub sampling: Option<SamplingArg>,
    /// Same as --sampling uniform.
    #[arg(long, conflicts_with = "sampling", help_heading = "Heads and sampling")]
    pub uniform_sampling: bool,
    /// DAG's candidate oversampling k (--oversample_ratio).
    #[arg(long, help_heading = "Heads and sampling")]
    pub oversample_ratio: Option<usize>,
    /// DAG's share of uniformly random patches, 1 − β (--random_ratio).
    #[arg(long, help_heading = "Heads and sampling")]
    pub random_ratio: Option<f64>,
    /// Normalisation in EnCo's heads (--prj_norm): bn (code), ln (paper) or none.
    #[arg(long, help_heading = "Heads and sampling")]
    pub prj_norm: Option<HeadNormArg>,
    /// No prediction head on the decoder side (--no_predictor; paper Table 3 row A).
    #[arg(long, help_heading = "Heads and sampling")]
    pub no_predictor: bool,

    /// EnCo's generator learning rate (--lr_G).
    #[arg(long, help_heading = "Optimisers")]
    pub lr_g: Option<f64>,
    /// EnCo's discriminator learning rate (--lr_D).
    #[arg(long, help_heading = "Optimisers")]
    pub lr_d: Option<f64>,
    /// EnCo's heads learning rate (--lr_F).
    #[arg(long, help_heading = "Optimisers")]
    pub lr_f: Option<f64>,
    /// The one learning rate of CUT, FastCUT and CycleGAN (--lr).
    #[arg(long, help_heading = "Optimisers")]
    pub lr: Option<f64>,
    /// Adam β₁ (--beta1).
    #[arg(long, help_heading = "Optimisers")]
    pub beta1: Option<f32>,
    /// Adam β₂ (--beta2; CycleGAN fixes it at 0.999).
    #[arg(long, help_heading = "Optimisers")]
    pub beta2: Option<f32>,
}

fn either(on: bool, off: bool) -> Option<bool> {
    match (on, off) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

/// Sets `$target` from `$value` when the flag was given.
macro_rules! set {
    ($target:expr, $value:expr) => {
        if let Some(v) = $value {
            $target = v.into();
        }
    };
}

impl TrainingOptions {
    /// The configuration these options describe: the base (config file, or the model's
    /// defaults with the preset's data choices), every given flag on top, then validated.
    pub fn resolve(&self) -> Result<TrainingConfig, OptionsError> {
        let explicit_epochs = self.n_epochs.is_some() || self.n_epochs_decay.is_some();
        if self.paper_epochs && explicit_epochs {
            return Err(OptionsError::Conflict(
                "--paper-epochs",
                "--n-epochs/--n-epochs-decay",
                "the first sets the preset's epoch budget, the others set their own",
            ));
        }
        let mut config = match &self.config {
            Some(path) => TrainingConfig::load_file(path)?,
            None => {
                let kind = self.model.map(ModelKind::from).unwrap_or(ModelKind::Enco);
                let base = TrainingConfig::for_model(kind, PathBuf::new());
                match self.preset.map(DatasetPreset::from) {
                    Some(preset) => {
                        let direction = preset.training_config(PathBuf::new()).direction;
                        let base = base.with_direction(direction);
                        if self.paper_epochs {
                            preset.paper_epochs(base)
                        } else {
                            base
                        }
                    }
                    None => base,
                }
            }
        };
        self.apply(&mut config)?;
        config.validate().map_err(OptionsError::from_validation)?;
        Ok(config)
    }

    /// Writes every given flag into `config`.
    pub fn apply(&self, config: &mut TrainingConfig) -> Result<(), OptionsError> {
        set!(config.dataroot, self.dataroot.clone());
        if let Some(d) = self.direction {
            config.direction = match d {
                DirectionArg::AtoB => Direction::AtoB,
                DirectionArg::BtoA => Direction::BtoA,
            };
        }
        if self.reverse {
            config.direction = match config.direction {
                Direction::AtoB => Direction::BtoA,
                Direction::BtoA => Direction::AtoB,
            };
        }
        set!(config.transform.preprocess, self.preprocess);
        set!(config.transform.load_size, self.load_size);
        set!(config.transform.crop_size, self.crop_size);
        if self.no_flip {
            config.transform.flip = false;
        }
        if self.serial_batches {
            config.serial_batches = true;
        }
        if self.max_dataset_size.is_some() {
            config.max_dataset_size = self.max_dataset_size;
        }
        if self.skip_bad_images {
            config.skip_bad_images = true;
        }
        set!(config.batch_size, self.batch_size);
        set!(config.prefetch, self.prefetch);
        set!(config.n_epochs, self.n_epochs);
        set!(config.n_epochs_decay, self.n_epochs_decay);
        set!(config.warmup_epochs, self.warmup_epochs);
        if self.stop_idt_epochs.is_some() {
            config.stop_idt_epochs = self.stop_idt_epochs;
        }
        if self.decay_idt {
            config.decay_idt = true;
        }
        if let Some(seed) = self.seed {
            config.seed = seed;
            config.model = config.model.clone().with_seed(seed);
        }
        set!(config.checkpoint_every, self.checkpoint_every);
        set!(config.keep_checkpoints, self.keep_checkpoints);
        set!(config.sample_every, self.sample_every);
        set!(config.save_epoch_freq, self.save_epoch_freq);
        set!(config.nan_policy, self.nan_policy);
        if let Some(every) = self.eval_every {
            let mut evaluation = config
                .evaluation
                .clone()
                .unwrap_or_else(|| EvaluationConfig::new(every));
            evaluation.every = every;
            config.evaluation = Some(evaluation);
        }
        let evaluation_flags = self.eval_input.is_some()
            || self.fid_real.is_some()
            || self.fid_weights.is_some()
            || self.paired_target.is_some()
            || self.eval_size.is_some();
        if evaluation_flags {
            let Some(evaluation) = config.evaluation.as_mut() else {
                return Err(OptionsError::Missing(
                    "--eval-input, --fid-real, --fid-weights, --paired-target and --eval-size set \
                     up periodic evaluation: add --eval-every N",
                ));
            };
            if self.eval_input.is_some() {
                evaluation.input = self.eval_input.clone();
            }
            if self.fid_real.is_some() {
                evaluation.fid_real = self.fid_real.clone();
            }
            if self.fid_weights.is_some() {
                evaluation.fid_weights = self.fid_weights.clone();
            }
            if self.paired_target.is_some() {
                evaluation.paired_target = self.paired_target.clone();
            }
            if self.eval_size.is_some() {
                evaluation.size = self.eval_size;
            }
        }
        let flip_equivariance = either(self.flip_equivariance, self.no_flip_equivariance);
        let identity = either(self.identity, self.no_identity);
        match &mut config.model {
            ModelConfig::Enco(c) => {
                self.not_for(
                    "enco",
                    &[
                        (
                            "--lr",
                            self.lr.is_some(),
                            "; EnCo has --lr-g, --lr-d and --lr-f",
                        ),
                        ("--lambda-a", self.lambda_a.is_some(), ""),
                        ("--lambda-b", self.lambda_b.is_some(), ""),
                        (
                            "--lambda-identity",
                            self.lambda_identity.is_some(),
                            "; use --lambda-idt",
                        ),
                        ("--pool-size", self.pool_size.is_some(), ""),
                        ("--cyclegan-gpu-networks", self.cyclegan_gpu_networks, ""),
                        (
                            "--negatives-from-minibatch",
                            self.negatives_from_minibatch,
                            "",
                        ),
                    ],
                )?;
                set!(c.generator.ngf, self.ngf);
                set!(c.generator.n_blocks, self.n_blocks);
                set!(c.discriminator.ndf, self.ndf);
                set!(c.discriminator.n_layers, self.n_layers_d);
                if self.no_antialias {
                    c.generator.no_antialias = true;
                    c.discriminator.no_antialias = true;
                }
                if self.no_antialias_up {
                    c.generator.no_antialias_up = true;
                }
                set!(c.gan_mode, self.gan_mode);
                set!(c.lambda_gan, self.lambda_gan);
                set!(c.lambda_nce, self.lambda_nce);
                set!(c.lambda_idt, self.lambda_idt);
                set!(c.identity_loss, identity);
                set!(c.weighting, self.loss_weighting);
                set!(c.content_loss, self.content_loss);
                set!(c.nce_t, self.nce_t);
                if self.no_stop_gradient {
                    c.stop_gradient = false;
                }
                set!(c.nce_layers, self.nce_layers.clone());
                set!(c.sampler.num_patches, self.num_patches);
                set!(c.head_nc, self.head_nc);
                let uniform = self.uniform_sampling || self.sampling == Some(SamplingArg::Uniform);
                if uniform {
                    if self.oversample_ratio.is_some() || self.random_ratio.is_some() {
                        return Err(OptionsError::Conflict(
                            "--sampling uniform",
                            "--oversample-ratio/--random-ratio",
                            "uniform sampling has neither",
                        ));
                    }
                    c.sampler = DagSamplerConfig::uniform(c.sampler.num_patches);
                } else if self.sampling == Some(SamplingArg::Dag) && c.sampler.random_ratio >= 1.0 {
                    // From a uniform base (e.g. a config file), back to DAG's default ratios.
                    c.sampler = DagSamplerConfig::new().with_num_patches(c.sampler.num_patches);
                }
                set!(c.sampler.oversample_ratio, self.oversample_ratio);
                set!(c.sampler.random_ratio, self.random_ratio);
                set!(c.head_norm, self.prj_norm);
                if self.no_predictor {
                    c.predictor = false;
                }
                set!(c.lr_g, self.lr_g);
                set!(c.lr_d, self.lr_d);
                set!(c.lr_f, self.lr_f);
                set!(c.beta1, self.beta1);
                set!(c.beta2, self.beta2);
                set!(config.flip_equivariance, flip_equivariance);
            }
            ModelConfig::Cut(c) => {
                let name = match c.variant {
                    enco_train::CutVariant::Cut => "cut",
                    enco_train::CutVariant::FastCut => "fastcut",
                };
                self.not_for(name, &self.enco_only())?;
                self.not_for(
                    name,
                    &[
                        ("--stop-idt-epochs", self.stop_idt_epochs.is_some(), ""),
                        ("--decay-idt", self.decay_idt, ""),
                        ("--lambda-a", self.lambda_a.is_some(), ""),
                        ("--lambda-b", self.lambda_b.is_some(), ""),
                        ("--lambda-identity", self.lambda_identity.is_some(), ""),
                        ("--pool-size", self.pool_size.is_some(), ""),
                        ("--cyclegan-gpu-networks", self.cyclegan_gpu_networks, ""),
                    ],
                )?;
                set!(c.generator.ngf, self.ngf);
                set!(c.generator.n_blocks, self.n_blocks);
                set!(c.discriminator.ndf, self.ndf);
                set!(c.discriminator.n_layers, self.n_layers_d);
                if self.no_antialias {
                    c.generator.no_antialias = true;
                    c.discriminator.no_antialias = true;
                }
                if self.no_antialias_up {
                    c.generator.no_antialias_up = true;
                }
                set!(c.gan_mode, self.gan_mode);
                set!(c.lambda_gan, self.lambda_gan);
                set!(c.lambda_nce, self.lambda_nce);
                set!(c.nce_idt, identity);
                set!(c.nce_t, self.nce_t);
                if self.negatives_from_minibatch {
                    c.negatives_from_minibatch = true;
                }
                set!(c.nce_layers, self.nce_layers.clone());
                set!(c.num_patches, self.num_patches);
                set!(c.head_nc, self.head_nc);
                set!(c.lr, self.lr);
                set!(c.beta1, self.beta1);
                set!(c.beta2, self.beta2);
                set!(c.flip_equivariance, flip_equivariance);
            }
            ModelConfig::CycleGan(c) => {
                self.not_for("cyclegan", &self.enco_only())?;
                self.not_for(
                    "cyclegan",
                    &[
                        ("--stop-idt-epochs", self.stop_idt_epochs.is_some(), ""),
                        ("--decay-idt", self.decay_idt, ""),
                        ("--lambda-gan", self.lambda_gan.is_some(), ""),
                        ("--lambda-nce", self.lambda_nce.is_some(), ""),
                        ("--identity", self.identity, "; use --lambda-identity"),
                        (
                            "--no-identity",
                            self.no_identity,
                            "; use --lambda-identity 0",
                        ),
                        ("--nce-t", self.nce_t.is_some(), ""),
                        ("--nce-layers", self.nce_layers.is_some(), ""),
                        ("--num-patches", self.num_patches.is_some(), ""),
                        ("--head-nc", self.head_nc.is_some(), ""),
                        (
                            "--negatives-from-minibatch",
                            self.negatives_from_minibatch,
                            "",
                        ),
                        (
                            "--no-antialias",
                            self.no_antialias,
                            "; the official CycleGAN ignores it, use --cyclegan-gpu-networks",
                        ),
                        (
                            "--no-antialias-up",
                            self.no_antialias_up,
                            "; the official CycleGAN ignores it, use --cyclegan-gpu-networks",
                        ),
                        (
                            "--beta2",
                            self.beta2.is_some(),
                            "; CycleGAN fixes β₂ at 0.999",
                        ),
                        ("--flip-equivariance", flip_equivariance.is_some(), ""),
                    ],
                )?;
                set!(c.generator.ngf, self.ngf);
                set!(c.generator.n_blocks, self.n_blocks);
                set!(c.discriminator.ndf, self.ndf);
                set!(c.discriminator.n_layers, self.n_layers_d);
                if self.cyclegan_gpu_networks {
                    c.networks = CycleGanNetworks::OfficialGpu;
                }
                set!(c.gan_mode, self.gan_mode);
                set!(c.lambda_a, self.lambda_a);
                set!(c.lambda_b, self.lambda_b);
                set!(c.lambda_identity, self.lambda_identity);
                set!(c.pool_size, self.pool_size);
                set!(c.lr, self.lr);
                set!(c.beta1, self.beta1);
            }
        }
        Ok(())
    }

    /// EnCo's own flags, for the check that another model got none of them.
    fn enco_only(&self) -> Vec<(&'static str, bool, &'static str)> {
        vec![
            ("--lambda-idt", self.lambda_idt.is_some(), ""),
            ("--loss-weighting", self.loss_weighting.is_some(), ""),
            ("--content-loss", self.content_loss.is_some(), ""),
            ("--no-stop-gradient", self.no_stop_gradient, ""),
            (
                "--sampling",
                self.sampling.is_some() || self.uniform_sampling,
                "",
            ),
            ("--oversample-ratio", self.oversample_ratio.is_some(), ""),
            ("--random-ratio", self.random_ratio.is_some(), ""),
            ("--prj-norm", self.prj_norm.is_some(), ""),
            ("--no-predictor", self.no_predictor, ""),
            ("--lr-g", self.lr_g.is_some(), "; use --lr"),
            ("--lr-d", self.lr_d.is_some(), "; use --lr"),
            ("--lr-f", self.lr_f.is_some(), "; use --lr"),
        ]
    }

    fn not_for(
        &self,
        model: &'static str,
        flags: &[(&'static str, bool, &'static str)],
    ) -> Result<(), OptionsError> {
        match flags.iter().find(|(_, given, _)| *given) {
            Some(&(flag, _, hint)) => Err(OptionsError::NotForModel { flag, model, hint }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use clap::Parser;
    use enco_train::{CutConfig, CycleGanConfig, EncoConfig};

    use super::*;

    #[derive(Parser, Debug)]
    struct Line {
        #[command(flatten)]
        options: TrainingOptions,
    }

    fn options(args: &[&str]) -> TrainingOptions {
        let line = std::iter::once("enco").chain(args.iter().copied());
        Line::try_parse_from(line)
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
            .options
    }

    fn resolve(args: &[&str]) -> TrainingConfig {
        options(args)
            .resolve()
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    fn enco(config: &TrainingConfig) -> &EncoConfig {
        match &config.model {
            ModelConfig::Enco(c) => c,
            other => panic!("not EnCo: {other:?}"),
        }
    }

    fn cut(config: &TrainingConfig) -> &CutConfig {
        match &config.model {
            ModelConfig::Cut(c) => c,
            other => panic!("not CUT: {other:?}"),
        }
    }

    fn cyclegan(config: &TrainingConfig) -> &CycleGanConfig {
        match &config.model {
            ModelConfig::CycleGan(c) => c,
            other => panic!("not CycleGAN: {other:?}"),
        }
    }

    type Check = fn(&TrainingConfig) -> bool;

    #[test]
    fn every_flag_reaches_the_config() {
        let cases: Vec<(&[&str], Check)> = vec![
            (&["--dataroot", "data/x"], |c| {
                c.dataroot == Path::new("data/x")
            }),
            (&["--direction", "BtoA"], |c| c.direction == Direction::BtoA),
            (&["--reverse"], |c| c.direction == Direction::BtoA),
            (&["--preprocess", "crop"], |c| {
                c.transform.preprocess == Preprocess::Crop
            }),
            (&["--load-size", "300"], |c| c.transform.load_size == 300),
            (&["--crop-size", "128"], |c| c.transform.crop_size == 128),
            (&["--no-flip"], |c| !c.transform.flip),
            (&["--serial-batches"], |c| c.serial_batches),
            (&["--max-dataset-size", "7"], |c| {
                c.max_dataset_size == Some(7)
            }),
            (&["--no-flip-equivariance"], |c| !c.flip_equivariance),
            (&["--batch-size", "4"], |c| c.batch_size == 4),
            (&["--skip-bad-images"], |c| c.skip_bad_images),
            (&["--prefetch", "2"], |c| c.prefetch == 2),
            (&["--n-epochs", "3"], |c| c.n_epochs == 3),
            (&["--n-epochs-decay", "5"], |c| c.n_epochs_decay == 5),
            (&["--warmup-epochs", "0"], |c| c.warmup_epochs == 0),
            (&["--stop-idt-epochs", "9"], |c| {
                c.stop_idt_epochs == Some(9)
            }),
            (&["--decay-idt"], |c| c.decay_idt),
            (&["--seed", "11"], |c| c.seed == 11 && enco(c).seed == 11),
            (&["--checkpoint-every", "17"], |c| c.checkpoint_every == 17),
            (&["--keep-checkpoints", "5"], |c| c.keep_checkpoints == 5),
            (&["--sample-every", "0"], |c| c.sample_every == 0),
            (&["--save-epoch-freq", "5"], |c| c.save_epoch_freq == 5),
            (&["--nan-policy", "skip-step"], |c| {
                c.nan_policy == NanPolicy::SkipStep
            }),
            (&["--eval-every", "50", "--paired-target", "t"], |c| {
                c.evaluation
                    .as_ref()
                    .is_some_and(|e| e.every == 50 && e.paired_target == Some(PathBuf::from("t")))
            }),
            (
                &[
                    "--eval-every",
                    "9",
                    "--fid-weights",
                    "w.pth",
                    "--eval-input",
                    "i",
                ],
                |c| {
                    c.evaluation.as_ref().is_some_and(|e| {
                        e.fid_weights == Some(PathBuf::from("w.pth"))
                            && e.input == Some(PathBuf::from("i"))
                    })
                },
            ),
            (
                &[
                    "--eval-every",
                    "9",
                    "--fid-weights",
                    "w",
                    "--fid-real",
                    "r",
                    "--eval-size",
                    "64",
                ],
                |c| {
                    c.evaluation.as_ref().is_some_and(|e| {
                        e.fid_real == Some(PathBuf::from("r")) && e.size == Some(64)
                    })
                },
            ),
            (&["--ngf", "16"], |c| enco(c).generator.ngf == 16),
            (&["--ndf", "24"], |c| enco(c).discriminator.ndf == 24),
            (
                &["--n-blocks", "6", "--nce-layers", "3,7,13,15,21,25"],
                |c| enco(c).generator.n_blocks == 6,
            ),
            (&["--n-layers-d", "2"], |c| {
                enco(c).discriminator.n_layers == 2
            }),
            (&["--no-antialias"], |c| {
                enco(c).generator.no_antialias && enco(c).discriminator.no_antialias
            }),
            (&["--no-antialias-up"], |c| {
                enco(c).generator.no_antialias_up
            }),
            (&["--gan-mode", "hinge"], |c| {
                enco(c).gan_mode == GanMode::Hinge
            }),
            (&["--lambda-gan", "0.5"], |c| enco(c).lambda_gan == 0.5),
            (&["--lambda-nce", "3"], |c| enco(c).lambda_nce == 3.0),
            (&["--lambda-idt", "4"], |c| enco(c).lambda_idt == 4.0),
            (&["--no-identity"], |c| !enco(c).identity_loss),
            (&["--loss-weighting", "paper"], |c| {
                enco(c).weighting == LossWeighting::Paper
            }),
            (&["--content-loss", "patchnce"], |c| {
                enco(c).content_loss == ContentLoss::PatchNce
            }),
            (&["--nce-t", "0.2"], |c| enco(c).nce_t == 0.2),
            (&["--no-stop-gradient"], |c| !enco(c).stop_gradient),
            (&["--nce-layers", "7,24"], |c| {
                enco(c).nce_layers == vec![7, 24]
            }),
            (&["--num-patches", "64"], |c| {
                enco(c).sampler.num_patches == 64
            }),
            (&["--head-nc", "128"], |c| enco(c).head_nc == 128),
            (&["--netf-nc", "64"], |c| enco(c).head_nc == 64),
            (&["--sampling", "uniform"], |c| {
                enco(c).sampler.random_ratio == 1.0 && enco(c).sampler.oversample_ratio == 1
            }),
            (&["--uniform-sampling"], |c| {
                enco(c).sampler.random_ratio == 1.0
            }),
            (&["--oversample-ratio", "8"], |c| {
                enco(c).sampler.oversample_ratio == 8
            }),
            (&["--random-ratio", "0.25"], |c| {
                enco(c).sampler.random_ratio == 0.25
            }),
            (&["--prj-norm", "ln"], |c| {
                enco(c).head_norm == HeadNorm::LayerNorm
            }),
            (&["--prj-norm", "none"], |c| {
                enco(c).head_norm == HeadNorm::None
            }),
            (&["--no-predictor"], |c| !enco(c).predictor),
            (&["--lr-g", "1e-4"], |c| enco(c).lr_g == 1e-4),
            (&["--lr-d", "3e-4"], |c| enco(c).lr_d == 3e-4),
            (&["--lr-f", "2e-5"], |c| enco(c).lr_f == 2e-5),
            (&["--beta1", "0.9"], |c| enco(c).beta1 == 0.9),
            (&["--beta2", "0.99"], |c| enco(c).beta2 == 0.99),
            (&["--model", "cut", "--lr", "1e-3"], |c| cut(c).lr == 1e-3),
            (&["--model", "cut", "--no-identity"], |c| !cut(c).nce_idt),
            (&["--model", "fastcut", "--identity"], |c| cut(c).nce_idt),
            (&["--model", "cut", "--flip-equivariance"], |c| {
                cut(c).flip_equivariance
            }),
            (&["--model", "cut", "--negatives-from-minibatch"], |c| {
                cut(c).negatives_from_minibatch
            }),
            (&["--model", "cut", "--nce-layers", "0,4,8"], |c| {
                cut(c).nce_layers == vec![0, 4, 8]
            }),
            (
                &["--model", "cut", "--num-patches", "32", "--head-nc", "64"],
                |c| cut(c).num_patches == 32 && cut(c).head_nc == 64,
            ),
            (&["--model", "cyclegan", "--lambda-a", "5"], |c| {
                cyclegan(c).lambda_a == 5.0
            }),
            (&["--model", "cyclegan", "--lambda-b", "6"], |c| {
                cyclegan(c).lambda_b == 6.0
            }),
            (&["--model", "cyclegan", "--lambda-identity", "0"], |c| {
                cyclegan(c).lambda_identity == 0.0
            }),
            (&["--model", "cyclegan", "--pool-size", "0"], |c| {
                cyclegan(c).pool_size == 0
            }),
            (&["--model", "cyclegan", "--cyclegan-gpu-networks"], |c| {
                cyclegan(c).networks == CycleGanNetworks::OfficialGpu
            }),
        ];
        for (args, check) in cases {
            let config = resolve(args);
            assert!(check(&config), "{args:?} did not reach the config");
            // The same flag changes something: the check fails on the defaults.
            let base = match args {
                ["--model", m, ..] => resolve(&["--model", m]),
                _ => resolve(&[]),
            };
            assert!(
                !check(&base),
                "{args:?}: the check also holds without the flag"
            );
        }
    }

    #[test]
    fn flags_config_json_config_is_a_round_trip() {
        let config = resolve(&[
            "--preset",
            "cityscapes",
            "--ngf",
            "16",
            "--prj-norm",
            "ln",
            "--max-dataset-size",
            "10",
            "--nce-layers",
            "3,7,24,28",
        ]);
        let text = serde_json::to_string_pretty(&config).unwrap();
        let back = TrainingConfig::from_json(&text).unwrap();
        assert_eq!(serde_json::to_string_pretty(&back).unwrap(), text);
        // And through a file with flags on top: the flags win, the rest is the file's.
        let path = std::env::temp_dir().join(format!("enco-options-{}.json", std::process::id()));
        std::fs::write(&path, &text).unwrap();
        let path_arg = path.to_str().unwrap();
        let over = resolve(&["--config", path_arg, "--ngf", "8", "--direction", "AtoB"]);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(enco(&over).generator.ngf, 8);
        assert_eq!(over.direction, Direction::AtoB);
        assert_eq!(enco(&over).head_norm, HeadNorm::LayerNorm);
        assert_eq!(over.max_dataset_size, Some(10));
    }

    #[test]
    fn a_config_file_missing_newer_options_takes_their_defaults() {
        let full = serde_json::to_value(TrainingConfig::for_model(ModelKind::Cut, "d")).unwrap();
        let mut partial = full.clone();
        let fields = partial.as_object_mut().unwrap();
        fields.remove("serial_batches");
        fields.remove("max_dataset_size");
        fields.remove("sample_every");
        let back = TrainingConfig::from_json(&partial.to_string()).unwrap();
        assert_eq!(serde_json::to_value(back).unwrap(), full);
    }

    #[test]
    fn flags_override_presets_and_models_never_the_reverse() {
        // The preset's direction, unless a flag says otherwise.
        assert_eq!(
            resolve(&["--preset", "cityscapes"]).direction,
            Direction::BtoA
        );
        assert_eq!(
            resolve(&["--preset", "cityscapes", "--direction", "AtoB"]).direction,
            Direction::AtoB
        );
        // The preset's paper budget, and the model's own epochs otherwise.
        let paper = resolve(&["--preset", "horse2zebra", "--paper-epochs"]);
        assert_eq!((paper.n_epochs, paper.n_epochs_decay), (200, 200));
        let fastcut = resolve(&["--model", "fastcut"]);
        assert_eq!((fastcut.n_epochs, fastcut.n_epochs_decay), (150, 50));
        assert_eq!(cut(&fastcut).lambda_nce, 10.0);
        let fastcut = resolve(&["--model", "fastcut", "--lambda-nce", "2", "--n-epochs", "7"]);
        assert_eq!(cut(&fastcut).lambda_nce, 2.0);
        assert_eq!(fastcut.n_epochs, 7);
        // A preset with another model keeps the model's defaults and the preset's data.
        let cut_city = resolve(&["--preset", "cityscapes", "--model", "cut"]);
        assert_eq!(cut_city.direction, Direction::BtoA);
        assert_eq!(cut(&cut_city).lambda_nce, 1.0);
    }

    #[test]
    fn conflicts_and_impossible_values_are_errors_naming_the_flag() {
        let error = |args: &[&str]| match options(args).resolve() {
            Ok(c) => panic!("{args:?} resolved to {c:?}"),
            Err(e) => e.to_string(),
        };
        let cases: &[(&[&str], &str)] = &[
            (
                &["--preset", "cat2dog", "--paper-epochs", "--n-epochs", "3"],
                "--paper-epochs",
            ),
            (&["--model", "cut", "--prj-norm", "ln"], "--prj-norm"),
            (&["--model", "cut", "--lr-g", "1e-4"], "--lr-g"),
            (&["--lr", "1e-4"], "--lr"),
            (
                &["--model", "cyclegan", "--nce-layers", "0,4"],
                "--nce-layers",
            ),
            (&["--model", "cyclegan", "--no-antialias"], "--no-antialias"),
            (
                &["--model", "cyclegan", "--no-antialias-up"],
                "--no-antialias-up",
            ),
            (
                &["--model", "cut", "--stop-idt-epochs", "3"],
                "--stop-idt-epochs",
            ),
            (&["--model", "fastcut", "--decay-idt"], "--decay-idt"),
            (
                &["--preprocess", "scale-width-and-crop", "--crop-size", "300"],
                "--crop-size",
            ),
            (&["--nce-layers", "3,7,13"], "--nce-layers"),
            (&["--nce-layers", "3,3"], "--nce-layers"),
            (&["--nce-layers", "3,40"], "--nce-layers"),
            (&["--model", "cut", "--nce-layers", "8,4"], "--nce-layers"),
            (&["--num-patches", "0"], "--num-patches"),
            (&["--model", "cut", "--num-patches", "0"], "--num-patches"),
            (&["--crop-size", "512"], "--crop-size"),
            (&["--load-size", "0"], "--load-size"),
            (&["--ngf", "0"], "--ngf"),
            (&["--ndf", "0"], "--ndf"),
            (&["--n-layers-d", "0"], "--n-layers-d"),
            (&["--batch-size", "0"], "--batch-size"),
            (&["--random-ratio", "1.5"], "--random-ratio"),
            (&["--oversample-ratio", "0"], "--oversample-ratio"),
            (&["--head-nc", "1"], "--head-nc"),
            (&["--lr-g", "0"], "--lr-g"),
            (&["--beta1", "1"], "--beta1"),
            (&["--lambda-nce=-1"], "--lambda-nce"),
            (&["--max-dataset-size", "0"], "--max-dataset-size"),
            (&["--n-epochs", "0", "--n-epochs-decay", "0"], "--n-epochs"),
            (
                &["--sampling", "uniform", "--random-ratio", "0.5"],
                "--sampling",
            ),
            (&["--fid-weights", "w.pth"], "--eval-every"),
            (&["--eval-every", "10"], "--fid-weights"),
            (
                &["--eval-every", "0", "--paired-target", "t"],
                "--eval-every",
            ),
        ];
        for (args, flag) in cases {
            let message = error(args);
            assert!(message.contains(flag), "{args:?}: {message}");
        }
        // clap's own exclusions.
        for args in [
            &["--config", "x.json", "--preset", "cat2dog"][..],
            &["--config", "x.json", "--model", "cut"],
            &["--paper-epochs"],
            &["--identity", "--no-identity"],
            &["--direction", "AtoB", "--reverse"],
        ] {
            let line = std::iter::once("enco").chain(args.iter().copied());
            assert!(Line::try_parse_from(line).is_err(), "{args:?} parsed");
        }
    }
}
