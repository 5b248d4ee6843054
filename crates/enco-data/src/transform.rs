//! The official training and test transforms (docs/reference.md §8.2, §8.3).

use std::path::Path;

use image::RgbImage;
use image::imageops::{self, FilterType};
use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use crate::error::DataError;

/// How images are brought to the network size (`--preprocess`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Preprocess {
    /// Resize to `load_size`² (aspect ignored), then a random `crop_size`² crop (default).
    #[default]
    ResizeAndCrop,
    /// A random `crop_size`² crop of the image as it is.
    Crop,
    /// Resize to width `load_size` keeping the aspect (height at least `crop_size`).
    ScaleWidth,
    /// `ScaleWidth`, then a random `crop_size`² crop.
    ScaleWidthAndCrop,
    /// Keep the image (rounded to a multiple of 4).
    None,
}

/// The transform of one image: preprocessing, rounding to a multiple of 4, random horizontal
/// flip (docs/reference.md §8.2). Resizing is bicubic with a = −0.5 (PIL's and torchvision's bicubic).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transform {
    /// The preprocessing mode.
    pub preprocess: Preprocess,
    /// Resize target (`--load_size`, 286).
    pub load_size: u32,
    /// Crop size (`--crop_size`, 256).
    pub crop_size: u32,
    /// Random horizontal flip with probability 0.5 (`!--no_flip`).
    pub flip: bool,
}

impl Default for Transform {
    fn default() -> Self {
        Self {
            preprocess: Preprocess::ResizeAndCrop,
            load_size: 286,
            crop_size: 256,
            flip: true,
        }
    }
}

fn resize(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    if image.dimensions() == (width, height) {
        return image.clone();
    }
    imageops::resize(image, width, height, FilterType::CatmullRom)
}

impl Transform {
    /// The deterministic test transform (docs/reference.md §8.3): no crop jitter (load = crop), no flip.
    pub fn for_test(&self) -> Self {
        Self {
            load_size: self.crop_size,
            flip: false,
            ..self.clone()
        }
    }

    /// The decay-half ("finetuning") transform (docs/reference.md §8.2): `load_size` replaced by `crop_size`,
    /// so no crop jitter; flips stay.
    pub fn for_finetuning(&self) -> Self {
        Self {
            load_size: self.crop_size,
            ..self.clone()
        }
    }

    /// Checks the sizes.
    pub fn validate(&self) -> Result<(), DataError> {
        if self.crop_size == 0 || self.load_size == 0 {
            return Err(DataError::Config(
                "load_size and crop_size must be positive".into(),
            ));
        }
        if matches!(self.preprocess, Preprocess::ResizeAndCrop) && self.load_size < self.crop_size {
            return Err(DataError::Config(format!(
                "load_size {} is smaller than crop_size {}",
                self.load_size, self.crop_size
            )));
        }
        Ok(())
    }

    /// Applies the transform to the image read from `path` (named in errors).
    pub fn apply<R: Rng + ?Sized>(
        &self,
        image: &RgbImage,
        path: &Path,
        rng: &mut R,
    ) -> Result<RgbImage, DataError> {
        let mut image = match self.preprocess {
            Preprocess::ResizeAndCrop => resize(image, self.load_size, self.load_size),
            Preprocess::ScaleWidth | Preprocess::ScaleWidthAndCrop => {
                scale_width(image, self.load_size, self.crop_size)
            }
            Preprocess::Crop | Preprocess::None => image.clone(),
        };
        if matches!(
            self.preprocess,
            Preprocess::ResizeAndCrop | Preprocess::Crop | Preprocess::ScaleWidthAndCrop
        ) {
            image = random_crop(&image, self.crop_size, path, rng)?;
        }
        image = make_multiple_of_4(&image);
        if self.flip && rng.random_bool(0.5) {
            image = imageops::flip_horizontal(&image);
        }
        Ok(image)
    }
}

/// `__scale_width`: width `target`, height `max(target·h/w, crop)` (kept when already that
/// width and tall enough).
fn scale_width(image: &RgbImage, target: u32, crop: u32) -> RgbImage {
    let (w, h) = image.dimensions();
    if w == target && h >= crop {
        return image.clone();
    }
    let height = ((target as f64 * h as f64 / w as f64) as u32).max(crop);
    resize(image, target, height)
}

fn random_crop<R: Rng + ?Sized>(
    image: &RgbImage,
    crop: u32,
    path: &Path,
    rng: &mut R,
) -> Result<RgbImage, DataError> {
    let (w, h) = image.dimensions();
    if w < crop || h < crop {
        return Err(DataError::TooSmall {
            path: path.to_path_buf(),
            width: w,
            height: h,
            crop,
        });
    }
    let x = rng.random_range(0..=w - crop);
    let y = rng.random_range(0..=h - crop);
    Ok(imageops::crop_imm(image, x, y, crop, crop).to_image())
}

/// `__make_power_2(base=4)`: resizes to the nearest multiples of 4 (Python's round, ties to
/// even; at least 4).
pub fn make_multiple_of_4(image: &RgbImage) -> RgbImage {
    let (w, h) = image.dimensions();
    let round = |v: u32| (((v as f64 / 4.0).round_ties_even() as u32) * 4).max(4);
    let (nw, nh) = (round(w), round(h));
    if (nw, nh) == (w, h) {
        image.clone()
    } else {
        resize(image, nw, nh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_to_multiples_of_4_as_python_does() {
        let size = |w, h| make_multiple_of_4(&RgbImage::new(w, h)).dimensions();
        assert_eq!(size(256, 256), (256, 256));
        // 258 / 4 = 64.5 rounds to even (64), 262 / 4 = 65.5 to 66, 1 to the minimum 4.
        assert_eq!(size(258, 262), (256, 264));
        assert_eq!(size(1, 7), (4, 8));
    }
}
