//! The training loop over epochs (docs/reference.md §7.4): schedules, identity phase, data, checkpoints and
//! exact resume.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use burn::module::AutodiffModule;
use burn::prelude::*;
use enco_data::{
    BadImage, CheckDepth, DataError, Direction, EpochLoader, Transform, UnpairedDataset,
    check_images, minimum_side,
};
use enco_nn::EncoAutodiffBackend;
use rand::RngExt;

use crate::checkpoint::{TrainingPosition, load_checkpoint, prune_checkpoints, save_checkpoint};
use crate::error::{BoxedError, TrainError};
use crate::evaluation::{BEST_DIR, EvaluationConfig, Evaluator};
use crate::model_config::{ModelConfig, ModelKind};
use crate::model_trainer::ModelTrainer;
use crate::monitor::{LossLog, LossRecord, plot_loss_curves};
use crate::nan_guard::{NanPolicy, first_non_finite};
use crate::replicas::Replicas;
use crate::report::{ReportState, RunLogs, write_report};
use crate::run_folder::{RunLock, move_run_aside, run_contents};
use crate::sample_grid::{sample_grid, save_sample_grid};
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
    /// with probability 0.5 and, independently, the B batch (docs/reference.md §8.4). CUT and FastCUT have
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
    /// What to do at a step whose losses are not finite (`--nan-policy`).
    #[config(default = "NanPolicy::Stop")]
    pub nan_policy: NanPolicy,
    /// Train without the images that cannot be used (every image is decoded once at the start
    /// to find them; they are listed in `bad_images.txt`) instead of refusing to start
    /// (`--skip-bad-images`).
    #[config(default = false)]
    pub skip_bad_images: bool,
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
        let named = |source: BoxedError| TrainError::ConfigFile {
            path: path.to_path_buf(),
            source,
        };
        let text = std::fs::read_to_string(path).map_err(|e| named(e.into()))?;
        Self::from_json(&text).map_err(|e| named(e.into()))
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
    /// random unless `serial_batches`, checked before use. The check reads every file's header
    /// (format and size for the transform) and refuses the data naming every unusable file; with
    /// `skip_bad_images` it decodes every image and leaves the unusable ones out, returning them.
    pub fn open_dataset(&self) -> Result<(UnpairedDataset, Vec<BadImage>), TrainError> {
        let mut dataset = UnpairedDataset::open(&self.dataroot, "train", self.direction)?;
        if let Some(max) = self.max_dataset_size {
            dataset.a_paths.truncate(max);
            dataset.b_paths.truncate(max);
        }
        dataset.random_b = !self.serial_batches;
        let depth = if self.skip_bad_images {
            CheckDepth::Decode
        } else {
            CheckDepth::Header
        };
        let min_side = minimum_side(&self.transform);
        let mut bad = check_images(&dataset.a_paths, min_side, depth);
        bad.extend(check_images(&dataset.b_paths, min_side, depth));
        if bad.is_empty() {
            return Ok((dataset, bad));
        }
        if !self.skip_bad_images {
            return Err(DataError::BadImages(bad).into());
        }
        let usable = |p: &PathBuf| !bad.iter().any(|b| &b.path == p);
        dataset.a_paths.retain(usable);
        dataset.b_paths.retain(usable);
        for (side, paths) in [("A", &dataset.a_paths), ("B", &dataset.b_paths)] {
            if paths.is_empty() {
                return Err(TrainError::NoUsableImages {
                    domain: side,
                    skipped: bad.len(),
                });
            }
        }
        Ok((dataset, bad))
    }

    /// `Ok` when this run can train on `replicas` devices ([`TrainingRun::set_devices`]): at
    /// least one, a batch that splits evenly over them, and a model other than CycleGAN when
    /// there are several (its image pools are per replica and are not stored in checkpoints).
    pub fn check_replicas(&self, replicas: usize) -> Result<(), TrainError> {
        let invalid = |reason: String| TrainError::InvalidOption {
            option: "devices",
            reason,
        };
        if replicas == 0 {
            return Err(invalid("no device to train on".into()));
        }
        if replicas > 1 {
            if !self.batch_size.is_multiple_of(replicas) {
                return Err(invalid(format!(
                    "a batch of {} does not split evenly over {replicas} devices",
                    self.batch_size
                )));
            }
            if self.model.kind() == ModelKind::CycleGan {
                return Err(invalid(
                    "CycleGAN trains on one device (its image pools are per replica and are \
                     not stored in checkpoints)"
                        .into(),
                ));
            }
        }
        Ok(())
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
    /// Whether the step was undone for non-finite losses ([`NanPolicy::SkipStep`]).
    pub skipped: bool,
}

impl From<&StepReport> for LossRecord {
    fn from(r: &StepReport) -> Self {
        Self {
            iteration: r.iteration,
            epoch: r.epoch,
            batch: r.batch,
            lr_factor: r.lr_factor,
            loss_d: r.losses.d,
            loss_g: r.losses.g,
            loss_g_gan: r.losses.g_gan,
            loss_enco: r.losses.content,
            loss_idt: r.losses.identity,
        }
    }
}

/// The configuration of a run, inside its output folder.
pub const CONFIG_FILE: &str = "training.json";
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
    devices: Vec<B::Device>,
    log: LossLog,
    evaluator: Option<Evaluator<B::InnerBackend>>,
    stop: StopFlag,
    lock: RunLock,
    last_checkpoint: Option<u64>,
    skipped: Vec<BadImage>,
    training: bool,
}

/// A request to stop a [`TrainingRun`] at the end of its current iteration, with a checkpoint:
/// clone it, hand it to a signal handler or another thread, and call [`StopFlag::stop`].
#[derive(Debug, Clone, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    /// A flag of its own (not yet set).
    pub fn new() -> Self {
        Self::default()
    }

    /// A flag backed by `flag` (e.g. one that `signal_hook::flag::register` sets).
    pub fn from_atomic(flag: Arc<AtomicBool>) -> Self {
        Self(flag)
    }

    /// Asks the run to stop after the current iteration.
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// How [`TrainingRun::run`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// The schedule is complete.
    Finished,
    /// `max_iterations` more iterations ran (a checkpoint was written).
    IterationLimit,
    /// The [`StopFlag`] was set (a checkpoint was written).
    Stopped,
}

impl<B: EncoAutodiffBackend> TrainingRun<B> {
    /// Starts a new run in `output`: opens the data, builds the model, locks the folder and
    /// writes `training.json`. A folder that already holds a run is refused, naming what is
    /// there (continue it with [`TrainingRun::resume`], or replace it with
    /// [`TrainingRun::replace`]); nothing is written before every check passed.
    pub fn new(
        config: TrainingConfig,
        output: &Path,
        device: &B::Device,
    ) -> Result<Self, TrainError> {
        let prepared = Self::prepare(&config, device)?;
        let contents = run_contents(output);
        if !contents.is_empty() {
            return Err(TrainError::RunFolder(format!(
                "{} already holds a run ({}); continue it with `enco resume --output {}`, or \
                 start over with --overwrite (the old run is moved aside, not deleted)",
                output.display(),
                contents.join(", "),
                output.display()
            )));
        }
        Self::start(config, prepared, output, device)
    }

    /// Starts a new run in `output` like [`TrainingRun::new`], first moving a run already there
    /// to a sibling folder (`<name>.replaced-<unix seconds>`, returned); nothing is deleted. A
    /// folder another process is training in is refused.
    pub fn replace(
        config: TrainingConfig,
        output: &Path,
        device: &B::Device,
    ) -> Result<(Self, Option<PathBuf>), TrainError> {
        let prepared = Self::prepare(&config, device)?;
        let moved = if run_contents(output).is_empty() {
            None
        } else {
            // Nobody may be training there while it moves: the lock is held across the move
            // (it follows the lock file into the moved folder).
            let lock = RunLock::acquire(output)?;
            let moved = move_run_aside(output)?;
            drop(lock);
            Some(moved)
        };
        Ok((Self::start(config, prepared, output, device)?, moved))
    }

    /// Every check of a new run that needs no file written: options, data, networks.
    fn prepare(
        config: &TrainingConfig,
        device: &B::Device,
    ) -> Result<(UnpairedDataset, Vec<BadImage>, ModelTrainer<B>), TrainError> {
        config.validate()?;
        let (dataset, skipped) = config.open_dataset()?;
        if dataset.len() < config.batch_size {
            return Err(TrainError::InvalidOption {
                option: "batch_size",
                reason: format!(
                    "{} does not fit {} training images",
                    config.batch_size,
                    dataset.len()
                ),
            });
        }
        // Building the model checks what only the networks know (tap channels).
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
        Ok((dataset, skipped, trainer))
    }

    fn start(
        config: TrainingConfig,
        (dataset, skipped, trainer): (UnpairedDataset, Vec<BadImage>, ModelTrainer<B>),
        output: &Path,
        device: &B::Device,
    ) -> Result<Self, TrainError> {
        std::fs::create_dir_all(output).map_err(|e| TrainError::checkpoint(output, e))?;
        let lock = RunLock::acquire(output)?;
        let contents = run_contents(output);
        if !contents.is_empty() {
            // Another process started a run here between the checks and the lock.
            return Err(TrainError::RunFolder(format!(
                "{} already holds a run ({})",
                output.display(),
                contents.join(", ")
            )));
        }
        // Through a temporary file and a rename: a kill never leaves half a configuration.
        let tmp = output.join(format!(".{CONFIG_FILE}.tmp"));
        config
            .save(&tmp)
            .and_then(|_| std::fs::rename(&tmp, output.join(CONFIG_FILE)))
            .map_err(|e| TrainError::checkpoint(output, e))?;
        write_skipped(output, &skipped)?;
        let log = LossLog::open(&output.join(LOSS_LOG_FILE), 0)?;
        let evaluator = evaluator::<B>(&config, output, 0, device)?;
        log_skipped(&skipped);
        tracing::info!(
            output = %output.display(),
            model = config.model.kind().name(),
            backend = %B::name(device),
            images = dataset.len(),
            "run started"
        );
        tracing::debug!(
            config = %serde_json::to_string(&config).unwrap_or_default(),
            "run configuration"
        );
        Ok(Self {
            log,
            evaluator,
            trainer,
            position: TrainingPosition::start(config.seed),
            dataset,
            output: output.to_path_buf(),
            config,
            device: device.clone(),
            devices: vec![device.clone()],
            stop: StopFlag::new(),
            lock,
            last_checkpoint: None,
            skipped,
            training: false,
        })
    }

    /// Continues the run in `output` from its newest checkpoint, exactly where it stopped; a
    /// run stopped before its first checkpoint starts again from iteration 0 with its saved
    /// configuration. Locks the folder first: a folder another process trains in is refused.
    pub fn resume(output: &Path, device: &B::Device) -> Result<Self, TrainError> {
        if !output.join(CONFIG_FILE).is_file() {
            return Err(TrainError::checkpoint(
                output,
                format!("no run to resume ({CONFIG_FILE} is missing)"),
            ));
        }
        let lock = RunLock::acquire(output)?;
        remove_unfinished_writes(output)?;
        let config = TrainingConfig::load_file(&output.join(CONFIG_FILE))?;
        let (dataset, skipped) = config.open_dataset()?;
        write_skipped(output, &skipped)?;
        let latest = latest_checkpoint(&output.join(CHECKPOINTS))?;
        let last_checkpoint = latest.is_some().then_some(());
        let (trainer, position) = match latest {
            Some(latest) => load_checkpoint::<B>(&latest, config.model.clone(), device)?,
            None => (
                config.model.init_trainer::<B>(device)?,
                TrainingPosition::start(config.seed),
            ),
        };
        let log = LossLog::open(&output.join(LOSS_LOG_FILE), position.iteration)?;
        let evaluator = evaluator::<B>(&config, output, position.iteration, device)?;
        let last_checkpoint = last_checkpoint.map(|_| position.iteration);
        log_skipped(&skipped);
        tracing::info!(
            output = %output.display(),
            model = config.model.kind().name(),
            backend = %B::name(device),
            iteration = position.iteration,
            epoch = position.epoch,
            from_checkpoint = last_checkpoint.is_some(),
            "run resumed"
        );
        tracing::debug!(
            config = %serde_json::to_string(&config).unwrap_or_default(),
            "run configuration"
        );
        Ok(Self {
            last_checkpoint,
            skipped,
            training: false,
            log,
            evaluator,
            trainer,
            position,
            dataset,
            output: output.to_path_buf(),
            config,
            device: device.clone(),
            devices: vec![device.clone()],
            stop: StopFlag::new(),
            lock,
        })
    }

    /// The training images left out as unusable (`skip_bad_images`), with the reasons.
    pub fn skipped_images(&self) -> &[BadImage] {
        &self.skipped
    }

    /// Trains data-parallel on `devices`, one replica each (the run's own device first): every
    /// batch is split in equal shares, each replica trains on its share on a thread of its own,
    /// and the gradients of every network are averaged over the replicas with Burn's collective
    /// before the optimisers' steps ([`GradientSync::Mean`](crate::GradientSync::Mean)), so the
    /// replicas stay identical and the update is the one of the whole batch. Each replica draws
    /// its patches from its own stream of a seed the run's generator gives every step, so a
    /// resume with the same devices continues exactly. Batch-norm statistics (the heads'
    /// `batch` norm) are per replica, as with the official `DataParallel`.
    ///
    /// One device (the default) trains on the calling thread alone. Refused: no device, a first
    /// device other than the run's, a batch that does not split evenly, CycleGAN (its image
    /// pools are per replica and not in checkpoints). See docs/distributed.md.
    pub fn set_devices(&mut self, devices: Vec<B::Device>) -> Result<(), TrainError> {
        self.config.check_replicas(devices.len())?;
        if devices.first() != Some(&self.device) {
            return Err(TrainError::InvalidOption {
                option: "devices",
                reason: format!(
                    "the first of the {} devices must be the run's own ({:?})",
                    devices.len(),
                    self.device
                ),
            });
        }
        self.devices = devices;
        Ok(())
    }

    /// The devices the run trains on (one replica each).
    pub fn devices(&self) -> &[B::Device] {
        &self.devices
    }

    /// The flag that stops this run at the end of its current iteration (with a checkpoint).
    pub fn stop_flag(&self) -> StopFlag {
        self.stop.clone()
    }

    /// Uses `flag` as this run's stop flag (e.g. one a signal handler sets).
    pub fn set_stop_flag(&mut self, flag: StopFlag) {
        self.stop = flag;
    }

    /// The process id named by a lock file that a killed process left behind, if this run took
    /// such a stale lock over.
    pub fn stale_lock_owner(&self) -> Option<&str> {
        self.lock.stale_owner.as_deref()
    }

    /// Total epochs of the run.
    pub fn epochs(&self) -> usize {
        self.config.n_epochs + self.config.n_epochs_decay
    }

    /// Iterations per epoch (`floor(max(|A|, |B|) / batch)`).
    pub fn batches_per_epoch(&self) -> usize {
        self.dataset.len() / self.config.batch_size
    }

    /// Trains until the end of the schedule, until `max_iterations` more iterations ran, or
    /// until the [`StopFlag`] is set, whichever comes first; writes a checkpoint every
    /// `checkpoint_every` iterations, at every epoch end and when it stops. `on_step` sees every
    /// iteration.
    ///
    /// When reading the data, writing a log, a sample or an evaluation fails mid-run, a final
    /// checkpoint of the last completed iteration is written where possible before the error is
    /// returned ([`TrainError::Interrupted`]); earlier checkpoints are never touched. A step
    /// whose losses are not finite is handled by the configuration's [`NanPolicy`]; no
    /// checkpoint with non-finite parameters is ever written.
    pub fn run(
        &mut self,
        max_iterations: Option<u64>,
        on_step: impl FnMut(&StepReport),
    ) -> Result<RunEnd, TrainError> {
        self.training = true;
        let result = self.run_with_final_checkpoint(max_iterations, on_step);
        self.training = false;
        // The page is left as a run at rest, whatever the outcome (a failure to write it is only
        // reported when the run itself succeeded).
        let report = self.refresh_report();
        match &result {
            Ok(end) => tracing::info!(?end, iteration = self.position.iteration, "run ended"),
            Err(e) => {
                tracing::error!(error = %e, iteration = self.position.iteration, "run failed")
            }
        }
        result.and_then(|end| report.map(|_| end))
    }

    fn run_with_final_checkpoint(
        &mut self,
        max_iterations: Option<u64>,
        on_step: impl FnMut(&StepReport),
    ) -> Result<RunEnd, TrainError> {
        match self.run_steps(max_iterations, on_step) {
            Ok(end) => Ok(end),
            Err(cause) if cause.leaves_a_consistent_state() => {
                if self.last_checkpoint == Some(self.position.iteration) {
                    return Err(TrainError::Interrupted {
                        cause: Box::new(cause),
                        saved: format!(
                            "the checkpoint of iteration {} is on disk",
                            self.position.iteration
                        ),
                    });
                }
                let saved = match self.checkpoint() {
                    Ok(path) => format!("progress saved in {}", path.display()),
                    Err(e) => format!(
                        "writing a final checkpoint failed too ({e}); the newest checkpoint on \
                         disk is intact"
                    ),
                };
                Err(TrainError::Interrupted {
                    cause: Box::new(cause),
                    saved,
                })
            }
            Err(other) => Err(other),
        }
    }

    fn run_steps(
        &mut self,
        max_iterations: Option<u64>,
        on_step: impl FnMut(&StepReport),
    ) -> Result<RunEnd, TrainError> {
        if self.devices.len() < 2 {
            return self.run_replicated_steps(None, max_iterations, on_step);
        }
        let mut replicas = Replicas::start(&mut self.trainer, &self.devices, &self.config)?;
        tracing::info!(replicas = replicas.len(), "data-parallel training started");
        let end = self.run_replicated_steps(Some(&mut replicas), max_iterations, on_step);
        replicas.finish(&mut self.trainer);
        end
    }

    fn run_replicated_steps(
        &mut self,
        mut replicas: Option<&mut Replicas<B>>,
        max_iterations: Option<u64>,
        mut on_step: impl FnMut(&StepReport),
    ) -> Result<RunEnd, TrainError> {
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
                if stop_at.is_some_and(|s| self.position.iteration >= s) {
                    self.checkpoint_once()?;
                    return Ok(RunEnd::IterationLimit);
                }
                let a = Tensor::<B, 4>::from_data(batch.a, &self.device);
                let b = Tensor::<B, 4>::from_data(batch.b, &self.device);
                let backup =
                    (self.config.nan_policy == NanPolicy::SkipStep).then(|| self.trainer.clone());
                let (a, b, losses) = self.step(
                    replicas.as_deref_mut(),
                    a,
                    b,
                    epoch,
                    factor,
                    backup.is_some(),
                )?;
                self.position.batch += 1;
                self.position.iteration += 1;
                let mut non_finite = first_non_finite(&losses);
                if let Some(backup) = backup {
                    if non_finite.is_none() && self.trainer.non_finite_parameters() > 0 {
                        non_finite = Some(("a gradient (the parameters after the step)", f32::NAN));
                    }
                    if let Some((loss, value)) = non_finite {
                        tracing::warn!(
                            iteration = self.position.iteration,
                            loss,
                            value,
                            "non-finite loss: step undone (nan_policy skip-step)"
                        );
                        self.trainer = backup;
                        if let Some(replicas) = replicas.as_deref_mut() {
                            replicas.undo()?;
                        }
                    }
                } else if let Some((loss, value)) = non_finite {
                    return Err(TrainError::NonFinite {
                        iteration: self.position.iteration,
                        loss,
                        value,
                    });
                }
                let report = StepReport {
                    epoch,
                    epochs: self.epochs(),
                    batch: self.position.batch,
                    batches,
                    iteration: self.position.iteration,
                    lr_factor: factor,
                    losses,
                    skipped: non_finite.is_some(),
                };
                if !report.skipped {
                    self.log.append(&LossRecord::from(&report))?;
                }
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
                    self.checkpoint_once()?;
                    return Ok(RunEnd::IterationLimit);
                }
                if self.stop.is_set() {
                    self.checkpoint_once()?;
                    return Ok(RunEnd::Stopped);
                }
            }
            tracing::info!(
                epoch,
                epochs = self.epochs(),
                iteration = self.position.iteration,
                lr_factor = factor,
                "epoch finished"
            );
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
        Ok(RunEnd::Finished)
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
        if record.best && self.trainer.non_finite_parameters() == 0 {
            // A failure here leaves the run itself consistent (an output error).
            let output_error = |e: &dyn std::fmt::Display| {
                TrainError::output(&self.output.join(BEST_DIR), e.to_string())
            };
            let best = save_checkpoint(&self.output, BEST_DIR, &self.trainer, &self.position)
                .map_err(|e| output_error(&e))?;
            let path = best.join("eval.json");
            let json = serde_json::to_string_pretty(&record).map_err(|e| output_error(&e))?;
            std::fs::write(&path, json).map_err(|e| output_error(&e))?;
        }
        tracing::info!(
            iteration = record.iteration,
            fid = ?record.fid,
            psnr = ?record.psnr,
            ssim = ?record.ssim,
            best = record.best,
            "evaluation"
        );
        self.refresh_report()?;
        Ok(Some(record))
    }

    /// One iteration of the model at `epoch` (on every replica, when there are several);
    /// returns the batches as the model saw them (EnCo's flips applied) and the losses.
    fn step(
        &mut self,
        replicas: Option<&mut Replicas<B>>,
        mut a: Tensor<B, 4>,
        mut b: Tensor<B, 4>,
        epoch: usize,
        factor: f64,
        keep_backup: bool,
    ) -> Result<(Tensor<B, 4>, Tensor<B, 4>, StepLosses), TrainError> {
        let rng = &mut self.position.rng;
        // EnCo's flip equivariance: one coin for the whole A batch and one for B, before the
        // batch is split (the official code flips before DataParallel scatters it).
        if matches!(self.config.model, ModelConfig::Enco(_)) && self.config.flip_equivariance {
            if rng.random::<f64>() < 0.5 {
                a = a.flip([3]);
            }
            if rng.random::<f64>() < 0.5 {
                b = b.flip([3]);
            }
        }
        let losses = match replicas {
            None => train_step(
                &mut self.trainer,
                &self.config,
                a.clone(),
                b.clone(),
                epoch,
                factor,
                rng,
            )?,
            Some(replicas) => {
                let seed = rng.random::<u64>();
                replicas.step(
                    &mut self.trainer,
                    &self.config,
                    a.clone(),
                    b.clone(),
                    epoch,
                    factor,
                    seed,
                    keep_backup,
                )?
            }
        };
        Ok((a, b, losses))
    }

    /// Writes a checkpoint of the current state, prunes old ones and redraws the loss curve;
    /// returns the checkpoint's folder.
    pub fn checkpoint(&mut self) -> Result<PathBuf, TrainError> {
        let bad = self.trainer.non_finite_parameters();
        if bad > 0 {
            return Err(TrainError::checkpoint(
                &self.output.join(CHECKPOINTS),
                format!(
                    "not written at iteration {}: {bad} parameters are NaN or infinite",
                    self.position.iteration
                ),
            ));
        }
        let dir = self.output.join(CHECKPOINTS);
        let name = format!("{PREFIX}{:010}", self.position.iteration);
        let path = save_checkpoint(&dir, &name, &self.trainer, &self.position)?;
        self.last_checkpoint = Some(self.position.iteration);
        tracing::info!(
            path = %path.display(),
            iteration = self.position.iteration,
            "checkpoint written"
        );
        prune_checkpoints(&dir, PREFIX, self.config.keep_checkpoints.max(1))?;
        self.refresh_report()?;
        Ok(path)
    }

    /// [`TrainingRun::checkpoint`], unless this iteration's checkpoint was just written.
    fn checkpoint_once(&mut self) -> Result<(), TrainError> {
        if self.last_checkpoint != Some(self.position.iteration) {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Translates a batch with the current networks (no gradient) and writes the sample grid
    /// `samples/iter_N.png` with the model's visuals ([`ModelTrainer::visuals`]), captioned and
    /// titled with the iteration; refreshes the report; returns the grid's path.
    pub fn save_samples(
        &self,
        real_a: Tensor<B::InnerBackend, 4>,
        real_b: Tensor<B::InnerBackend, 4>,
    ) -> Result<PathBuf, TrainError> {
        let columns = self.trainer.visuals(real_a, real_b)?;
        let title = format!(
            "iteration {} · epoch {} of {} · {}",
            self.position.iteration,
            self.position.epoch.min(self.epochs()),
            self.epochs(),
            self.config.model.kind().name()
        );
        let grid = sample_grid(columns, &title)?;
        let path = save_sample_grid(
            &grid,
            &self.output.join(SAMPLES_DIR),
            self.position.iteration,
        )?;
        self.refresh_report()?;
        Ok(path)
    }

    /// Redraws `loss_curve.png` from the loss log and rewrites `report.html`
    /// ([`crate::write_report`]), as a page that reloads itself while [`TrainingRun::run`] is
    /// training and at rest otherwise; returns the page's path.
    pub fn refresh_report(&self) -> Result<PathBuf, TrainError> {
        let state = if self.training {
            ReportState::Training
        } else {
            ReportState::AtRest
        };
        tracing::debug!(output = %self.output.display(), ?state, "report refreshed");
        let logs = RunLogs::read(&self.output)?;
        plot_loss_curves(
            &logs.losses,
            Some(self.config.model.kind()),
            &self.output.join(LOSS_CURVE_FILE),
        )?;
        write_report(&logs, state)
    }

    /// The run's output folder.
    pub fn output(&self) -> &Path {
        &self.output
    }
}

/// One iteration of `trainer`'s model at `epoch` of a run of `config`, on batches already
/// flipped ([`TrainingRun`] flips EnCo's): the identity phase and weight of the epoch, the
/// learning-rate factor, the model's own step.
pub(crate) fn train_step<B: EncoAutodiffBackend, R: rand::Rng + Send + ?Sized>(
    trainer: &mut ModelTrainer<B>,
    config: &TrainingConfig,
    a: Tensor<B, 4>,
    b: Tensor<B, 4>,
    epoch: usize,
    factor: f64,
    rng: &mut R,
) -> Result<StepLosses, TrainError> {
    match (trainer, &config.model) {
        (ModelTrainer::Enco(trainer), ModelConfig::Enco(model)) => {
            let identity = config.identity_schedule();
            let identity_phase =
                identity.active(epoch) && model.identity_loss && model.lambda_nce > 0.0;
            trainer.config.lambda_idt = model.lambda_idt * identity.weight(epoch);
            trainer.step(a, b, identity_phase, factor, None, rng)
        }
        (ModelTrainer::Cut(trainer), _) => trainer.step(a, b, factor, rng),
        (ModelTrainer::CycleGan(trainer), _) => trainer.step(a, b, factor, rng),
        (ModelTrainer::Enco(_), other) => Err(TrainError::ModelMismatch {
            trainer: ModelKind::Enco,
            config: other.kind(),
        }),
    }
}

/// Reports the training images left out (one warning, and each image at debug level).
fn log_skipped(skipped: &[BadImage]) {
    if !skipped.is_empty() {
        tracing::warn!(
            count = skipped.len(),
            "training without unusable images (listed in {BAD_IMAGES_FILE})"
        );
    }
    for image in skipped {
        tracing::debug!(%image, "unusable training image skipped");
    }
}

/// The list of skipped training images of a run, `bad_images.txt` (removed when there is none).
pub const BAD_IMAGES_FILE: &str = "bad_images.txt";

fn write_skipped(output: &Path, skipped: &[BadImage]) -> Result<(), TrainError> {
    let path = output.join(BAD_IMAGES_FILE);
    let result = if skipped.is_empty() {
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    } else {
        let text: String = skipped.iter().map(|b| format!("{b}\n")).collect();
        std::fs::write(&path, text)
    };
    result.map_err(|e| TrainError::output(&path, e))
}

/// Repairs what a killed process left of checkpoint writes in `checkpoints/`, `snapshots/` and
/// the run folder: `.<name>.tmp` folders never became checkpoints and go; a `.<name>.old` left by
/// a replacement is put back when `<name>` is missing.
fn remove_unfinished_writes(output: &Path) -> Result<(), TrainError> {
    for dir in [
        output.join(CHECKPOINTS),
        output.join(SNAPSHOTS_DIR),
        output.to_path_buf(),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let failed = |e: std::io::Error| TrainError::checkpoint(&path, e);
            if !name.starts_with('.') || !path.is_dir() {
                continue;
            }
            if name.ends_with(".tmp") {
                std::fs::remove_dir_all(&path).map_err(failed)?;
            } else if let Some(replaced) =
                name.strip_suffix(".old").and_then(|n| n.strip_prefix('.'))
            {
                // A replacement killed between its two renames: the old checkpoint comes back
                // when the new one is missing, and is deleted otherwise.
                let target = dir.join(replaced);
                if target.exists() {
                    std::fs::remove_dir_all(&path).map_err(failed)?;
                } else {
                    std::fs::rename(&path, &target).map_err(failed)?;
                }
            }
        }
    }
    Ok(())
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
        .map_err(|e| TrainError::checkpoint(dir, e))?
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
