//! Evaluation for EnCo: translation of images and folders at any size (no resizing, no `testB`
//! needed), PSNR / SSIM for data sets with a known target, FID as pytorch-fid computes it (and
//! KID), and a generator scored as the official test protocol scores it
//! ([`evaluate_with_test_protocol`]).

mod error;
pub mod fid;
mod metrics;
mod paired;
mod test_protocol;
mod translate;

pub use error::EvalError;
pub use fid::{
    ActivationStatistics, FidError, FidInception, FidInceptionConfig, FidKidReport, FidReport,
    GaussianStatistics, fid_and_kid_between_folders, fid_between_folders, frechet_distance,
};
pub use metrics::{psnr, ssim};
pub use paired::{
    OFFICIAL_NUM_TEST, PairedScores, TestPairs, paired_scores, resave_folder, resave_test_pairs,
};
pub use test_protocol::{
    FidOptions, FidScores, RealSets, TEST_PROTOCOL_FOLDERS, TestProtocol, TestProtocolReport,
    evaluate_with_test_protocol,
};
pub use translate::{
    ExistingOutputs, output_paths, translate_batch, translate_folder, translate_folder_to,
    translate_image,
};
