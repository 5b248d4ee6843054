//! Checks of image files before any work: every file that cannot be read, is not an image of a
//! format this build decodes, or is too small for the transform, with the reason. The fast check
//! reads only the header (format and dimensions); the thorough one decodes every image.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::folder::is_image_file;
use crate::transform::{Preprocess, Transform};

/// A file that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadImage {
    /// The file.
    pub path: PathBuf,
    /// Why it cannot be used.
    pub reason: String,
}

impl std::fmt::Display for BadImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

/// How thoroughly [`check_image`] looks at a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckDepth {
    /// Format and dimensions from the header only (fast; a file truncated after its header
    /// passes).
    Header,
    /// A full decode of every image.
    Decode,
}

/// The smallest side the transform accepts: only a crop of the image as it is needs the crop
/// size; every other mode resizes first.
pub fn minimum_side(transform: &Transform) -> u32 {
    match transform.preprocess {
        Preprocess::Crop => transform.crop_size,
        _ => 1,
    }
}

/// Checks one image file: readable, of a format this build decodes, at least `min_side` on
/// both sides; returns its dimensions or the reason it cannot be used.
pub fn check_image(path: &Path, min_side: u32, depth: CheckDepth) -> Result<(u32, u32), String> {
    let reader = image::ImageReader::open(path)
        .map_err(|e| format!("unreadable: {e}"))?
        .with_guessed_format()
        .map_err(|e| format!("unreadable: {e}"))?;
    if reader.format().is_none() {
        return Err("not an image of a supported format (unknown content)".into());
    }
    let (w, h) = match depth {
        CheckDepth::Header => reader
            .into_dimensions()
            .map_err(|e| format!("unreadable header: {e}"))?,
        CheckDepth::Decode => {
            let image = reader.decode().map_err(|e| format!("cannot decode: {e}"))?;
            (image.width(), image.height())
        }
    };
    if w < min_side || h < min_side || w == 0 || h == 0 {
        return Err(format!(
            "too small: {w}×{h}, the transform needs at least {min_side}×{min_side}"
        ));
    }
    Ok((w, h))
}

/// Checks every image of `files`; returns the bad ones, in order.
pub fn check_images(files: &[PathBuf], min_side: u32, depth: CheckDepth) -> Vec<BadImage> {
    files
        .iter()
        .filter_map(|path| {
            check_image(path, min_side, depth)
                .err()
                .map(|reason| BadImage {
                    path: path.clone(),
                    reason,
                })
        })
        .collect()
}

/// The files below `dir` (recursively, sorted) that a data set would not read because their
/// extension is not one of a decodable image format; reported as unsupported.
pub fn unsupported_files(dir: &Path) -> Vec<BadImage> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let hidden = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if path.is_dir() {
                stack.push(path);
            } else if !hidden && !is_image_file(&path) {
                found.push(BadImage {
                    path,
                    reason: "unsupported: not the extension of an image format this build \
                             decodes (the file is ignored)"
                        .into(),
                });
            }
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}
