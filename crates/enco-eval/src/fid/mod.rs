//! Fréchet Inception Distance compatible with pytorch-fid 0.3.0 (`python -m pytorch_fid
//! dir1 dir2`, default settings: pool3 features, 2048 dimensions, FID Inception weights).
//!
//! - [`FidInception`]: the FID Inception network up to pool3 (load the official
//!   `pt_inception-2015-12-05-6726825d.pth` from [`FID_WEIGHTS_URL`] with
//!   [`FidInception::load_pth`]).
//! - [`ActivationStatistics`]: streaming mean and covariance in f64 (`np.mean`, `np.cov`).
//! - [`frechet_distance`]: pytorch-fid's `calculate_frechet_distance`, computed exactly from
//!   symmetric eigendecompositions.
//! - [`kernel_inception_distance`]: KID (cubic-kernel unbiased MMD² over random subsets).
//! - [`fid_between_folders`], [`folder_statistics`], [`FidInception::activations`]: the whole
//!   pipeline on image folders.
//!
//! # Images and batches
//!
//! Like pytorch-fid, the images of a folder are the files directly inside it (not in
//! subfolders) whose extension is one of [`FID_IMAGE_EXTENSIONS`] (lower case, as its
//! case-sensitive `glob`), sorted by path; each is read as 8-bit RGB and turned into
//! `[3, H, W]` values `u8 / 255` (`ToTensor`). pytorch-fid stacks `batch_size` consecutive
//! images and fails when their sizes differ; here a batch is cut early where the size
//! changes, so folders with mixed sizes work. Batching never changes the features beyond
//! rounding (the network resizes each image on its own and its BatchNorms use running
//! statistics).

mod error;
mod frechet;
mod inception;
mod kid;
mod preprocess;
mod statistics;

use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::tensor::TensorData;
use enco_data::image::RgbImage;
use enco_data::{DataError, load_rgb};
use enco_kernels::EncoBackend;
use serde::{Deserialize, Serialize};

pub use error::{FID_WEIGHTS_URL, FidError};
pub use frechet::frechet_distance;
use inception::HostPreprocessing;
pub use inception::{
    BasicConv2d, FID_DIMS, FID_INPUT_SIZE, FidInception, FidInceptionConfig, InceptionA,
    InceptionB, InceptionC, InceptionD, InceptionE,
};
pub use kid::{KidConfig, KidReport, kernel_inception_distance};
pub use statistics::{ActivationStatistics, GaussianStatistics};

/// The extensions pytorch-fid 0.3.0 globs for (`IMAGE_EXTENSIONS`), matched case-sensitively.
pub const FID_IMAGE_EXTENSIONS: [&str; 9] = [
    "bmp", "jpg", "jpeg", "pgm", "png", "ppm", "tif", "tiff", "webp",
];

/// pytorch-fid's default batch size (`--batch-size 50`).
pub const FID_DEFAULT_BATCH_SIZE: usize = 50;

/// The images pytorch-fid takes from `dir`: files directly inside it with one of
/// [`FID_IMAGE_EXTENSIONS`], sorted. A missing folder or one without images is an error.
pub fn fid_image_files(dir: &Path) -> Result<Vec<PathBuf>, FidError> {
    if !dir.is_dir() {
        return Err(DataError::MissingFolder(dir.to_path_buf()).into());
    }
    let io = |source| DataError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let matches = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| FID_IMAGE_EXTENSIONS.contains(&e));
        if matches && path.is_file() {
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(DataError::EmptyFolder(dir.to_path_buf()).into());
    }
    files.sort();
    Ok(files)
}

/// `ToTensor` of an RGB image: `[3, H, W]` values `u8 / 255` in f32, channel-major, appended
/// to `out`.
fn push_image_values(image: &RgbImage, out: &mut Vec<f32>) {
    let (w, h) = image.dimensions();
    let hw = w as usize * h as usize;
    let start = out.len();
    out.resize(start + 3 * hw, 0.0);
    let dst = &mut out[start..];
    for (p, px) in image.as_raw().chunks_exact(3).enumerate() {
        for c in 0..3 {
            dst[c * hw + p] = px[c] as f32 / 255.0;
        }
    }
}

/// One batch of preprocessed images, `[n, 3, H, W]` row-major.
struct PreparedBatch {
    values: Vec<f32>,
    shape: [usize; 4],
}

/// Decodes `files` and cuts them into batches of at most `batch_size` consecutive same-sized
/// images, each preprocessed and handed to `send`, in order; an error is handed on (after the
/// batch of the images before it) and ends the work, and so does `send` returning false (nobody
/// takes the batches any more).
fn prepare_batches(
    files: &[PathBuf],
    batch_size: usize,
    preprocessing: HostPreprocessing,
    mut send: impl FnMut(Result<PreparedBatch, FidError>) -> bool,
) {
    let prepare = |values: Vec<f32>, (w, h): (u32, u32), n: usize| {
        preprocessing
            .apply(values, [n, 3, h as usize, w as usize])
            .map(|(values, shape)| PreparedBatch { values, shape })
    };
    let mut values = Vec::new();
    let mut batch_dims: Option<(u32, u32)> = None;
    let mut in_batch = 0;
    for file in files {
        let image = match load_rgb(file) {
            Ok(image) => image,
            Err(e) => {
                // The images before it are still worked on.
                if let Some(current) = batch_dims
                    && in_batch > 0
                    && !send(prepare(std::mem::take(&mut values), current, in_batch))
                {
                    return;
                }
                send(Err(e.into()));
                return;
            }
        };
        let dims = image.dimensions();
        if let Some(current) = batch_dims
            && (current != dims || in_batch == batch_size)
        {
            let batch = prepare(std::mem::take(&mut values), current, in_batch);
            let failed = batch.is_err();
            if !send(batch) || failed {
                return;
            }
            in_batch = 0;
        }
        batch_dims = Some(dims);
        push_image_values(&image, &mut values);
        in_batch += 1;
    }
    if let Some(current) = batch_dims
        && in_batch > 0
    {
        send(prepare(values, current, in_batch));
    }
}

impl<B: EncoBackend> FidInception<B> {
    /// Runs the network over `files` in batches of at most `batch_size` consecutive
    /// same-sized images, calling `on_rows` with the f32 pool3 rows of each batch (row-major,
    /// `[n, 2048]`) and `progress` with (images done, total).
    ///
    /// The images are decoded and preprocessed (resize, normalisation) on a thread of their
    /// own, one batch ahead of the network, so that decoding overlaps the convolutions (which
    /// run on the backend's threads: all cores on the CPU).
    fn for_each_batch(
        &self,
        files: &[PathBuf],
        batch_size: usize,
        device: &B::Device,
        mut on_rows: impl FnMut(&[f32]) -> Result<(), FidError>,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<(), FidError> {
        if batch_size == 0 {
            return Err(FidError::Config("batch size must be at least 1".into()));
        }
        let total = files.len();
        let preprocessing = self.host_preprocessing();
        std::thread::scope(|scope| {
            // One prepared batch waits while the network runs on the one before.
            let (sender, batches) = std::sync::mpsc::sync_channel(1);
            scope.spawn(move || {
                prepare_batches(files, batch_size, preprocessing, |batch| {
                    sender.send(batch).is_ok()
                })
            });
            let mut done = 0;
            // An error ends the loop and drops the receiver, which stops the decoding thread
            // at its next batch.
            for batch in batches {
                let PreparedBatch { values, shape } = batch?;
                let x = Tensor::<B, 4>::from_data(TensorData::new(values, shape), device);
                let rows = self
                    .forward(x)
                    .into_data()
                    .convert::<f32>()
                    .into_vec::<f32>()?;
                on_rows(&rows)?;
                done += shape[0];
                progress(done, total);
            }
            Ok(())
        })
    }

    /// The pool3 activations of `files` (pytorch-fid's `get_activations`): `[N, 2048]`
    /// row-major f64 (the network's f32 values widened), rows in the order of `files`.
    /// `progress` is called after each batch with (images done, total).
    pub fn activations(
        &self,
        files: &[PathBuf],
        batch_size: usize,
        device: &B::Device,
        progress: impl FnMut(usize, usize),
    ) -> Result<Vec<f64>, FidError> {
        let mut out = Vec::with_capacity(files.len() * FID_DIMS);
        self.for_each_batch(
            files,
            batch_size,
            device,
            |rows| {
                out.extend(rows.iter().map(|&v| v as f64));
                Ok(())
            },
            progress,
        )?;
        Ok(out)
    }

    /// Streams the pool3 activations of `files` into an [`ActivationStatistics`] without
    /// keeping them.
    pub fn activation_statistics(
        &self,
        files: &[PathBuf],
        batch_size: usize,
        device: &B::Device,
        progress: impl FnMut(usize, usize),
    ) -> Result<ActivationStatistics, FidError> {
        let mut stats = ActivationStatistics::new(FID_DIMS);
        self.for_each_batch(files, batch_size, device, |rows| stats.push(rows), progress)?;
        Ok(stats)
    }
}

/// Mean and covariance of the pool3 activations of the images of `folder` (pytorch-fid's
/// `compute_statistics_of_path` for a folder); at least two images are needed.
pub fn folder_statistics<B: EncoBackend>(
    model: &FidInception<B>,
    folder: &Path,
    batch_size: usize,
    device: &B::Device,
    progress: impl FnMut(usize, usize),
) -> Result<GaussianStatistics, FidError> {
    let files = fid_image_files(folder)?;
    model
        .activation_statistics(&files, batch_size, device, progress)?
        .finish()
}

/// The result of [`fid_between_folders`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FidReport {
    /// The Fréchet Inception Distance.
    pub fid: f64,
    /// Number of images of the first folder.
    pub n_a: usize,
    /// Number of images of the second folder.
    pub n_b: usize,
    /// Feature dimension (2048, pool3).
    pub dims: usize,
}

/// The FID between the images of two folders, as `python -m pytorch_fid folder_a folder_b
/// --batch-size batch_size` computes it (default batch size [`FID_DEFAULT_BATCH_SIZE`]).
/// `progress` is called after each batch with (images done, total) over both folders.
pub fn fid_between_folders<B: EncoBackend>(
    folder_a: &Path,
    folder_b: &Path,
    model: &FidInception<B>,
    batch_size: usize,
    device: &B::Device,
    mut progress: impl FnMut(usize, usize),
) -> Result<FidReport, FidError> {
    let files_a = fid_image_files(folder_a)?;
    let files_b = fid_image_files(folder_b)?;
    let total = files_a.len() + files_b.len();
    let n_a = files_a.len();
    let stats_a = model
        .activation_statistics(&files_a, batch_size, device, |d, _| progress(d, total))?
        .finish()?;
    let stats_b = model
        .activation_statistics(&files_b, batch_size, device, |d, _| {
            progress(n_a + d, total)
        })?
        .finish()?;
    Ok(FidReport {
        fid: stats_a.frechet_distance(&stats_b)?,
        n_a,
        n_b: files_b.len(),
        dims: FID_DIMS,
    })
}

/// The result of [`fid_and_kid_between_folders`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FidKidReport {
    /// The Fréchet Inception Distance.
    pub fid: f64,
    /// Number of images of the first folder.
    pub n_a: usize,
    /// Number of images of the second folder.
    pub n_b: usize,
    /// Feature dimension (2048, pool3).
    pub dims: usize,
    /// The Kernel Inception Distance over random subsets.
    pub kid: KidReport,
}

/// FID ([`fid_between_folders`]) and KID ([`kernel_inception_distance`]) of two folders from
/// one pass of the Inception over each (the activations are kept in memory: 16 KiB per image).
/// `progress` is called after each batch with (images done, total) over both folders.
pub fn fid_and_kid_between_folders<B: EncoBackend>(
    folder_a: &Path,
    folder_b: &Path,
    model: &FidInception<B>,
    batch_size: usize,
    kid: KidConfig,
    device: &B::Device,
    mut progress: impl FnMut(usize, usize),
) -> Result<FidKidReport, FidError> {
    let files_a = fid_image_files(folder_a)?;
    let files_b = fid_image_files(folder_b)?;
    let total = files_a.len() + files_b.len();
    let n_a = files_a.len();
    let feats_a = model.activations(&files_a, batch_size, device, |d, _| progress(d, total))?;
    let feats_b = model.activations(&files_b, batch_size, device, |d, _| {
        progress(n_a + d, total)
    })?;
    let statistics = |feats: &[f64]| {
        let mut s = ActivationStatistics::new(FID_DIMS);
        s.push(feats)?;
        s.finish()
    };
    Ok(FidKidReport {
        fid: statistics(&feats_a)?.frechet_distance(&statistics(&feats_b)?)?,
        n_a,
        n_b: files_b.len(),
        dims: FID_DIMS,
        kid: kernel_inception_distance(&feats_a, &feats_b, FID_DIMS, kid)?,
    })
}
