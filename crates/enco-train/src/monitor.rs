//! What a run leaves to watch it by: the JSON-lines logs (`losses.jsonl`, `eval.jsonl`) and the
//! loss-curve plot.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::TrainError;
use crate::model_config::ModelKind;
use crate::plot::{EpochMarks, PanelStyle, PlotPanel, draw_panels};

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
            let mut out = File::create(&tmp).map_err(|e| TrainError::output(&tmp, e))?;
            for record in &kept {
                let line =
                    serde_json::to_string(record).map_err(|e| TrainError::output(path, e))?;
                writeln!(out, "{line}").map_err(|e| TrainError::output(&tmp, e))?;
            }
            out.sync_all().map_err(|e| TrainError::output(&tmp, e))?;
        }
        std::fs::rename(&tmp, path).map_err(|e| TrainError::output(path, e))?;
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| TrainError::output(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            records: std::marker::PhantomData,
        })
    }

    /// Appends one record.
    pub fn append(&mut self, record: &T) -> Result<(), TrainError> {
        let line = serde_json::to_string(record).map_err(|e| TrainError::output(&self.path, e))?;
        writeln!(self.file, "{line}").map_err(|e| TrainError::output(&self.path, e))
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
    let file = File::open(path).map_err(|e| TrainError::output(path, e))?;
    let mut records = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| TrainError::output(path, e))?;
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

/// What the loss curves of a run show: one panel per loss (title, JSON field, colour), then the
/// learning-rate factor. The titles name each model's own terms (CUT's PatchNCE, CycleGAN's
/// cycle loss) stored under the shared field names of [`LossRecord`].
pub fn loss_panels(kind: Option<ModelKind>) -> Vec<(String, &'static str, (u8, u8, u8))> {
    let (d, gan, content, identity) = match kind {
        Some(ModelKind::Cut | ModelKind::FastCut) => (
            "discriminator loss_D (LSGAN)",
            "generator adversarial loss_G_GAN = λ_GAN·L_GAN",
            "PatchNCE loss_NCE = λ_NCE·L_PatchNCE(X)",
            "identity PatchNCE loss_NCE_Y = λ_NCE·L_PatchNCE(Y)",
        ),
        Some(ModelKind::CycleGan) => (
            "discriminators loss_D = D_A + D_B",
            "generators' adversarial loss_G_GAN = G_A + G_B",
            "cycle loss = λ_A·cycle_A + λ_B·cycle_B",
            "identity loss = idt_A + idt_B",
        ),
        Some(ModelKind::Enco) | None => (
            "discriminator loss_D (LSGAN)",
            "generator adversarial loss_G_GAN = λ_GAN·L_GAN",
            "content loss_EnCo = λ_NCE·L_EnCo",
            "identity loss_idt = λ_IDT·L_idt (first half of training)",
        ),
    };
    vec![
        (d.to_string(), "loss_D", (31, 119, 180)),
        (
            "generator objective loss_G (total)".to_string(),
            "loss_G",
            (140, 86, 75),
        ),
        (gan.to_string(), "loss_G_GAN", (255, 127, 14)),
        (content.to_string(), "loss_EnCo", (44, 160, 44)),
        (identity.to_string(), "loss_idt", (214, 39, 40)),
        (
            "learning-rate factor (linear decay)".to_string(),
            "lr_factor",
            (90, 90, 90),
        ),
    ]
}

impl LossRecord {
    /// The value of one field of the record by its JSON name (`loss_D`, `lr_factor`, …).
    pub fn field(&self, name: &str) -> Option<f64> {
        Some(match name {
            "loss_D" => self.loss_d as f64,
            "loss_G" => self.loss_g as f64,
            "loss_G_GAN" => self.loss_g_gan as f64,
            "loss_EnCo" => self.loss_enco as f64,
            "loss_idt" => self.loss_idt as f64,
            "lr_factor" => self.lr_factor,
            _ => return None,
        })
    }
}

/// The first iteration of each epoch in `records` (the marks of the plots' epoch axis).
pub fn epoch_starts(records: &[LossRecord]) -> EpochMarks {
    let mut marks: EpochMarks = Vec::new();
    for record in records {
        if marks.last().is_none_or(|&(_, epoch)| epoch != record.epoch) {
            marks.push((record.iteration.saturating_sub(1), record.epoch));
        }
    }
    marks
}

/// Draws the loss curves of a run as a PNG ([`loss_panels`] top to bottom): titled panels with
/// labelled axes (iteration, with the epochs marked), the raw values faintly and their moving
/// average, and the learning-rate factor last.
pub fn plot_loss_curves(
    records: &[LossRecord],
    kind: Option<ModelKind>,
    path: &Path,
) -> Result<(), TrainError> {
    let panels: Vec<PlotPanel> = loss_panels(kind)
        .into_iter()
        .map(|(title, field, colour)| PlotPanel {
            y_label: if field == "lr_factor" {
                "factor".into()
            } else {
                field.into()
            },
            title,
            colour,
            points: records
                .iter()
                .filter_map(|r| Some((r.iteration, r.field(field)?)))
                .collect(),
            style: if field == "lr_factor" {
                PanelStyle::Line
            } else {
                PanelStyle::RawAndSmoothed
            },
        })
        .collect();
    let x_max = records.last().map_or(1, |r| r.iteration.max(1));
    draw_panels(&panels, x_max, &epoch_starts(records), path)
}
