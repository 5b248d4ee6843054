//! Scores of translated images against known targets, and the test-time re-saving of image
//! folders that the official evaluation protocol scores against (docs/reference.md §9, §10).

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

/// The test-time transform of the official `test.py` at `size` (bicubic resize to
/// `size`×`size`, no crop jitter, no flip; docs/reference.md §8.3), or none.
fn test_transform(size: Option<u32>) -> Option<Transform> {
    size.map(|s| {
        Transform {
            load_size: s,
            crop_size: s,
            ..Transform::default()
        }
        .for_test()
    })
}

fn create_dir(dir: &Path) -> Result<(), EvalError> {
    std::fs::create_dir_all(dir).map_err(|source| {
        enco_data::DataError::Io {
            path: dir.to_path_buf(),
            source,
        }
        .into()
    })
}

/// `<stem>.png`, the stem kept whole (`img.001.jpg` → `img.001.png`), as the official code
/// names its results.
fn png_name(file: &Path) -> String {
    format!(
        "{}.png",
        file.file_stem().unwrap_or_default().to_string_lossy()
    )
}

/// Reads `file`, applies `transform` if any, saves it as PNG at `target`.
fn resave(file: &Path, target: &Path, transform: &Option<Transform>) -> Result<(), EvalError> {
    let image = load_rgb(file)?;
    let image = match transform {
        // The test transform draws nothing; the generator only satisfies the signature.
        Some(t) => t.apply(&image, file, &mut rand::rngs::ChaCha8Rng::seed_from_u64(0))?,
        None => image,
    };
    save_rgb(&image, target)?;
    Ok(())
}

/// Re-saves every image of `input` (recursively) as PNG under `output` with the same stem, after
/// the test-time transform of the official `test.py` when `size` is given, unchanged otherwise.
/// Returns the written files.
pub fn resave_folder(
    input: &Path,
    output: &Path,
    size: Option<u32>,
) -> Result<Vec<PathBuf>, EvalError> {
    let transform = test_transform(size);
    create_dir(output)?;
    let mut written = Vec::new();
    for file in image_files(input)? {
        let target = output.join(png_name(&file));
        resave(&file, &target, &transform)?;
        written.push(target);
    }
    Ok(written)
}

/// The official `test.py` caps a test run at `--num_test` batches (default 5000, batch 1).
pub const OFFICIAL_NUM_TEST: usize = 5000;

/// What [`resave_test_pairs`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestPairs {
    /// Items the official test loop visits: `min(max(|A|, |B|), max_items)`.
    pub items: usize,
    /// Files in `real_A` (one per distinct source stem visited).
    pub real_a: usize,
    /// Files in `real_B` after the overwrites (as many as `real_A`).
    pub real_b: usize,
    /// Target images written over an earlier one of the same name (the official quirk).
    pub overwritten: usize,
}

/// The real images of the official evaluation protocol (docs/reference.md §9): the test loop visits items
/// `i = 0 .. min(max(|A|, |B|), max_items)`, pairing `A[i mod |A|]` with `B[i mod |B|]` (test
/// runs are serial), and saves every visual of item `i` under the **A** file's stem. So
/// `real_B` holds |A| files (for at most `max_items` items): when |B| > |A| (Horse→Zebra: 120
/// horses, 140 zebras) the B images past |A| overwrite the first ones, and when |B| < |A| B
/// images repeat. FID against this `real_B` is the number the official scripts report.
pub fn resave_test_pairs(
    source: &Path,
    target: &Path,
    real_a: &Path,
    real_b: &Path,
    size: Option<u32>,
    max_items: usize,
) -> Result<TestPairs, EvalError> {
    let a_files = image_files(source)?;
    let b_files = image_files(target)?;
    if a_files.is_empty() {
        return Err(enco_data::DataError::EmptyFolder(source.to_path_buf()).into());
    }
    if b_files.is_empty() {
        return Err(enco_data::DataError::EmptyFolder(target.to_path_buf()).into());
    }
    let transform = test_transform(size);
    create_dir(real_a)?;
    create_dir(real_b)?;
    let items = a_files.len().max(b_files.len()).min(max_items);
    let mut names = std::collections::BTreeSet::new();
    let mut overwritten = 0;
    for i in 0..items {
        let a = &a_files[i % a_files.len()];
        let name = PathBuf::from(png_name(a));
        if names.insert(name.clone()) {
            resave(a, &real_a.join(&name), &transform)?;
        } else {
            overwritten += 1;
        }
        resave(&b_files[i % b_files.len()], &real_b.join(&name), &transform)?;
    }
    Ok(TestPairs {
        items,
        real_a: names.len(),
        real_b: names.len(),
        overwritten,
    })
}
