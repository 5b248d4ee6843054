//! CUT and FastCUT (Park et al., 2020), as the official EnCo repository trains them (docs/reference.md §15):
//! the same G and D as EnCo, CUT's `PatchSampleF` heads and the PatchNCE loss.

mod config;
mod model;
mod trainer;

pub use config::{CutConfig, CutVariant};
pub use model::{CutGeneratorLosses, CutModel, CutPass, NceTerm};
pub use trainer::{CutAdamRecords, CutTrainer};
