//! Finding the images of a folder (docs/reference.md §8.1).

use std::path::{Path, PathBuf};

use crate::error::DataError;

/// The official code's image extensions (compared case-insensitively). [`is_image_file`] takes
/// these and every other extension of a format the `image` crate decodes in this build (WebP,
/// GIF, TGA, QOI, HDR, EXR, …).
pub const IMAGE_EXTENSIONS: [&str; 7] = ["jpg", "jpeg", "png", "ppm", "bmp", "tif", "tiff"];

/// Whether `path` has the extension of an image format this build decodes.
pub fn is_image_file(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e))
            || image::ImageFormat::from_extension(e).is_some_and(|f| f.reading_enabled())
    })
}

/// All image files below `dir`, recursively, sorted by path (docs/reference.md §8.1). A missing folder or
/// one without images is an error naming it.
pub fn image_files(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    if !dir.is_dir() {
        return Err(DataError::MissingFolder(dir.to_path_buf()));
    }
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        let entries = std::fs::read_dir(&folder).map_err(|source| DataError::Io {
            path: folder.clone(),
            source,
        })?;
        for entry in entries {
            let path = entry
                .map_err(|source| DataError::Io {
                    path: folder.clone(),
                    source,
                })?
                .path();
            if path.is_dir() {
                stack.push(path);
            } else if is_image_file(&path) {
                files.push(path);
            }
        }
    }
    if files.is_empty() {
        return Err(DataError::EmptyFolder(dir.to_path_buf()));
    }
    files.sort();
    Ok(files)
}
