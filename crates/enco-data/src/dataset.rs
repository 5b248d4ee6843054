//! The unaligned (unpaired) data set of docs/reference.md §8.1.

use std::path::{Path, PathBuf};

use burn::tensor::TensorData;
use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::folder::image_files;
use crate::image_io::{image_to_data, load_rgb};
use crate::transform::Transform;

/// Which domain is the source (`--direction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Direction {
    /// Translate A → B.
    #[default]
    AtoB,
    /// Translate B → A (e.g. Cityscapes label → photo).
    BtoA,
}

/// One transformed pair, tensors `[3, H, W]` in [−1, 1].
#[derive(Debug, Clone)]
pub struct UnpairedSample {
    /// Source-domain image.
    pub a: TensorData,
    /// Target-domain image.
    pub b: TensorData,
    /// File of `a`.
    pub a_path: PathBuf,
    /// File of `b`.
    pub b_path: PathBuf,
}

/// `dataroot/{phase}A` and `dataroot/{phase}B`, each found recursively and sorted. Its length
/// is `max(|A|, |B|)`; item i takes `A[i mod |A|]` and, in training, a uniformly random B
/// (with replacement), or `B[i mod |B|]` in serial mode (docs/reference.md §8.1).
#[derive(Debug, Clone)]
pub struct UnpairedDataset {
    /// Source images.
    pub a_paths: Vec<PathBuf>,
    /// Target images.
    pub b_paths: Vec<PathBuf>,
    /// Draw B at random (training) or in order (test).
    pub random_b: bool,
}

impl UnpairedDataset {
    /// Opens `root/{phase}A` and `root/{phase}B` (for phase `test`, `valA`/`valB` when
    /// `testA` is missing), swapped for [`Direction::BtoA`].
    pub fn open(root: &Path, phase: &str, direction: Direction) -> Result<Self, DataError> {
        let folder = |side: &str| {
            let dir = root.join(format!("{phase}{side}"));
            if phase == "test" && !dir.is_dir() {
                let val = root.join(format!("val{side}"));
                if val.is_dir() {
                    return val;
                }
            }
            dir
        };
        let a = image_files(&folder("A"))?;
        let b = image_files(&folder("B"))?;
        let (a_paths, b_paths) = match direction {
            Direction::AtoB => (a, b),
            Direction::BtoA => (b, a),
        };
        Ok(Self {
            a_paths,
            b_paths,
            random_b: phase == "train",
        })
    }

    /// Number of items, `max(|A|, |B|)`.
    pub fn len(&self) -> usize {
        self.a_paths.len().max(self.b_paths.len())
    }

    /// Whether the data set is empty (never, once opened).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Loads and transforms item `index`; A and B get independent random transforms.
    pub fn get<R: Rng + ?Sized>(
        &self,
        index: usize,
        transform: &Transform,
        rng: &mut R,
    ) -> Result<UnpairedSample, DataError> {
        let a_path = &self.a_paths[index % self.a_paths.len()];
        let b_index = if self.random_b {
            rng.random_range(0..self.b_paths.len())
        } else {
            index % self.b_paths.len()
        };
        let b_path = &self.b_paths[b_index];
        let a = transform.apply(&load_rgb(a_path)?, a_path, rng)?;
        let b = transform.apply(&load_rgb(b_path)?, b_path, rng)?;
        Ok(UnpairedSample {
            a: image_to_data(&a),
            b: image_to_data(&b),
            a_path: a_path.clone(),
            b_path: b_path.clone(),
        })
    }
}
