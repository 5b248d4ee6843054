//! Periodic evaluation during training (`--eval-every`): the current generator translates a test
//! folder, which is scored by FID against the official protocol's real set (docs/reference.md §9, §10)
//! and/or by PSNR/SSIM against exact targets. Scores go to `eval.jsonl` and `eval_curve.png`;
//! the best-scoring checkpoint is kept in `best/`, outside the rotation of the checkpoints.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use enco_data::Direction;
use enco_eval::fid::{FidInception, fid_between_folders};
use enco_eval::{
    OFFICIAL_NUM_TEST, paired_scores, resave_folder, resave_test_pairs, translate_folder,
};
use enco_nn::{EncoBackend, ResnetGenerator};
use serde::{Deserialize, Serialize};

use crate::error::TrainError;
use crate::monitor::{JsonLinesLog, LogRecord};
use crate::plot::{PanelStyle, PlotPanel, draw_panels};

/// The evaluation log of a run folder.
pub const EVAL_LOG_FILE: &str = "eval.jsonl";
/// The plot of the evaluation scores.
pub const EVAL_CURVE_FILE: &str = "eval_curve.png";
/// The folder of the best-scoring checkpoint.
pub const BEST_DIR: &str = "best";
/// Where the evaluation's images are written (`real_A`, `real_B`, `target`, `fake_B`).
pub const EVAL_DIR: &str = "eval";

/// What to evaluate and how often.
#[derive(Config, Debug)]
pub struct EvaluationConfig {
    /// Evaluate every this many iterations (and once more when training ends).
    pub every: u64,
    /// Images to translate (`None`: `dataroot/testA`, or `testB` when training B → A).
    #[config(default = "None")]
    pub input: Option<PathBuf>,
    /// Real target-domain images FID compares with, arranged as the official test protocol does
    /// (`None`: `dataroot/testB`, or `testA` when training B → A).
    #[config(default = "None")]
    pub fid_real: Option<PathBuf>,
    /// FID Inception weights (pytorch-fid's `.pth`, or its state_dict as `.safetensors`);
    /// without them no FID is computed.
    #[config(default = "None")]
    pub fid_weights: Option<PathBuf>,
    /// Exact targets of the input images (same file stems): adds PSNR and SSIM.
    #[config(default = "None")]
    pub paired_target: Option<PathBuf>,
    /// Test-time size: images are resized to size×size (bicubic) first, as the official test
    /// does; `None`: the training crop size.
    #[config(default = "None")]
    pub size: Option<u32>,
    /// Images per Inception batch.
    #[config(default = 50)]
    pub fid_batch_size: usize,
}

impl EvaluationConfig {
    /// Checks the options (files are checked when the run starts).
    pub fn validate(&self) -> Result<(), TrainError> {
        let invalid = |option, reason: &str| TrainError::InvalidOption {
            option,
            reason: reason.into(),
        };
        if self.every == 0 {
            return Err(invalid("evaluation.eval_every", "must be at least 1"));
        }
        if self.fid_weights.is_none() && self.paired_target.is_none() {
            return Err(invalid(
                "evaluation.fid_weights",
                "periodic evaluation needs FID weights or a paired target folder to score with",
            ));
        }
        if self.fid_batch_size == 0 || self.size == Some(0) {
            return Err(invalid(
                "evaluation.eval_size",
                "sizes and batch sizes must be at least 1",
            ));
        }
        Ok(())
    }
}

/// One line of `eval.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// Iterations trained when the scores were taken.
    pub iteration: u64,
    /// The epoch then.
    pub epoch: usize,
    /// Images translated.
    pub images: usize,
    /// FID against the real set (lower is better).
    pub fid: Option<f64>,
    /// Mean PSNR against the paired targets, in dB.
    pub psnr: Option<f64>,
    /// Mean SSIM against the paired targets.
    pub ssim: Option<f64>,
    /// Whether this evaluation is the best so far (its checkpoint is in `best/`).
    pub best: bool,
}

impl LogRecord for EvalRecord {
    fn iteration(&self) -> u64 {
        self.iteration
    }
}

impl EvalRecord {
    /// The score that ranks evaluations, higher is better: −FID when FID was computed, else
    /// PSNR.
    pub fn score(&self) -> Option<f64> {
        self.fid.map(|f| -f).or(self.psnr)
    }
}

/// The evaluation of a running [`TrainingRun`](crate::TrainingRun): the scorer, the folders and
/// the log.
pub struct Evaluator<B: EncoBackend> {
    config: EvaluationConfig,
    input: PathBuf,
    fid_real: PathBuf,
    size: Option<u32>,
    dir: PathBuf,
    fid: Option<FidInception<B>>,
    prepared: bool,
    log: JsonLinesLog<EvalRecord>,
    curve: PathBuf,
    best: Option<f64>,
}

impl<B: EncoBackend> Evaluator<B> {
    /// Prepares the evaluation of a run writing to `output`: loads the FID weights, and opens
    /// `eval.jsonl` keeping the records up to `keep_through` (a resumed run's position).
    pub fn new(
        config: &EvaluationConfig,
        dataroot: &Path,
        direction: Direction,
        crop_size: u32,
        output: &Path,
        keep_through: u64,
        device: &B::Device,
    ) -> Result<Self, TrainError> {
        config.validate()?;
        let (src, tgt) = match direction {
            Direction::AtoB => ("testA", "testB"),
            Direction::BtoA => ("testB", "testA"),
        };
        let fid = match &config.fid_weights {
            Some(path) => {
                let is_pth = path.extension().is_some_and(|e| e == "pth" || e == "pt");
                Some(if is_pth {
                    FidInception::load_pth(path, device)?
                } else {
                    FidInception::load_safetensors(path, device)?
                })
            }
            None => None,
        };
        let log = JsonLinesLog::open(&output.join(EVAL_LOG_FILE), keep_through)?;
        let best = log
            .read()?
            .iter()
            .filter_map(EvalRecord::score)
            .filter(|s| s.is_finite())
            .reduce(f64::max);
        Ok(Self {
            input: config.input.clone().unwrap_or_else(|| dataroot.join(src)),
            fid_real: config
                .fid_real
                .clone()
                .unwrap_or_else(|| dataroot.join(tgt)),
            size: Some(config.size.unwrap_or(crop_size)),
            dir: output.join(EVAL_DIR),
            config: config.clone(),
            fid,
            prepared: false,
            log,
            curve: output.join(EVAL_CURVE_FILE),
            best,
        })
    }

    /// Whether to evaluate after `iteration`.
    pub fn due(&self, iteration: u64) -> bool {
        iteration.is_multiple_of(self.config.every)
    }

    /// Translates the input with `generator`, scores it, appends the record to `eval.jsonl`
    /// and redraws `eval_curve.png`. The record says whether it is the best so far.
    pub fn evaluate(
        &mut self,
        generator: &ResnetGenerator<B>,
        iteration: u64,
        epoch: usize,
        device: &B::Device,
    ) -> Result<EvalRecord, TrainError> {
        let real_a = self.dir.join("real_A");
        let real_b = self.dir.join("real_B");
        let target = self.dir.join("target");
        if !self.prepared {
            for dir in [&real_a, &real_b, &target] {
                if dir.exists() {
                    std::fs::remove_dir_all(dir).map_err(|e| TrainError::output(dir, e))?;
                }
            }
            if self.fid.is_some() {
                resave_test_pairs(
                    &self.input,
                    &self.fid_real,
                    &real_a,
                    &real_b,
                    self.size,
                    OFFICIAL_NUM_TEST,
                )?;
            } else {
                resave_folder(&self.input, &real_a, self.size)?;
            }
            if let Some(paired) = &self.config.paired_target {
                resave_folder(paired, &target, self.size)?;
            }
            self.prepared = true;
        }
        let fake_b = self.dir.join("fake_B");
        if fake_b.exists() {
            std::fs::remove_dir_all(&fake_b).map_err(|e| TrainError::output(&fake_b, e))?;
        }
        let images = translate_folder(generator, &real_a, &fake_b, 4, device, |_, _| {})?.len();
        let fid = match &self.fid {
            Some(model) => Some(
                fid_between_folders(
                    &fake_b,
                    &real_b,
                    model,
                    self.config.fid_batch_size,
                    device,
                    |_, _| {},
                )?
                .fid,
            ),
            None => None,
        };
        let paired = match &self.config.paired_target {
            Some(_) => Some(paired_scores(&fake_b, &target)?),
            None => None,
        };
        let mut record = EvalRecord {
            iteration,
            epoch,
            images,
            fid,
            psnr: paired.map(|p| p.psnr),
            ssim: paired.map(|p| p.ssim),
            best: false,
        };
        if let Some(score) = record.score().filter(|s| s.is_finite())
            && self.best.is_none_or(|best| score > best)
        {
            self.best = Some(score);
            record.best = true;
        }
        self.log.append(&record)?;
        self.plot()?;
        Ok(record)
    }

    /// Redraws `eval_curve.png`: one panel per score that was computed (FID, PSNR, SSIM).
    fn plot(&self) -> Result<(), TrainError> {
        plot_eval_curves(&self.log.read()?, &self.curve)
    }
}

/// Draws the evaluation scores of a run as a PNG: one titled panel per score that was computed
/// (FID, PSNR, SSIM), against the iteration.
pub fn plot_eval_curves(records: &[EvalRecord], path: &Path) -> Result<(), TrainError> {
    let series = |f: fn(&EvalRecord) -> Option<f64>| -> Vec<(u64, f64)> {
        records
            .iter()
            .filter_map(|r| f(r).map(|v| (r.iteration, v)))
            .collect()
    };
    let panels: Vec<PlotPanel> = [
        (
            "FID against the real set (lower is better)",
            "FID",
            series(|r| r.fid),
            (148, 103, 189),
        ),
        (
            "PSNR against the paired targets (higher is better)",
            "PSNR (dB)",
            series(|r| r.psnr),
            (23, 190, 207),
        ),
        (
            "SSIM against the paired targets (higher is better)",
            "SSIM",
            series(|r| r.ssim),
            (188, 189, 34),
        ),
    ]
    .into_iter()
    .filter(|(_, _, points, _)| !points.is_empty())
    .map(|(title, y_label, points, colour)| PlotPanel {
        title: title.into(),
        y_label: y_label.into(),
        colour,
        points,
        style: PanelStyle::Points,
    })
    .collect();
    let x_max = records.last().map_or(1, |r| r.iteration);
    draw_panels(&panels, x_max, &[], path)
}
