//! Evaluation for EnCo: translation of images and folders at any size (no resizing, no `testB`
//! needed), PSNR / SSIM for data sets with a known target, and FID as pytorch-fid computes it.

mod error;
pub mod fid;
mod metrics;
mod paired;
mod translate;

pub use error::EvalError;
pub use fid::{
    ActivationStatistics, FidError, FidInception, FidInceptionConfig, FidReport,
    GaussianStatistics, fid_between_folders, frechet_distance,
};
pub use metrics::{psnr, ssim};
pub use paired::{
    OFFICIAL_NUM_TEST, PairedScores, TestPairs, paired_scores, resave_folder, resave_test_pairs,
};
pub use translate::{
    ExistingOutputs, output_paths, translate_batch, translate_folder, translate_folder_to,
    translate_image,
};
