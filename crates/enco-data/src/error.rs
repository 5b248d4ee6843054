//! Errors of the data pipeline; each names the file or folder concerned.

use std::path::PathBuf;

use thiserror::Error;

/// An error while finding, reading or transforming images.
#[derive(Debug, Error)]
pub enum DataError {
    /// A data set folder does not exist.
    #[error("folder {0} does not exist")]
    MissingFolder(PathBuf),
    /// A data set folder holds no image (jpg, png, bmp, tiff, webp, … any format this build
    /// decodes).
    #[error("folder {0} holds no image (jpg, png, bmp, tiff, webp, gif, …)")]
    EmptyFolder(PathBuf),
    /// Files of a data set that cannot be used, found before training.
    #[error(
        "{} unusable image files (check them with `enco check-data`, or train without them \
         with --skip-bad-images):\n{}",
        .0.len(),
        .0.iter().map(|b| format!("  {b}")).collect::<Vec<_>>().join("\n")
    )]
    BadImages(Vec<crate::check::BadImage>),
    /// A file or folder could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An image file could not be decoded (corrupt, truncated, or not an image).
    #[error("cannot decode image {path}: {source}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// The decoder's error.
        #[source]
        source: image::ImageError,
    },
    /// An image could not be written.
    #[error("cannot write image {path}: {source}")]
    Encode {
        /// The file.
        path: PathBuf,
        /// The encoder's error.
        #[source]
        source: image::ImageError,
    },
    /// An image is smaller than the crop and the preprocessing does not resize it first.
    #[error(
        "image {path} is {width}×{height}, smaller than the {crop}×{crop} crop \
         (use --preprocess resize_and_crop or scale_width_and_crop, or a smaller crop)"
    )]
    TooSmall {
        /// The file.
        path: PathBuf,
        /// Image width.
        width: u32,
        /// Image height.
        height: u32,
        /// Crop size.
        crop: u32,
    },
    /// Images of one batch differ in size (possible with `none` or `scale_width`).
    #[error("images of one batch must have the same size: {first:?} vs {other:?} ({path})")]
    BatchSize {
        /// The first image's (width, height).
        first: (u32, u32),
        /// The differing image's (width, height).
        other: (u32, u32),
        /// The differing file.
        path: PathBuf,
    },
    /// An invalid setting.
    #[error("invalid data setting: {0}")]
    Config(String),
}
