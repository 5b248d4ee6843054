//! Evaluation for EnCo: translation of images and folders at any size (no resizing, no `testB`
//! needed), and PSNR / SSIM for data sets with a known target.

mod error;
mod metrics;
mod translate;

pub use error::EvalError;
pub use metrics::{psnr, ssim};
pub use translate::{translate_batch, translate_folder, translate_image};
