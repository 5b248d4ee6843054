//! Errors of the FID computation.

use std::path::PathBuf;

use enco_data::DataError;
use thiserror::Error;

/// Where the official FID Inception weights can be downloaded.
pub const FID_WEIGHTS_URL: &str = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth";

/// An error while loading the FID Inception, extracting activations or computing the Fréchet
/// distance.
#[derive(Debug, Error)]
pub enum FidError {
    /// The weights file does not exist.
    #[error(
        "FID Inception weights not found at {path}: download pt_inception-2015-12-05-6726825d.pth \
         from {url} and load it with FidInception::load_pth (or a safetensors copy of its \
         state_dict with FidInception::load_safetensors)",
        url = FID_WEIGHTS_URL
    )]
    MissingWeights {
        /// The path that was tried.
        path: PathBuf,
    },
    /// The weights file could not be read or parsed.
    #[error("cannot read FID Inception weights {}: {source}", path.display())]
    WeightFile {
        /// The file.
        path: PathBuf,
        /// burn-store's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The backend's tensor data could not be read as f32 values.
    #[error("tensor data: {0}")]
    TensorData(#[from] burn::tensor::DataError),
    /// A tensor of the weights file has the wrong shape.
    #[error("FID Inception weight {key}: {message}")]
    WeightShape {
        /// The state_dict key.
        key: String,
        /// Expected and found shapes.
        message: String,
    },
    /// A parameter or BatchNorm running statistic of the network is absent from the file.
    #[error("FID Inception weight {key} is missing from the weights file")]
    MissingWeight {
        /// The state_dict key.
        key: String,
    },
    /// The file holds a tensor that is not part of the FID Inception (besides `fc.*` and
    /// `num_batches_tracked`, which are ignored).
    #[error("unexpected tensor {key} in the FID Inception weights file")]
    UnexpectedWeight {
        /// The state_dict key.
        key: String,
    },
    /// Reading an image or listing a folder failed.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Input tensors or statistics have incompatible shapes.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A statistic needs more samples than were given.
    #[error("{what} needs at least {needed} samples, got {got}")]
    NotEnoughSamples {
        /// What was being computed.
        what: &'static str,
        /// The minimum number of samples.
        needed: usize,
        /// The number of samples available.
        got: usize,
    },
    /// A value is NaN or infinite.
    #[error("non-finite value in {0}")]
    NonFinite(&'static str),
    /// An invalid setting (for example a batch size of 0).
    #[error("invalid FID setting: {0}")]
    Config(String),
}
