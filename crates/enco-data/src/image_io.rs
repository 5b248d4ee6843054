//! Reading and writing images, and their conversion to and from tensors in [−1, 1].

use std::path::Path;

use burn::tensor::TensorData;
use image::RgbImage;

use crate::error::DataError;

/// Reads an image as 8-bit RGB. Grayscale is replicated to three channels, alpha is dropped,
/// palettes are expanded, and 16-bit channels are scaled to 8 bits (as PIL's
/// `convert('RGB')` does for the official loader).
pub fn load_rgb(path: &Path) -> Result<RgbImage, DataError> {
    let reader = image::ImageReader::open(path)
        .map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .with_guessed_format()
        .map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    let image = reader.decode().map_err(|source| DataError::Decode {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(image.to_rgb8())
}

/// Writes an RGB image; the format follows the extension (PNG recommended).
pub fn save_rgb(image: &RgbImage, path: &Path) -> Result<(), DataError> {
    image.save(path).map_err(|source| DataError::Encode {
        path: path.to_path_buf(),
        source,
    })
}

/// `ToTensor` + `Normalize(0.5, 0.5)`: `[3, H, W]` values `(u8 / 255 − 0.5) / 0.5` (docs/reference.md §8.2
/// step 5).
pub fn image_to_data(image: &RgbImage) -> TensorData {
    let (w, h) = image.dimensions();
    let (w, h) = (w as usize, h as usize);
    let raw = image.as_raw();
    let mut values = vec![0.0f32; 3 * h * w];
    for (p, px) in raw.chunks_exact(3).enumerate() {
        for c in 0..3 {
            values[c * h * w + p] = (px[c] as f32 / 255.0 - 0.5) / 0.5;
        }
    }
    TensorData::new(values, [3, h, w])
}

/// The official `tensor2im` (docs/reference.md §9): clamp to [−1, 1], `(x + 1) / 2 · 255`, truncated to u8.
/// `values` is `[3, H, W]` (or `[1, H, W]`, tiled to RGB).
pub fn data_to_image(values: &[f32], channels: usize, height: usize, width: usize) -> RgbImage {
    let mut image = RgbImage::new(width as u32, height as u32);
    for (p, px) in image.pixels_mut().enumerate() {
        for c in 0..3 {
            let v = values[c.min(channels - 1) * height * width + p].clamp(-1.0, 1.0);
            px.0[c] = ((v + 1.0) / 2.0 * 255.0) as u8;
        }
    }
    image
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_tensor_normalize_and_tensor2im_round_trip_every_byte() {
        let image = RgbImage::from_fn(16, 16, |x, y| {
            let v = (y * 16 + x) as u8;
            image::Rgb([v, 255 - v, v / 2])
        });
        let data = image_to_data(&image);
        assert_eq!(data.shape.to_vec(), vec![3, 16, 16]);
        let values = data.to_vec::<f32>().unwrap();
        // (u8 / 255 − 0.5) / 0.5 maps 0 → −1 and 255 → 1, channel planes first.
        assert_eq!(values[0], -1.0);
        assert_eq!(values[256], 1.0);
        // tensor2im truncates (x + 1) / 2 · 255, which gives back every byte (up to float
        // rounding just below an integer, hence the comparison within 1).
        let back = data_to_image(&values, 3, 16, 16);
        for (a, b) in image.as_raw().iter().zip(back.as_raw()) {
            assert!(a.abs_diff(*b) <= 1, "{a} vs {b}");
        }
    }

    #[test]
    fn a_single_channel_is_tiled_to_rgb_and_values_are_clamped() {
        let image = data_to_image(&[-3.0, 0.0, 1.0, 2.5], 1, 2, 2);
        let pixels: Vec<[u8; 3]> = image.pixels().map(|p| p.0).collect();
        assert_eq!(pixels, vec![[0; 3], [127; 3], [255; 3], [255; 3]]);
    }
}
