//! The training loop over epochs (spec §7.4): schedules, identity phase, data, checkpoints and
//! exact resume.

use std::path::{Path, PathBuf};

use burn::module::AutodiffModule;
use burn::prelude::*;
use enco_data::{Direction, EpochLoader, Transform, UnpairedDataset};
use enco_nn::EncoAutodiffBackend;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::checkpoint::{TrainingPosition, load_checkpoint, prune_checkpoints, save_checkpoint};
use crate::error::TrainError;
use crate::evaluation::{BEST_DIR, EvaluationConfig, Evaluator};
use crate::model_config::{ModelConfig, ModelKind};
use crate::model_trainer::ModelTrainer;
use crate::monitor::{
    LossLog, LossRecord, plot_loss_curves, read_loss_log, sample_grid, save_sample_grid,
};
use crate::schedule::{IdentitySchedule, LrSchedule};
use crate::step::StepLosses;

/// A whole training run: model, data and schedule (defaults: the official README command).
#[derive(Config, Debug)]
pub struct TrainingConfig {
    /// The model and its optimisers: EnCo, CUT, FastCUT or CycleGAN.
    pub model: ModelConfig,
    /// Folder holding `trainA` and `trainB`.
    pub dataroot: PathBuf,
    /// Which domain is the source.
    #[config(default = "Direction::AtoB")]
    pub direction: Direction,
    /// Training transform (resize 286, random crop 256, flips).
    #[config(default = "Transform::default()")]
    pub transform: Transform,
    /// Images per batch.
    #[config(default = 1)]
    pub batch_size: usize,
    /// Epochs at the base learning rate.
    #[config(default = 100)]
    pub n_epochs: usize,
    /// Epochs of linear learning-rate decay.
    #[config(default = 100)]
    pub n_epochs_decay: usize,
    /// Warm-up epochs (0 = off).
    #[config(default = 20)]
    pub warmup_epochs: usize,
    /// Last epoch with the identity loss (`None`: `n_epochs`, the first half).
    #[config(default = "None")]
    pub stop_idt_epochs: Option<usize>,
    /// Decay the identity weight linearly over training (`--decay_idt`).
    #[config(default = false)]
    pub decay_idt: bool,
    /// Write a checkpoint every this many iterations (and at every epoch end).
    #[config(default = 5000)]
    pub checkpoint_every: u64,
    /// Checkpoints kept (the newest).
    #[config(default = 3)]
    pub keep_checkpoints: usize,
    /// Batches decoded ahead of the training thread.
    #[config(default = 4)]
    pub prefetch: usize,
    /// Seed of the data order, crops, flips and patch sampling.
    #[config(default = 0)]
    pub seed: u64,
    /// EnCo's `--flip_equivariance` (README command: on): flip the whole A batch horizontally
    /// with probability 0.5 and, independently, the B batch (spec §8.4). CUT and FastCUT have
    /// their own ([`CutConfig::flip_equivariance`](crate::CutConfig::flip_equivariance));
    /// CycleGAN has none.
    #[config(default = true)]
    pub flip_equivariance: bool,
    /// Write a sample grid (real A | fake B | real B | idt B) every this many iterations
    /// (0: never).
    #[config(default = 1000)]
    pub sample_every: u64,
    /// Take the images in order, each A with `B[i mod |B|]`, instead of a shuffled epoch with
    /// random B draws (`--serial_batches`).
    #[config(default = false)]
    pub serial_batches: bool,
    /// Use at most this many images of each domain, the first in sorted order
    /// (`--max_dataset_size`; `None`: all).
    #[config(default = "None")]
    pub max_dataset_size: Option<usize>,
    /// Keep a permanent snapshot of the model every this many epochs in
    /// `snapshots/epoch_NNNN`, outside the rotation of `keep_checkpoints`
    /// (`--save_epoch_freq`; 0: none).
    #[config(default = 0)]
    pub save_epoch_freq: usize,
    /// Periodic evaluation (`None`: none).
    #[config(default = "None")]
    pub evaluation: Option<EvaluationConfig>,
}

impl TrainingConfig {
    /// A run of model `kind` with its official defaults and epoch budget (see
    /// [`ModelKind::default_epochs`]).
    pub fn for_model(kind: ModelKind, dataroot: impl Into<PathBuf>) -> Self {
        let (n_epochs, n_epochs_decay, warmup_epochs) = kind.default_epochs();
        Self::new(kind.default_config(), dataroot.into())
            .with_n_epochs(n_epochs)
            .with_n_epochs_decay(n_epochs_decay)
            .with_warmup_epochs(warmup_epochs)
    }

    /// Reads a configuration written by [`Config::save`] (or by `enco config`). Top-level
    /// options missing from the file (written before they existed, or left out by hand) take
    /// their defaults; `model` and `dataroot` are required.
    pub fn load_file(path: &Path) -> Result<Self, TrainError> {
        let named =
            |e: &dyn std::fmt::Display| TrainError::Config(format!("{}: {e}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| named(&e))?;
        Self::from_json(&text).map_err(|e| named(&e))
    }

    /// Parses a configuration as [`TrainingConfig::load_file`] does.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        let mut value: serde_json::Value = serde_json::from_str(text)?;
        if let serde_json::Value::Object(fields) = &mut value
            && let (Some(model), Some(dataroot)) = (fields.get("model"), fields.get("dataroot"))
        {
            let model: ModelConfig = serde_json::from_value(model.clone())?;
            let dataroot: PathBuf = serde_json::from_value(dataroot.clone())?;
            if let serde_json::Value::Object(defaults) =
                serde_json::to_value(Self::new(model, dataroot))?
            {
                for (key, default) in defaults {
                    fields.entry(key).or_insert(default);
                }
            }
        }
        serde_json::from_value(value)
    }

    /// The training images as this configuration reads them: `dataroot/trainA` and
    /// `dataroot/trainB` (swapped for B → A), at most `max_dataset_size` of each, B drawn at
    /// random unless `serial_batches`.
    pub fn open_dataset(&self) -> Result<UnpairedDataset, TrainError> {
        let mut dataset = UnpairedDataset::open(&self.dataroot, "train", self.direction)?;
        if let Some(max) = self.max_dataset_size {
            dataset.a_paths.truncate(max);
            dataset.b_paths.truncate(max);
        }
        dataset.random_b = !self.serial_batches;
        Ok(dataset)
    }

    /// The learning-rate schedule.
    pub fn lr_schedule(&self) -> LrSchedule {
        LrSchedule {
            n_epochs: self.n_epochs,
            n_epochs_decay: self.n_epochs_decay,
            warmup_epochs: self.warmup_epochs,
        }
    }

    /// The identity-loss schedule.
    pub fn identity_schedule(&self) -> IdentitySchedule {
        IdentitySchedule {
            stop_epoch: self.stop_idt_epochs.unwrap_or(self.n_epochs),
            decay: self.decay_idt,
            total_epochs: self.n_epochs + self.n_epochs_decay,
        }
    }
}

/// What one iteration reports to the caller (for progress bars and logs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepReport {
    /// 1-based epoch.
    pub epoch: usize,
    /// Total epochs.
    pub epochs: usize,
    /// 1-based batch within the epoch.
    pub batch: usize,
    /// Batches per epoch.
    pub batches: usize,
    /// Iterations trained so far, this one included.
    pub iteration: u64,
    /// The learning-rate factor of the epoch.
    pub lr_factor: f64,
    /// The losses of the iteration.
    pub losses: StepLosses,
}

const CONFIG_FILE: &str = "training.json";
/// The folder of the permanent epoch snapshots (`save_epoch_freq`).
pub const SNAPSHOTS_DIR: &str = "snapshots";
/// The loss log of a run, inside its output folder.
pub const LOSS_LOG_FILE: &str = "losses.jsonl";
/// The loss-curve plot of a run, inside its output folder (redrawn at every checkpoint).
pub const LOSS_CURVE_FILE: &str = "loss_curve.png";
/// The folder of sample grids of a run, inside its output folder.
pub const SAMPLES_DIR: &str = "samples";
const CHECKPOINTS: &str = "checkpoints";
const PREFIX: &str = "iter_";

/// A training run writing into an output folder: `training.json` (the configuration),
/// `checkpoints/iter_N` (the newest `keep_checkpoints`), `losses.jsonl` (one line per iteration),
/// `loss_curve.png` and `samples/iter_N.png`.
pub struct TrainingRun<B: EncoAutodiffBackend> {
    /// The trainer (model and optimisers).
    pub trainer: ModelTrainer<B>,
    /// Where training stands.
    pub position: TrainingPosition,
    /// The run's configuration.
    pub config: TrainingConfig,
    dataset: UnpairedDataset,
    output: PathBuf,
    device: B::Device,
    log: LossLog,
    evaluator: Option<Evaluator<B::InnerBackend>>,
}

impl<B: EncoAutodiffBackend> TrainingRun<B> {
    /// Starts a new run: opens the data, builds the model, writes `training.json`.
    pub fn new(
        config: TrainingConfig,
        output: &Path,
        device: &B::Device,
    ) -> Result<Self, TrainError> {
        config.validate()?;
        let dataset = config.open_dataset()?;
        if dataset.len() < config.batch_size {
            return Err(TrainError::Config(format!(
                "batch size {} does not fit {} training images",
                config.batch_size,
                dataset.len()
            )));
        }
        // Building the model checks what only the networks know (tap channels); nothing is
        // written before it succeeds.
        let trainer = config.model.init_trainer::<B>(device)?;
        if let Some(weights) = config
            .evaluation
            .as_ref()
            .and_then(|e| e.fid_weights.as_ref())
            .filter(|w| !w.is_file())
        {
            return Err(TrainError::InvalidOption {
                option: "evaluation.fid_weights",
                reason: format!("{}: no such file", weights.display()),
            });
        }
        std::fs::create_dir_all(output)
            .map_err(|e| TrainError::Checkpoint(format!("{}: {e}", output.display())))?;
        config
            .save(output.join(CONFIG_FILE))
            .map_err(|e| TrainError::Checkpoint(format!("{}: {e}", output.display())))?;
        let log = LossLog::open(&output.join(LOSS_LOG_FILE), 0)?;
        let evaluator = evaluator::<B>(&config, output, 0, device)?;
        Ok(Self {
            log,
            evaluator,
            trainer,
            position: TrainingPosition {
                epoch: 1,
                batch: 0,
                iteration: 0,
                rng: ChaCha8Rng::seed_from_u64(config.seed),
            },
            dataset,
            output: output.to_path_buf(),
            config,
            device: device.clone(),
        })
    }

    /// Continues the run in `output` from its newest checkpoint, exactly where it stopped.
    pub fn resume(output: &Path, device: &B::Device) -> Result<Self, TrainError> {
        let config = TrainingConfig::load_file(&output.join(CONFIG_FILE))?;
        let latest = latest_checkpoint(&output.join(CHECKPOINTS))?.ok_or_else(|| {
            TrainError::Checkpoint(format!(
                "{}: no checkpoint to resume from",
                output.display()
            ))
        })?;
        let dataset = config.open_dataset()?;
        let (trainer, position) = load_checkpoint::<B>(&latest, config.model.clone(), device)?;
        let log = LossLog::open(&output.join(LOSS_LOG_FILE), position.iteration)?;
        let evaluator = evaluator::<B>(&config, output, position.iteration, device)?;
        Ok(Self {
            log,
            evaluator,
            trainer,
            position,
            dataset,
            output: output.to_path_buf(),
            config,
            device: device.clone(),
        })
    }

    /// Total epochs of the run.
    pub fn epochs(&self) -> usize {
        self.config.n_epochs + self.config.n_epochs_decay
    }

    /// Iterations per epoch (`floor(max(|A|, |B|) / batch)`).
    pub fn batches_per_epoch(&self) -> usize {
        self.dataset.len() / self.config.batch_size
    }

    /// Trains until the end of the schedule, or until `max_iterations` more iterations ran;
    /// writes a checkpoint every `checkpoint_every` iterations, at every epoch end and when it
    /// stops. `on_step` sees every iteration.
    pub fn run(
        &mut self,
        max_iterations: Option<u64>,
        mut on_step: impl FnMut(&StepReport),
    ) -> Result<(), TrainError> {
        let lr = self.config.lr_schedule();
        let stop_at = max_iterations.map(|n| self.position.iteration + n);
        let batches = self.batches_per_epoch();
        while self.position.epoch <= self.epochs() {
            let epoch = self.position.epoch;
            let factor = lr.factor(epoch);
            let transform = if lr.is_finetuning(epoch) {
                self.config.transform.for_finetuning()
            } else {
                self.config.transform.clone()
            };
            let loader = EpochLoader::start(
                self.dataset.clone(),
                transform,
                self.config.batch_size,
                !self.config.serial_batches,
                epoch_seed(self.config.seed, epoch),
                self.config.prefetch,
            )?;
            for (index, batch) in loader.enumerate() {
                let batch = batch?;
                if index < self.position.batch {
                    continue; // already trained before the resume
                }
                let a = Tensor::<B, 4>::from_data(batch.a, &self.device);
                let b = Tensor::<B, 4>::from_data(batch.b, &self.device);
                let (a, b, losses) = self.step(a, b, epoch, factor)?;
                self.position.batch += 1;
                self.position.iteration += 1;
                let report = StepReport {
                    epoch,
                    epochs: self.epochs(),
                    batch: self.position.batch,
                    batches,
                    iteration: self.position.iteration,
                    lr_factor: factor,
                    losses,
                };
                self.log.append(&LossRecord::from(&report))?;
                on_step(&report);
                let every = self.config.sample_every;
                if every > 0 && self.position.iteration.is_multiple_of(every) {
                    self.save_samples(a.inner(), b.inner())?;
                }
                let every = self.config.checkpoint_every;
                if every > 0 && self.position.iteration.is_multiple_of(every) {
                    self.checkpoint()?;
                }
                if self
                    .evaluator
                    .as_ref()
                    .is_some_and(|e| e.due(self.position.iteration))
                {
                    self.evaluate()?;
                }
                if stop_at == Some(self.position.iteration) {
                    return self.checkpoint().map(|_| ());
                }
            }
            self.position.epoch += 1;
            self.position.batch = 0;
            self.checkpoint()?;
            let freq = self.config.save_epoch_freq;
            if freq > 0 && epoch.is_multiple_of(freq) {
                save_checkpoint(
                    &self.output.join(SNAPSHOTS_DIR),
                    &format!("epoch_{epoch:04}"),
                    &self.trainer,
                    &self.position,
                )?;
            }
        }
        // The end of training is always evaluated.
        if self
            .evaluator
            .as_ref()
            .is_some_and(|e| !e.due(self.position.iteration))
        {
            self.evaluate()?;
        }
        Ok(())
    }

    /// Scores the current generator ([`Evaluator::evaluate`]); when it is the best so far, its
    /// checkpoint replaces `best/` (with the scores in `best/eval.json`).
    pub fn evaluate(&mut self) -> Result<Option<crate::evaluation::EvalRecord>, TrainError> {
        let Some(evaluator) = self.evaluator.as_mut() else {
            return Ok(None);
        };
        let generator = self.trainer.generator().valid();
        let record = evaluator.evaluate(
            &generator,
            self.position.iteration,
            self.position.epoch,
            &self.device,
        )?;
        if record.best {
            let best = save_checkpoint(&self.output, BEST_DIR, &self.trainer, &self.position)?;
            let path = best.join("eval.json");
            let json = serde_json::to_string_pretty(&record)
                .map_err(|e| TrainError::Output(format!("{}: {e}", path.display())))?;
            std::fs::write(&path, json)
                .map_err(|e| TrainError::Output(format!("{}: {e}", path.display())))?;
        }
        Ok(Some(record))
    }

    /// One iteration of the model at `epoch`; returns the batches as the model saw them (EnCo's
    /// flips applied) and the losses.
    fn step(
        &mut self,
        mut a: Tensor<B, 4>,
        mut b: Tensor<B, 4>,
        epoch: usize,
        factor: f64,
    ) -> Result<(Tensor<B, 4>, Tensor<B, 4>, StepLosses), TrainError> {
        let rng = &mut self.position.rng;
        let losses = match (&mut self.trainer, &self.config.model) {
            (ModelTrainer::Enco(trainer), ModelConfig::Enco(model)) => {
                let identity = self.config.identity_schedule();
                let identity_phase =
                    identity.active(epoch) && model.identity_loss && model.lambda_nce > 0.0;
                trainer.config.lambda_idt = model.lambda_idt * identity.weight(epoch);
                if self.config.flip_equivariance {
                    if rng.random::<f64>() < 0.5 {
                        a = a.flip([3]);
                    }
                    if rng.random::<f64>() < 0.5 {
                        b = b.flip([3]);
                    }
                }
                trainer.step(a.clone(), b.clone(), identity_phase, factor, None, rng)?
            }
            (ModelTrainer::Cut(trainer), _) => trainer.step(a.clone(), b.clone(), factor, rng)?,
            (ModelTrainer::CycleGan(trainer), _) => {
                trainer.step(a.clone(), b.clone(), factor, rng)?
            }
            (ModelTrainer::Enco(_), other) => {
                return Err(TrainError::Config(format!(
                    "an EnCo trainer with a {} configuration",
                    other.kind()
                )));
            }
        };
        Ok((a, b, losses))
    }

    /// Writes a checkpoint of the current state, prunes old ones and redraws the loss curve;
    /// returns the checkpoint's folder.
    pub fn checkpoint(&self) -> Result<PathBuf, TrainError> {
        let dir = self.output.join(CHECKPOINTS);
        let name = format!("{PREFIX}{:010}", self.position.iteration);
        let path = save_checkpoint(&dir, &name, &self.trainer, &self.position)?;
        prune_checkpoints(&dir, PREFIX, self.config.keep_checkpoints.max(1))?;
        let records = read_loss_log(self.log.path())?;
        plot_loss_curves(&records, &self.output.join(LOSS_CURVE_FILE))?;
        Ok(path)
    }

    /// Translates a batch with the current generator (no gradient) and writes the sample grid
    /// `samples/iter_N.png`; returns its path.
    pub fn save_samples(
        &self,
        real_a: Tensor<B::InnerBackend, 4>,
        real_b: Tensor<B::InnerBackend, 4>,
    ) -> Result<PathBuf, TrainError> {
        let generator = self.trainer.generator().valid();
        let n = real_a.dims()[0];
        let out = generator.forward(Tensor::cat(vec![real_a.clone(), real_b.clone()], 0))?;
        let fake_b = out.clone().narrow(0, 0, n);
        let idt_b = out.narrow(0, n, n);
        let grid = sample_grid(real_a, fake_b, real_b, Some(idt_b))?;
        save_sample_grid(
            &grid,
            &self.output.join(SAMPLES_DIR),
            self.position.iteration,
        )
    }

    /// The run's output folder.
    pub fn output(&self) -> &Path {
        &self.output
    }
}

/// The evaluator of a run's configuration, if it asks for periodic evaluation.
fn evaluator<B: EncoAutodiffBackend>(
    config: &TrainingConfig,
    output: &Path,
    keep_through: u64,
    device: &B::Device,
) -> Result<Option<Evaluator<B::InnerBackend>>, TrainError> {
    config
        .evaluation
        .as_ref()
        .map(|e| {
            Evaluator::new(
                e,
                &config.dataroot,
                config.direction,
                config.transform.crop_size,
                output,
                keep_through,
                device,
            )
        })
        .transpose()
}

/// The data seed of one epoch: the epoch's order, B draws, crops and flips depend only on it.
fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ epoch as u64
}

fn latest_checkpoint(dir: &Path) -> Result<Option<PathBuf>, TrainError> {
    if !dir.is_dir() {
        return Ok(None);
    }
    let latest = std::fs::read_dir(dir)
        .map_err(|e| TrainError::Checkpoint(format!("{}: {e}", dir.display())))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            name.strip_prefix(PREFIX)?
                .parse::<u64>()
                .ok()
                .map(|n| (n, e.path()))
        })
        .max();
    Ok(latest.map(|(_, p)| p))
}
