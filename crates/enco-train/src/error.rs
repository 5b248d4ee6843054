//! Errors of the EnCo model and its training step.

use enco_data::DataError;
use enco_nn::NnError;
use enco_sampling::SamplingError;

use crate::model_config::ModelKind;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// The underlying error of a [`TrainError`] that carries one: an I/O error, a recorder's or an
/// encoder's error, or a description.
pub type BoxedError = Box<dyn std::error::Error + Send + Sync>;

/// An error from building the EnCo model or running a training step.
#[derive(Debug, Error)]
pub enum TrainError {
    /// A network rejected its input or configuration.
    #[error(transparent)]
    Network(#[from] NnError),
    /// The patch sampler rejected its configuration or input.
    #[error(transparent)]
    Sampling(#[from] SamplingError),
    /// Reading or transforming the training images failed.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Periodic evaluation failed (translation or PSNR/SSIM).
    #[error("evaluation: {0}")]
    Evaluation(#[from] enco_eval::EvalError),
    /// Periodic evaluation failed computing FID.
    #[error("evaluation: {0}")]
    Fid(#[from] enco_eval::fid::FidError),
    /// A training configuration file could not be read or parsed; `source` is the I/O or JSON
    /// error.
    #[error("configuration file {}: {source}", path.display())]
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: BoxedError,
    },
    /// The generator's output lacks the feature of a layer the content loss taps (the output
    /// of a forward pass without those taps).
    #[error("the generator output lacks the feature of layer {layer}")]
    MissingFeature {
        /// The layer index (`nce_layers`).
        layer: usize,
    },
    /// The encoder and decoder features of one content-loss pair differ in shape.
    #[error(
        "layers {} and {} form a pair but their features are {:?} and {:?}",
        encoder.0, decoder.0, encoder.1, decoder.1
    )]
    PairShapeMismatch {
        /// The encoder layer and its feature's shape.
        encoder: (usize, Vec<usize>),
        /// The decoder layer and its feature's shape.
        decoder: (usize, Vec<usize>),
    },
    /// Every training image of one domain is unusable (undecodable, or smaller than the crop).
    #[error("every training image of domain {domain} is unusable ({skipped} skipped)")]
    NoUsableImages {
        /// `"A"` or `"B"`.
        domain: &'static str,
        /// How many images of both domains were skipped.
        skipped: usize,
    },
    /// A trainer was driven with the configuration of another model.
    #[error("the {trainer} trainer was given a {config} configuration")]
    ModelMismatch {
        /// The trainer's model.
        trainer: ModelKind,
        /// The configuration's model.
        config: ModelKind,
    },
    /// The inverse (target → source) generator was asked of a model that has none.
    #[error("the {model} model translates one way only; the inverse generator is CycleGAN's")]
    NoInverseGenerator {
        /// The checkpoint's model.
        model: ModelKind,
    },
    /// One option of a [`TrainingConfig`](crate::TrainingConfig) has an impossible value; `option`
    /// is the field's path (`model.nce_layers`, `transform.crop_size`, …).
    #[error("invalid option {option}: {reason}")]
    InvalidOption {
        /// The field, as a dotted path from the training configuration.
        option: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
    /// Burn's collective (the all-reduce of data-parallel training) failed: a replica stopped
    /// before the others, or the replicas disagreed on what to reduce.
    #[error("data parallelism: {operation} failed: {reason}")]
    Collective {
        /// The collective operation.
        operation: &'static str,
        /// What the collective reported.
        reason: String,
    },
    /// A replica of data-parallel training failed; `source` is its error.
    #[error("replica {replica} failed: {source}")]
    Replica {
        /// The replica's index (0 is the one on the run's own thread).
        replica: usize,
        /// Its error.
        #[source]
        source: Box<TrainError>,
    },
    /// A replica's thread panicked.
    #[error("replica {replica} panicked: {message}")]
    ReplicaPanicked {
        /// The replica's index.
        replica: usize,
        /// The panic's message.
        message: String,
    },
    /// The two image batches do not fit together.
    #[error("real_A {real_a:?} and real_B {real_b:?} must have the same shape")]
    BatchMismatch {
        /// Shape of real_A.
        real_a: Vec<usize>,
        /// Shape of real_B.
        real_b: Vec<usize>,
    },
    /// A checkpoint (or the run's configuration file) could not be written or read, or does
    /// not fit the configuration; `source` is the underlying error (an I/O error, the
    /// recorder's, or a description).
    #[error("checkpoint {}: {source}", path.display())]
    Checkpoint {
        /// The checkpoint folder or file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: BoxedError,
    },
    /// The run folder holds another run, or another process is training in it.
    #[error("run folder: {0}")]
    RunFolder(String),
    /// A loss went NaN or infinite.
    #[error(
        "iteration {iteration}: {loss} is {value}; training stopped before writing any \
         checkpoint of this state (the last checkpoint on disk is from before it)"
    )]
    NonFinite {
        /// The iteration whose losses were not finite.
        iteration: u64,
        /// The first non-finite loss.
        loss: &'static str,
        /// Its value.
        value: f32,
    },
    /// A run stopped on an error after its last completed iteration; `saved` says where that
    /// iteration's checkpoint is (or why none could be written).
    #[error("{cause}; {saved} (continue with `enco resume`)")]
    Interrupted {
        /// What stopped the run.
        cause: Box<TrainError>,
        /// Where the run's progress is.
        saved: String,
    },
    /// A log, plot, page or sample image of the run could not be written; `source` is the
    /// underlying error.
    #[error("run output {}: {source}", path.display())]
    Output {
        /// The file or folder.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: BoxedError,
    },
    /// The images of a sample grid do not fit together.
    #[error("sample grid: {0}")]
    SampleGrid(String),
    /// Injected patch ids do not match the pairs or the batch.
    #[error("injected patch ids: {0}")]
    InjectedIds(String),
}

impl TrainError {
    /// [`TrainError::Checkpoint`] for `path` with its underlying error (anything convertible
    /// into a boxed error: `std::io::Error`, a recorder's error, a `String`).
    pub fn checkpoint(path: &Path, source: impl Into<BoxedError>) -> Self {
        TrainError::Checkpoint {
            path: path.to_path_buf(),
            source: source.into(),
        }
    }

    /// [`TrainError::Output`] for `path` with its underlying error.
    pub fn output(path: &Path, source: impl Into<BoxedError>) -> Self {
        TrainError::Output {
            path: path.to_path_buf(),
            source: source.into(),
        }
    }

    /// Whether the run's state is still that of a completed iteration after this error, so a
    /// checkpoint of it is worth writing: data, log, sample and evaluation failures. Not after a
    /// failed step (possibly half applied), a non-finite loss, or a failed checkpoint.
    pub fn leaves_a_consistent_state(&self) -> bool {
        matches!(
            self,
            TrainError::Data(_)
                | TrainError::Output { .. }
                | TrainError::SampleGrid(_)
                | TrainError::Evaluation(_)
                | TrainError::Fid(_)
        )
    }

    /// `Ok` when the real_A and real_B batches have the same shape, else
    /// [`TrainError::BatchMismatch`].
    pub(crate) fn check_batches(real_a: [usize; 4], real_b: [usize; 4]) -> Result<(), Self> {
        if real_a == real_b {
            return Ok(());
        }
        Err(TrainError::BatchMismatch {
            real_a: real_a.to_vec(),
            real_b: real_b.to_vec(),
        })
    }
}
