//! Translating images of any size with a trained generator.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::tensor::ops::PadMode;
use enco_data::image::RgbImage;
use enco_data::{data_to_image, image_files, image_to_data, load_rgb, save_rgb};
use enco_nn::EncoBackend;
use enco_nn::ResnetGenerator;

use crate::error::EvalError;

/// Translates one image of any size: reflect-pads it to a multiple of 4 (at least 8) on the
/// right and bottom, runs the generator, and crops the result back to the input size, so
/// nothing is resized away.
pub fn translate_image<B: EncoBackend>(
    generator: &ResnetGenerator<B>,
    image: &RgbImage,
    device: &B::Device,
) -> Result<RgbImage, EvalError> {
    let mut out = translate_batch(generator, std::slice::from_ref(image), device)?;
    Ok(out.remove(0))
}

/// Translates a batch of images of one size in a single generator call (padding and cropping
/// as [`translate_image`]). An empty slice gives an empty result.
pub fn translate_batch<B: EncoBackend>(
    generator: &ResnetGenerator<B>,
    images: &[RgbImage],
    device: &B::Device,
) -> Result<Vec<RgbImage>, EvalError> {
    let Some(first) = images.first() else {
        return Ok(Vec::new());
    };
    let size = first.dimensions();
    if let Some(other) = images.iter().find(|i| i.dimensions() != size) {
        return Err(EvalError::SizeMismatch(size, other.dimensions()));
    }
    let (w, h) = (size.0 as usize, size.1 as usize);
    let n = images.len();
    let x = Tensor::cat(
        images
            .iter()
            .map(|image| Tensor::<B, 3>::from_data(image_to_data(image), device).unsqueeze_dim(0))
            .collect(),
        0,
    );
    let target = |n: usize| n.next_multiple_of(4).max(8);
    let (pw, ph) = (target(w) - w, target(h) - h);
    // Reflect padding needs pad < size; replicate beyond that (tiny images).
    let x = if pw < w && ph < h {
        x.pad((0, pw, 0, ph), PadMode::Reflect)
    } else {
        x.pad((0, pw, 0, ph), PadMode::Edge)
    };
    let y = generator.forward(x)?.slice([0..n, 0..3, 0..h, 0..w]);
    let values = y.into_data().convert::<f32>().into_vec::<f32>()?;
    Ok(values
        .chunks_exact(3 * h * w)
        .map(|chunk| data_to_image(chunk, 3, h, w))
        .collect())
}

/// What a translation does with output files that already exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExistingOutputs {
    /// Refuse before writing anything, naming them.
    Refuse,
    /// Replace them.
    Overwrite,
}

/// The output file of every input file: its path relative to `input`, under `output`, as PNG.
/// Two inputs of one stem in one folder (`x.bmp`, `x.tiff`) keep their extension in the name
/// (`x.bmp.png`, `x.tiff.png`) so neither overwrites the other. An output that would be an input
/// file is an error, as are existing outputs under [`ExistingOutputs::Refuse`]; both are found
/// before anything is written.
pub fn output_paths(
    files: &[PathBuf],
    input: &Path,
    output: &Path,
    existing: ExistingOutputs,
) -> Result<Vec<PathBuf>, EvalError> {
    let plain: Vec<PathBuf> = files
        .iter()
        .map(|file| {
            output
                .join(file.strip_prefix(input).unwrap_or(file))
                .with_extension("png")
        })
        .collect();
    let targets: Vec<PathBuf> = files
        .iter()
        .zip(&plain)
        .map(|(file, target)| {
            let shared = plain.iter().filter(|t| *t == target).count() > 1;
            if shared {
                let name = file.file_name().unwrap_or_default().to_string_lossy();
                target.with_file_name(format!("{name}.png"))
            } else {
                target.clone()
            }
        })
        .collect();
    // Each path resolved once: an output that is an input file is refused.
    let resolved = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let inputs: std::collections::HashSet<PathBuf> = files.iter().map(|f| resolved(f)).collect();
    let mut seen = std::collections::HashSet::new();
    for target in &targets {
        if inputs.contains(&resolved(target)) {
            return Err(EvalError::WouldOverwriteInput(target.clone()));
        }
        // A renamed output can still meet another file's name (`x.jpg` → `x.jpg.png` next to
        // an input `x.jpg.png`): refused rather than written twice.
        if !seen.insert(target.clone()) {
            return Err(EvalError::DuplicateOutput(target.clone()));
        }
    }
    if existing == ExistingOutputs::Refuse {
        let present: Vec<&PathBuf> = targets.iter().filter(|t| t.exists()).collect();
        if let Some(first) = present.first() {
            return Err(EvalError::OutputExists {
                count: present.len(),
                first: (*first).clone(),
            });
        }
    }
    Ok(targets)
}

/// Translates every image below `input` (recursively, sorted) into `output`, keeping relative
/// paths and writing PNG (names by [`output_paths`]; existing outputs are replaced); consecutive
/// images of one size go through the generator together, up to `batch_size` at a time.
/// `on_image` is called with (done, total) after each batch. Returns the written files.
///
/// The images are decoded on a thread of their own, a batch ahead of the generator, and the
/// translated ones are written (PNG encoding included) on another, a batch behind, so that the
/// generator (on all cores on the CPU) does not wait for either. When an image cannot be read,
/// the images before it are still translated and written before the error is returned.
pub fn translate_folder<B: EncoBackend>(
    generator: &ResnetGenerator<B>,
    input: &Path,
    output: &Path,
    batch_size: usize,
    device: &B::Device,
    on_image: impl FnMut(usize, usize),
) -> Result<Vec<PathBuf>, EvalError> {
    translate_folder_to(
        generator,
        input,
        output,
        batch_size,
        ExistingOutputs::Overwrite,
        device,
        on_image,
    )
}

/// Output paths and images of one batch, in order.
type Batch = (Vec<PathBuf>, Vec<RgbImage>);

/// [`translate_folder`] with a choice for existing outputs.
pub fn translate_folder_to<B: EncoBackend>(
    generator: &ResnetGenerator<B>,
    input: &Path,
    output: &Path,
    batch_size: usize,
    existing: ExistingOutputs,
    device: &B::Device,
    mut on_image: impl FnMut(usize, usize),
) -> Result<Vec<PathBuf>, EvalError> {
    let files = image_files(input)?;
    let targets = output_paths(&files, input, output, existing)?;
    let batch_size = batch_size.max(1);
    let total = files.len();
    let files = &files;
    std::thread::scope(|scope| {
        let (to_generator, batches) = std::sync::mpsc::sync_channel(1);
        scope.spawn(move || {
            read_batches(files, targets, batch_size, |batch| {
                to_generator.send(batch).is_ok()
            })
        });
        let (to_writer, translated) = std::sync::mpsc::sync_channel::<Batch>(1);
        let writer = scope.spawn(move || write_batches(translated));
        let mut failure = None;
        let mut done = 0;
        // Ending the loop drops the receiver, which stops the reading thread at its next batch.
        for batch in batches {
            let result = batch.and_then(|(targets, images)| {
                Ok((targets, translate_batch(generator, &images, device)?))
            });
            match result {
                Ok(batch) => {
                    let n = batch.0.len();
                    // A failed send: the writer stopped on an error, which its result holds.
                    if to_writer.send(batch).is_err() {
                        break;
                    }
                    done += n;
                    on_image(done, total);
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        drop(to_writer);
        let written = match writer.join() {
            Ok(written) => written?,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        failure.map_or(Ok(written), Err)
    })
}

/// Reads `files` and hands them on in batches of at most `batch_size` consecutive images of one
/// size, each with its output paths (`targets`, in the same order), to `send`; a read error is
/// handed on after the batch of the images before it, and ends the work, as does `send`
/// returning false.
fn read_batches(
    files: &[PathBuf],
    targets: Vec<PathBuf>,
    batch_size: usize,
    mut send: impl FnMut(Result<Batch, EvalError>) -> bool,
) {
    let mut pending: Batch = (Vec::new(), Vec::new());
    for (file, target) in files.iter().zip(targets) {
        let image = match load_rgb(file) {
            Ok(image) => image,
            Err(e) => {
                if !pending.0.is_empty() && !send(Ok(std::mem::take(&mut pending))) {
                    return;
                }
                send(Err(e.into()));
                return;
            }
        };
        let same_size = pending
            .1
            .first()
            .is_none_or(|first| first.dimensions() == image.dimensions());
        if (!same_size || pending.0.len() == batch_size) && !send(Ok(std::mem::take(&mut pending)))
        {
            return;
        }
        pending.0.push(target);
        pending.1.push(image);
    }
    if !pending.0.is_empty() {
        send(Ok(pending));
    }
}

/// Writes every translated batch it receives as PNG (creating folders as needed); returns the
/// written files, or the first error (and then stops receiving).
fn write_batches(batches: std::sync::mpsc::Receiver<Batch>) -> Result<Vec<PathBuf>, EvalError> {
    let mut written = Vec::new();
    for (targets, images) in batches {
        for (target, image) in targets.into_iter().zip(images) {
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(|source| enco_data::DataError::Io {
                    path: parent.to_path_buf(),
                    source,
                })?;
            }
            save_rgb(&image, &target)?;
            written.push(target);
        }
    }
    Ok(written)
}
