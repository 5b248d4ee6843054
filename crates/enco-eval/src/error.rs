//! Errors of translation and evaluation.

use enco_data::DataError;
use enco_nn::NnError;
use thiserror::Error;

/// An error while translating or scoring images.
#[derive(Debug, Error)]
pub enum EvalError {
    /// Reading or writing an image failed.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The generator rejected its input.
    #[error(transparent)]
    Network(#[from] NnError),
    /// Two images to compare differ in size.
    #[error("images differ in size: {0:?} vs {1:?}")]
    SizeMismatch((u32, u32), (u32, u32)),
    /// A result image has no target of the same name.
    #[error("{result} has no target of the same name in {targets}")]
    MissingTarget {
        /// The result image.
        result: std::path::PathBuf,
        /// The target folder.
        targets: std::path::PathBuf,
    },
    /// The backend's tensor data could not be read as f32 values.
    #[error("tensor data: {0}")]
    TensorData(#[from] burn::tensor::DataError),
    /// A translation would write over one of its input files.
    #[error(
        "{0} is an input file; refusing to write a translation over it (choose another output folder)"
    )]
    WouldOverwriteInput(std::path::PathBuf),
    /// Two input files would get the same output name even with their extensions kept.
    #[error("two inputs would both be written to {0}; rename one of them")]
    DuplicateOutput(std::path::PathBuf),
    /// Output files exist and the translation was asked not to replace them.
    #[error(
        "{count} output files exist already (first: {first}); pass --overwrite to replace them"
    )]
    OutputExists {
        /// How many.
        count: usize,
        /// The first of them.
        first: std::path::PathBuf,
    },
    /// FID or KID could not be computed.
    #[error(transparent)]
    Fid(#[from] crate::fid::FidError),
    /// An image is too small for the metric.
    #[error("image {0:?} is smaller than the 11×11 SSIM window")]
    TooSmall((u32, u32)),
}
