//! Errors of the patch samplers.

use thiserror::Error;

/// An invalid sampler configuration or input.
#[derive(Debug, Error, PartialEq)]
pub enum SamplingError {
    /// `num_patches` is 0.
    #[error("num_patches must be at least 1")]
    ZeroPatches,
    /// `oversample_ratio` is 0.
    #[error("oversample_ratio must be at least 1")]
    ZeroOversample,
    /// `random_ratio` is outside [0, 1].
    #[error("random_ratio must lie in [0, 1], got {0}")]
    InvalidRandomRatio(f64),
    /// The feature map is empty.
    #[error("cannot sample patches from an empty {height}×{width} map")]
    EmptyMap {
        /// Map height.
        height: usize,
        /// Map width.
        width: usize,
    },
    /// The score map does not have one score per position.
    #[error("score map has {got} values, the feature map has {expected} positions")]
    ScoreSize {
        /// H·W of the feature map.
        expected: usize,
        /// Number of scores given.
        got: usize,
    },
    /// DAG sampling needs scores but none were given.
    #[error("DAG sampling with random_ratio < 1 needs a score map")]
    MissingScores,
    /// A score map tensor of the wrong shape.
    #[error("score map must be [batch, 1, height, width], got {0:?}")]
    ScoreShape(Vec<usize>),
}
