//! CycleGAN (Zhu et al., 2017), as the official EnCo repository trains it (docs/reference.md §16): two
//! generators, two discriminators, cycle and identity L1, image pools, G updated before D.

mod config;
mod image_pool;
mod model;
mod trainer;

pub use config::{CycleGanConfig, CycleGanNetworks};
pub use image_pool::ImagePool;
pub use model::{CycleGanGeneratorLosses, CycleGanModel, CycleGanPass};
pub use trainer::{CycleGanAdamRecords, CycleGanTrainer};
