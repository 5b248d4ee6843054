//! A procedurally generated unpaired data set with a known A → B mapping, so that a training
//! run can be scored without downloading anything: `testB` holds the exact targets of `testA`.

use std::path::Path;

use burn::prelude::*;
use image::{Rgb, RgbImage};
use rand::rngs::ChaCha8Rng;
use rand::{Rng, RngExt, SeedableRng};

use crate::error::DataError;
use crate::image_io::save_rgb;

/// The known mapping of the synthetic data set ("dusk"): a fixed 3×3 colour matrix plus an
/// offset, applied per pixel and clamped to [0, 255]. It darkens and warms the light-blue
/// "day" scenes of domain A into orange-brown "dusk" scenes.
pub const SYNTHETIC_MAPPING: ([[f32; 3]; 3], [f32; 3]) = (
    [[0.55, 0.35, 0.05], [0.10, 0.45, 0.10], [0.05, 0.10, 0.30]],
    [40.0, 10.0, 5.0],
);

/// Applies [`SYNTHETIC_MAPPING`] to an image.
pub fn synthetic_mapping(image: &RgbImage) -> RgbImage {
    let (m, o) = SYNTHETIC_MAPPING;
    let mut out = image.clone();
    for px in out.pixels_mut() {
        let x = px.0.map(f32::from);
        for (c, v) in px.0.iter_mut().enumerate() {
            let y = m[c][0] * x[0] + m[c][1] * x[1] + m[c][2] * x[2] + o[c];
            *v = y.round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// Draws one domain-A scene: a sky-to-ground vertical gradient with a few discs and boxes of
/// random colours and sizes, and a little pixel noise.
fn synthetic_scene(size: u32, rng: &mut impl Rng) -> RgbImage {
    let s = size as f32;
    let horizon = rng.random_range(0.45..0.75) * s;
    let mut image = RgbImage::from_fn(size, size, |_, y| {
        let t = y as f32 / s;
        if (y as f32) < horizon {
            Rgb([
                (150.0 + 60.0 * t) as u8,
                (190.0 + 40.0 * t) as u8,
                (245.0 - 10.0 * t) as u8,
            ])
        } else {
            Rgb([
                (90.0 + 40.0 * t) as u8,
                (160.0 + 30.0 * t) as u8,
                (80.0 + 20.0 * t) as u8,
            ])
        }
    });
    for _ in 0..rng.random_range(2..5) {
        let colour = Rgb([
            rng.random_range(20..255u8),
            rng.random_range(20..255u8),
            rng.random_range(20..255u8),
        ]);
        let (cx, cy) = (rng.random_range(0.0..s), rng.random_range(0.0..s));
        let r = rng.random_range(0.08..0.22) * s;
        let disc = rng.random_bool(0.5);
        for (x, y, px) in image.enumerate_pixels_mut() {
            let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
            let inside = if disc {
                dx * dx + dy * dy <= r * r
            } else {
                dx.abs() <= r && dy.abs() <= 0.7 * r
            };
            if inside {
                *px = colour;
            }
        }
    }
    for px in image.pixels_mut() {
        for v in px.0.iter_mut() {
            *v = (*v as i16 + rng.random_range(-6..=6)).clamp(0, 255) as u8;
        }
    }
    image
}

/// A synthetic unpaired data set: `trainA` day scenes, `trainB` *other* day scenes mapped by
/// [`SYNTHETIC_MAPPING`] (unpaired), `testA` day scenes and `testB` their exact mapped targets
/// under the same file names. Images must be at least 8 px.
#[derive(Config, Debug)]
pub struct SyntheticDatasetConfig {
    /// Width and height of every image.
    #[config(default = 64)]
    pub size: u32,
    /// Images in `trainA`.
    #[config(default = 200)]
    pub train_a: usize,
    /// Images in `trainB`.
    #[config(default = 200)]
    pub train_b: usize,
    /// Image pairs in `testA` / `testB`.
    #[config(default = 16)]
    pub test: usize,
    /// Seed of the scenes.
    #[config(default = 0)]
    pub seed: u64,
}

impl SyntheticDatasetConfig {
    /// Writes the data set under `root` (`trainA`, `trainB`, `testA`, `testB`, PNG files
    /// `0000.png`, `0001.png`, ...). Existing files of the same names are replaced.
    pub fn write(&self, root: &Path) -> Result<(), DataError> {
        if self.size < 8 {
            return Err(DataError::Config(format!(
                "synthetic images must be at least 8 px wide, not {}",
                self.size
            )));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let folders = [
            ("trainA", self.train_a, false),
            ("trainB", self.train_b, true),
        ];
        for (name, count, mapped) in folders {
            let dir = root.join(name);
            create_dir(&dir)?;
            for i in 0..count {
                let scene = synthetic_scene(self.size, &mut rng);
                let image = if mapped {
                    synthetic_mapping(&scene)
                } else {
                    scene
                };
                save_rgb(&image, &dir.join(format!("{i:04}.png")))?;
            }
        }
        let (test_a, test_b) = (root.join("testA"), root.join("testB"));
        create_dir(&test_a)?;
        create_dir(&test_b)?;
        for i in 0..self.test {
            let scene = synthetic_scene(self.size, &mut rng);
            save_rgb(
                &synthetic_mapping(&scene),
                &test_b.join(format!("{i:04}.png")),
            )?;
            save_rgb(&scene, &test_a.join(format!("{i:04}.png")))?;
        }
        Ok(())
    }
}

fn create_dir(dir: &Path) -> Result<(), DataError> {
    std::fs::create_dir_all(dir).map_err(|source| DataError::Io {
        path: dir.to_path_buf(),
        source,
    })
}
