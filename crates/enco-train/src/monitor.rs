//! What a run leaves to watch it by: the loss log (`losses.jsonl`), the loss-curve PNG and the
//! sample grids (real A | fake B | real B | idt B).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use burn::prelude::*;
use enco_data::image::{RgbImage, imageops};
use enco_nn::EncoBackend;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::TrainError;
use crate::run::StepReport;

/// One line of `losses.jsonl`: the position and the losses of one iteration (names as the
/// official visualiser prints them).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossRecord {
    /// Iterations trained so far, this one included.
    pub iteration: u64,
    /// 1-based epoch.
    pub epoch: usize,
    /// 1-based batch within the epoch.
    pub batch: usize,
    /// Learning-rate factor of the epoch.
    pub lr_factor: f64,
    /// Discriminator loss.
    #[serde(rename = "loss_D")]
    pub loss_d: f32,
    /// Total generator objective.
    #[serde(rename = "loss_G")]
    pub loss_g: f32,
    /// λ_GAN·L_GAN.
    #[serde(rename = "loss_G_GAN")]
    pub loss_g_gan: f32,
    /// λ_NCE·L_EnCo.
    #[serde(rename = "loss_EnCo")]
    pub loss_enco: f32,
    /// λ_IDT·L_idt.
    #[serde(rename = "loss_idt")]
    pub loss_idt: f32,
}

impl From<&StepReport> for LossRecord {
    fn from(r: &StepReport) -> Self {
        Self {
            iteration: r.iteration,
            epoch: r.epoch,
            batch: r.batch,
            lr_factor: r.lr_factor,
            loss_d: r.losses.d,
            loss_g: r.losses.g,
            loss_g_gan: r.losses.g_gan,
            loss_enco: r.losses.content,
            loss_idt: r.losses.identity,
        }
    }
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Output(format!("{}: {e}", path.display()))
}

/// A record of a JSON-lines log of the run, positioned by its iteration.
pub trait LogRecord: Serialize + serde::de::DeserializeOwned {
    /// The iteration the record belongs to.
    fn iteration(&self) -> u64;
}

impl LogRecord for LossRecord {
    fn iteration(&self) -> u64 {
        self.iteration
    }
}

/// An append-only JSON-lines log (`losses.jsonl`, `eval.jsonl`). On resume it drops the lines
/// written after the checkpoint being resumed, so the log reads as one uninterrupted run.
#[derive(Debug)]
pub struct JsonLinesLog<T> {
    path: PathBuf,
    file: File,
    records: std::marker::PhantomData<T>,
}

/// The loss log, `losses.jsonl`.
pub type LossLog = JsonLinesLog<LossRecord>;

impl<T: LogRecord> JsonLinesLog<T> {
    /// Opens (or creates) the log at `path`, keeping only the records with
    /// `iteration <= keep_through`.
    pub fn open(path: &Path, keep_through: u64) -> Result<Self, TrainError> {
        let kept = if path.exists() {
            read_json_lines::<T>(path)?
                .into_iter()
                .filter(|r| r.iteration() <= keep_through)
                .collect()
        } else {
            Vec::new()
        };
        let tmp = path.with_extension("jsonl.tmp");
        {
            let mut out = File::create(&tmp).map_err(|e| io_error(&tmp, e))?;
            for record in &kept {
                let line = serde_json::to_string(record).map_err(|e| io_error(path, e))?;
                writeln!(out, "{line}").map_err(|e| io_error(&tmp, e))?;
            }
            out.sync_all().map_err(|e| io_error(&tmp, e))?;
        }
        std::fs::rename(&tmp, path).map_err(|e| io_error(path, e))?;
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| io_error(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            records: std::marker::PhantomData,
        })
    }

    /// Appends one record.
    pub fn append(&mut self, record: &T) -> Result<(), TrainError> {
        let line = serde_json::to_string(record).map_err(|e| io_error(&self.path, e))?;
        writeln!(self.file, "{line}").map_err(|e| io_error(&self.path, e))
    }

    /// Where the log is written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every record written so far.
    pub fn read(&self) -> Result<Vec<T>, TrainError> {
        read_json_lines(&self.path)
    }
}

/// Reads a JSON-lines log (a torn last line, from a crash mid-write, is skipped).
pub fn read_json_lines<T: LogRecord>(path: &Path) -> Result<Vec<T>, TrainError> {
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let mut records = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| io_error(path, e))?;
        if let Ok(record) = serde_json::from_str::<T>(&line) {
            records.push(record);
        }
    }
    Ok(records)
}

/// Reads a `losses.jsonl` file (a torn last line, from a crash mid-write, is skipped).
pub fn read_loss_log(path: &Path) -> Result<Vec<LossRecord>, TrainError> {
    read_json_lines(path)
}

/// The series drawn by [`plot_loss_curves`], top panel first, with their colours.
pub const LOSS_CURVE_PANELS: [(&str, (u8, u8, u8)); 4] = [
    ("loss_D", (31, 119, 180)),
    ("loss_G_GAN", (255, 127, 14)),
    ("loss_EnCo", (44, 160, 44)),
    ("loss_idt", (214, 39, 40)),
];

/// Draws the loss curves as a PNG: one panel per loss of [`LOSS_CURVE_PANELS`] (top to bottom),
/// x = iteration, each panel scaled to its own range, with a moving average (window 1 % of the
/// run, at least 1) over the raw values drawn faintly.
pub fn plot_loss_curves(records: &[LossRecord], path: &Path) -> Result<(), TrainError> {
    let panels: Vec<Panel> = LOSS_CURVE_PANELS
        .iter()
        .map(|&(name, colour)| {
            let values = records
                .iter()
                .map(|rec| {
                    let v = match name {
                        "loss_D" => rec.loss_d,
                        "loss_G_GAN" => rec.loss_g_gan,
                        "loss_EnCo" => rec.loss_enco,
                        _ => rec.loss_idt,
                    };
                    (rec.iteration, v)
                })
                .collect();
            (values, colour)
        })
        .collect();
    let x_max = records.last().map_or(1, |r| r.iteration.max(1));
    plot_panels(&panels, x_max, path)
}

/// One panel of [`plot_panels`]: its (iteration, value) points and its colour.
pub(crate) type Panel = (Vec<(u64, f32)>, (u8, u8, u8));

/// Draws one panel per series (top to bottom) as a PNG, x = iteration up to `x_max`, each panel
/// scaled to its own range; the raw values faintly, their moving average (window 1 % of the
/// points, at least 1) in full colour. Non-finite values are left out.
pub(crate) fn plot_panels(panels: &[Panel], x_max: u64, path: &Path) -> Result<(), TrainError> {
    const WIDTH: u32 = 800;
    const PANEL: u32 = 160;
    let height = PANEL * panels.len().max(1) as u32;
    let mut buffer = vec![0u8; (WIDTH * height * 3) as usize];
    let plot_error = |e: &dyn std::fmt::Display| io_error(path, e);
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_error(&e))?;
        let areas = root.split_evenly((panels.len().max(1), 1));
        for (area, (series, (r, g, b))) in areas.iter().zip(panels) {
            let values: Vec<(u64, f32)> = series
                .iter()
                .copied()
                .filter(|(_, v)| v.is_finite())
                .collect();
            let window = (values.len() / 100).max(1);
            let (lo, hi) = values
                .iter()
                .fold((f32::MAX, f32::MIN), |(lo, hi), &(_, v)| {
                    (lo.min(v), hi.max(v))
                });
            let (lo, hi) = if lo > hi {
                (0.0, 1.0)
            } else if hi - lo < 1e-6 {
                (lo - 0.5, hi + 0.5)
            } else {
                (lo, hi)
            };
            let colour = RGBColor(*r, *g, *b);
            let mut chart = ChartBuilder::on(area)
                .margin(8)
                .build_cartesian_2d(0u64..x_max.max(1), lo..hi)
                .map_err(|e| plot_error(&e))?;
            chart
                .plotting_area()
                .fill(&RGBColor(246, 246, 246))
                .map_err(|e| plot_error(&e))?;
            chart
                .draw_series(LineSeries::new(values.iter().copied(), colour.mix(0.25)))
                .map_err(|e| plot_error(&e))?;
            let smooth: Vec<(u64, f32)> = values
                .windows(window)
                .map(|w| {
                    let mean = w.iter().map(|(_, v)| v).sum::<f32>() / w.len() as f32;
                    (w[w.len() - 1].0, mean)
                })
                .collect();
            chart
                .draw_series(LineSeries::new(smooth, colour.stroke_width(2)))
                .map_err(|e| plot_error(&e))?;
        }
        root.present().map_err(|e| plot_error(&e))?;
    }
    let image = RgbImage::from_raw(WIDTH, height, buffer)
        .ok_or_else(|| io_error(path, "plot buffer of the wrong size"))?;
    save_atomically(&image, path)
}

/// Saves a PNG through a temporary file and a rename, so a crash never leaves half an image.
fn save_atomically(image: &RgbImage, path: &Path) -> Result<(), TrainError> {
    let tmp = path.with_extension("tmp.png");
    enco_data::save_rgb(image, &tmp)?;
    std::fs::rename(&tmp, path).map_err(|e| io_error(path, e))
}

/// Builds a sample grid: one row per batch item, columns real A | fake B | real B | idt B
/// (the identity column only when `idt_b` is given). Tensors are `[N, 3, H, W]` in [-1, 1];
/// tensors of different shapes are an error.
pub fn sample_grid<B: EncoBackend>(
    real_a: Tensor<B, 4>,
    fake_b: Tensor<B, 4>,
    real_b: Tensor<B, 4>,
    idt_b: Option<Tensor<B, 4>>,
) -> Result<RgbImage, TrainError> {
    let [n, _, h, w] = real_a.dims();
    let mut columns = vec![real_a, fake_b, real_b];
    columns.extend(idt_b);
    let mut grid = RgbImage::new((w * columns.len()) as u32, (h * n) as u32);
    for (col, tensor) in columns.into_iter().enumerate() {
        if tensor.dims() != [n, 3, h, w] {
            return Err(TrainError::Output(format!(
                "sample grid column {col} is {:?}, expected {:?}",
                tensor.dims(),
                [n, 3, h, w]
            )));
        }
        let values = tensor
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .map_err(|e| TrainError::Output(format!("sample grid: {e:?}")))?;
        for row in 0..n {
            let start = row * 3 * h * w;
            let tile = enco_data::data_to_image(&values[start..start + 3 * h * w], 3, h, w);
            imageops::replace(&mut grid, &tile, (col * w) as i64, (row * h) as i64);
        }
    }
    Ok(grid)
}

/// Saves a sample grid as `dir/iter_NNNNNNNNNN.png` (atomically); returns the path.
pub fn save_sample_grid(
    grid: &RgbImage,
    dir: &Path,
    iteration: u64,
) -> Result<PathBuf, TrainError> {
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    let path = dir.join(format!("iter_{iteration:010}.png"));
    save_atomically(grid, &path)?;
    Ok(path)
}
