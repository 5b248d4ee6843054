//! Data for EnCo: unpaired image folders (`trainA`/`trainB`/`testA`/`testB`), the official
//! transforms, batches prefetched off the training thread, and image I/O (docs/reference.md §8).

mod check;
mod dataset;
mod error;
mod folder;
mod image_io;
mod loader;
mod synthetic;
mod transform;

pub use check::{BadImage, CheckDepth, check_image, check_images, minimum_side, unsupported_files};
pub use dataset::{Direction, UnpairedDataset, UnpairedSample};
pub use error::DataError;
pub use folder::{IMAGE_EXTENSIONS, image_files, is_image_file};
pub use image_io::{data_to_image, image_to_data, load_rgb, save_rgb};
pub use loader::{EpochLoader, UnpairedBatch};
pub use synthetic::{SYNTHETIC_MAPPING, SyntheticDatasetConfig, synthetic_mapping};
pub use transform::{Preprocess, Transform, make_multiple_of_4};

pub use image;
