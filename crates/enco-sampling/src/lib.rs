//! Patch sampling for EnCo: discriminator-guided (DAG) sampling that biases the choice of
//! patches toward the regions the discriminator finds least real (docs/reference.md §4.4–§4.6), uniform
//! sampling (per sample, or shared by the batch as CUT draws it), and the bilinear resize that
//! brings a score map to each feature map (§1.5).

mod dag;
mod error;
mod resize;
mod uniform;

pub use dag::{DagSampler, DagSamplerConfig, PatchCounts};
pub use error::SamplingError;
pub use resize::resize_bilinear;
pub use uniform::uniform_patch_ids;
