//! Scores of translated images against known targets, and the test-time re-saving of image
//! folders that the official evaluation protocol scores against (spec §9, §10).

use std::path::{Path, PathBuf};

use enco_data::{Transform, image_files, load_rgb, save_rgb};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::error::EvalError;
use crate::metrics::{psnr, ssim};

/// Mean PSNR and SSIM of result images against same-named targets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PairedScores {
    /// Mean PSNR in dB over the pairs (an identical pair counts as 100 dB).
    pub psnr: f64,
    /// Mean SSIM over the pairs.
    pub ssim: f64,
    /// Number of pairs.
    pub pairs: usize,
}

/// Scores every image of `results` against the image of `targets` with the same file stem
/// (any extension), e.g. `fake_B/0001.png` against `testB/0001.jpg`. A result without a
/// target, or of another size, is an error naming it.
pub fn paired_scores(results: &Path, targets: &Path) -> Result<PairedScores, EvalError> {
    let target_files = image_files(targets)?;
    let find = |stem: &std::ffi::OsStr| {
        target_files
            .iter()
            .find(|t| t.file_stem() == Some(stem))
            .cloned()
    };
    let (mut total_psnr, mut total_ssim, mut pairs) = (0.0, 0.0, 0);
    for file in image_files(results)? {
        let stem = file.file_stem().unwrap_or_default();
        let target = find(stem).ok_or_else(|| EvalError::MissingTarget {
            result: file.clone(),
            targets: targets.to_path_buf(),
        })?;
        let (a, b) = (load_rgb(&file)?, load_rgb(&target)?);
        total_psnr += psnr(&a, &b)?.min(100.0);
        total_ssim += ssim(&a, &b)?;
        pairs += 1;
    }
    if pairs == 0 {
        return Err(enco_data::DataError::EmptyFolder(results.to_path_buf()).into());
    }
    Ok(PairedScores {
        psnr: total_psnr / pairs as f64,
        ssim: total_ssim / pairs as f64,
        pairs,
    })
}

/// Re-saves every image of `input` (recursively) as PNG under `output` with the same stem, after
/// the test-time transform of the official `test.py` when `size` is given (bicubic resize to
/// `size`×`size`, no crop jitter, no flip; spec §8.3), unchanged otherwise. These are the
/// `real_A` / `real_B` folders the official protocol computes FID against. Returns the written
/// files.
pub fn resave_folder(
    input: &Path,
    output: &Path,
    size: Option<u32>,
) -> Result<Vec<PathBuf>, EvalError> {
    let transform = size.map(|s| {
        Transform {
            load_size: s,
            crop_size: s,
            ..Transform::default()
        }
        .for_test()
    });
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    std::fs::create_dir_all(output).map_err(|source| enco_data::DataError::Io {
        path: output.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    for file in image_files(input)? {
        let image = load_rgb(&file)?;
        let image = match &transform {
            Some(t) => t.apply(&image, &file, &mut rng)?,
            None => image,
        };
        let target = output
            .join(file.file_stem().unwrap_or_default())
            .with_extension("png");
        save_rgb(&image, &target)?;
        written.push(target);
    }
    Ok(written)
}
