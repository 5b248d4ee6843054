//! `report.html`: one static page per run folder, the counterpart of the official code's
//! `web/index.html`: progress, the loss and evaluation plots, the evaluation table, the sample
//! grids newest first, links to the checkpoints and the resolved configuration. It opens from the
//! file system (no server, no script, no external resource) and is rewritten atomically whenever
//! the run writes a sample grid, a checkpoint or an evaluation; [`regenerate_report`] rebuilds it
//! (and the plots) from the logs of any run folder.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::TrainError;
use crate::evaluation::{BEST_DIR, EVAL_CURVE_FILE, EVAL_LOG_FILE, EvalRecord, plot_eval_curves};
use crate::model_config::ModelKind;
use crate::monitor::{LossRecord, loss_panels, plot_loss_curves, read_json_lines};
use crate::plot::{moving_average, smoothing_window};
use crate::run::{
    BAD_IMAGES_FILE, CONFIG_FILE, LOSS_CURVE_FILE, LOSS_LOG_FILE, SAMPLES_DIR, SNAPSHOTS_DIR,
    TrainingConfig,
};
use crate::sample_grid::sample_iteration;

/// The report page of a run, inside its output folder.
pub const REPORT_FILE: &str = "report.html";
/// How often a page written while the run trains reloads itself, in seconds.
pub const LIVE_RELOAD_SECONDS: u32 = 60;
const CHECKPOINTS_DIR: &str = "checkpoints";

/// Whether a report is written by a run still training (the page then reloads itself every
/// [`LIVE_RELOAD_SECONDS`]) or of a run at rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportState {
    /// The run is training.
    Training,
    /// The run is not training (finished, stopped, or a report rebuilt afterwards).
    AtRest,
}

/// What a report is made of, read from a run folder.
#[derive(Debug, Clone)]
pub struct RunLogs {
    /// The run folder.
    pub run: PathBuf,
    /// The raw text of `training.json`, if present.
    pub config_text: Option<String>,
    /// `training.json` parsed, if it parses.
    pub config: Option<TrainingConfig>,
    /// `losses.jsonl`.
    pub losses: Vec<LossRecord>,
    /// `eval.jsonl`.
    pub evaluations: Vec<EvalRecord>,
    /// The sample grids (`samples/iter_N.png`): iteration and file name, newest first.
    pub samples: Vec<(u64, String)>,
    /// The checkpoints (`checkpoints/iter_N`), newest first.
    pub checkpoints: Vec<String>,
    /// The epoch snapshots (`snapshots/epoch_N`), newest first.
    pub snapshots: Vec<String>,
    /// Whether `best/` exists.
    pub has_best: bool,
    /// Whether `bad_images.txt` exists.
    pub has_bad_images: bool,
}

/// The names of the entries of `dir` that satisfy `keep`, sorted by name, newest (largest) first.
fn entries_newest_first(dir: &Path, keep: impl Fn(&str, &Path) -> bool) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            keep(&name, &e.path()).then_some(name)
        })
        .collect();
    names.sort_unstable_by(|a, b| b.cmp(a));
    names
}

impl RunLogs {
    /// Reads the logs, the configuration and the lists of samples and checkpoints of `run`. A
    /// folder that holds neither `training.json` nor `losses.jsonl` is not a run and is an error.
    pub fn read(run: &Path) -> Result<Self, TrainError> {
        let config_path = run.join(CONFIG_FILE);
        let loss_path = run.join(LOSS_LOG_FILE);
        if !config_path.is_file() && !loss_path.is_file() {
            return Err(TrainError::RunFolder(format!(
                "{} is not a run folder (it has neither {CONFIG_FILE} nor {LOSS_LOG_FILE})",
                run.display()
            )));
        }
        let config_text = std::fs::read_to_string(&config_path).ok();
        let config = config_text
            .as_ref()
            .and_then(|_| TrainingConfig::load_file(&config_path).ok());
        let losses = if loss_path.is_file() {
            read_json_lines(&loss_path)?
        } else {
            Vec::new()
        };
        let eval_path = run.join(EVAL_LOG_FILE);
        let evaluations = if eval_path.is_file() {
            read_json_lines(&eval_path)?
        } else {
            Vec::new()
        };
        let mut samples: Vec<(u64, String)> =
            entries_newest_first(&run.join(SAMPLES_DIR), |name, _| {
                sample_iteration(name).is_some()
            })
            .into_iter()
            .filter_map(|name| Some((sample_iteration(&name)?, name)))
            .collect();
        samples.sort_unstable_by_key(|s| std::cmp::Reverse(s.0));
        let is_dir_with = |prefix: &'static str| {
            move |name: &str, path: &Path| name.starts_with(prefix) && path.is_dir()
        };
        Ok(Self {
            run: run.to_path_buf(),
            config_text,
            config,
            losses,
            evaluations,
            samples,
            checkpoints: entries_newest_first(&run.join(CHECKPOINTS_DIR), is_dir_with("iter_")),
            snapshots: entries_newest_first(&run.join(SNAPSHOTS_DIR), is_dir_with("epoch_")),
            has_best: run.join(BEST_DIR).is_dir(),
            has_bad_images: run.join(BAD_IMAGES_FILE).is_file(),
        })
    }

    /// The model of the run, when its configuration could be read.
    pub fn model_kind(&self) -> Option<ModelKind> {
        self.config.as_ref().map(|c| c.model.kind())
    }

    /// The epoch an iteration belongs to, from the loss log.
    fn epoch_of(&self, iteration: u64) -> Option<usize> {
        let i = self.losses.partition_point(|r| r.iteration < iteration);
        self.losses
            .get(i)
            .filter(|r| r.iteration == iteration)
            .map(|r| r.epoch)
    }
}

/// Escapes text for HTML content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A relative link to a file of the run folder (each path segment percent-escaped as needed).
fn href(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' | b'~' => {
                out.push(b as char)
            }
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

fn format_score(v: Option<f64>, decimals: usize) -> String {
    v.filter(|v| v.is_finite())
        .map_or_else(|| "–".into(), |v| format!("{v:.decimals$}"))
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'DejaVu Sans',sans-serif;\
margin:0 auto;max-width:1100px;padding:0 16px 48px;color:#222;background:#fff}\
h1{margin:20px 0 4px;font-size:26px}h2{margin-top:34px;border-bottom:1px solid #ddd;\
padding-bottom:4px;font-size:20px}nav a{margin-right:14px}.muted{color:#666}\
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ddd;padding:4px 10px;\
text-align:right}th{background:#f4f4f4}td.name,th.name{text-align:left}tr.best td{font-weight:bold;\
background:#f2fbf2}img{max-width:100%;height:auto}figure{margin:18px 0}figure img{\
image-rendering:pixelated;border:1px solid #ccc}figcaption{color:#444;margin-top:4px}\
pre{background:#f7f7f7;border:1px solid #e4e4e4;padding:10px;overflow:auto;font-size:13px}\
ul.links{columns:3}";

/// The report page of `logs` as HTML (well-formed XHTML-compatible HTML5).
pub fn report_html(logs: &RunLogs, state: ReportState) -> String {
    let name = logs
        .run
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| logs.run.display().to_string());
    let last = logs.losses.last();
    let version = last.map_or(0, |r| r.iteration);
    let mut page = String::new();
    let w = &mut page;
    let _ = writeln!(w, "<!DOCTYPE html>");
    let _ = writeln!(w, "<html lang=\"en\">");
    let _ = writeln!(w, "<head>");
    let _ = writeln!(w, "<meta charset=\"utf-8\"/>");
    if state == ReportState::Training {
        let _ = writeln!(
            w,
            "<meta http-equiv=\"refresh\" content=\"{LIVE_RELOAD_SECONDS}\"/>"
        );
    }
    let _ = writeln!(
        w,
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>"
    );
    let _ = writeln!(w, "<title>{} · enco run</title>", escape_html(&name));
    let _ = writeln!(w, "<style>{STYLE}</style>");
    let _ = writeln!(w, "</head>");
    let _ = writeln!(w, "<body>");
    let _ = writeln!(w, "<h1>{}</h1>", escape_html(&name));
    let folder = std::fs::canonicalize(&logs.run).unwrap_or_else(|_| logs.run.clone());
    let _ = writeln!(
        w,
        "<p class=\"muted\">run folder <code>{}</code></p>",
        escape_html(&folder.display().to_string())
    );

    // Progress.
    let model = logs
        .config
        .as_ref()
        .map(|c| c.model.kind().name().to_string())
        .unwrap_or_else(|| "unknown model".into());
    let epochs = logs.config.as_ref().map(|c| c.n_epochs + c.n_epochs_decay);
    let progress = match (last, epochs) {
        (Some(r), Some(total)) => format!(
            "iteration {} · epoch {} of {total} · learning-rate factor {:.3}",
            r.iteration, r.epoch, r.lr_factor
        ),
        (Some(r), None) => format!("iteration {} · epoch {}", r.iteration, r.epoch),
        (None, _) => "no iteration logged yet".into(),
    };
    let dataroot = logs
        .config
        .as_ref()
        .map(|c| format!(" · data {}", c.dataroot.display()))
        .unwrap_or_default();
    let _ = writeln!(
        w,
        "<p><b>{}</b>{} · {}</p>",
        escape_html(&model),
        escape_html(&dataroot),
        escape_html(&progress)
    );
    let status = match state {
        ReportState::Training => format!(
            "Training: this page reloads itself every {LIVE_RELOAD_SECONDS} s and is rewritten \
             at every sample grid, checkpoint and evaluation."
        ),
        ReportState::AtRest => "Not training: this page shows the run as it was last \
                                written (rebuild it with <code>enco report RUN</code>)."
            .to_string(),
    };
    let _ = writeln!(w, "<p class=\"muted\">{status}</p>");
    let _ = writeln!(
        w,
        "<nav><a href=\"#losses\">Losses</a><a href=\"#evaluation\">Evaluation</a>\
         <a href=\"#samples\">Samples ({})</a><a href=\"#checkpoints\">Checkpoints</a>\
         <a href=\"#configuration\">Configuration</a></nav>",
        logs.samples.len()
    );

    // Losses.
    let _ = writeln!(w, "<h2 id=\"losses\">Losses</h2>");
    if logs.losses.is_empty() {
        let _ = writeln!(w, "<p>No loss logged yet.</p>");
    } else {
        let window = smoothing_window(logs.losses.len());
        let _ = writeln!(
            w,
            "<table><tr><th class=\"name\">term</th><th class=\"name\">field</th><th>last</th>\
             <th>moving average of {window}</th></tr>"
        );
        for (title, field, _) in loss_panels(logs.model_kind()) {
            let points: Vec<(u64, f64)> = logs
                .losses
                .iter()
                .filter_map(|r| Some((r.iteration, r.field(field)?)))
                .collect();
            let last = points.last().map(|p| p.1);
            let smooth = moving_average(&points, window).last().map(|p| p.1);
            let _ = writeln!(
                w,
                "<tr><td class=\"name\">{}</td><td class=\"name\"><code>{field}</code></td>\
                 <td>{}</td><td>{}</td></tr>",
                escape_html(&title),
                format_score(last, 4),
                format_score(smooth, 4)
            );
        }
        let _ = writeln!(w, "</table>");
        let _ = writeln!(
            w,
            "<p><a href=\"{LOSS_CURVE_FILE}\"><img src=\"{LOSS_CURVE_FILE}?v={version}\" \
             alt=\"loss curves: one panel per loss against the iteration\"/></a></p>"
        );
        let _ = writeln!(
            w,
            "<p class=\"muted\">Every iteration is in <a href=\"{LOSS_LOG_FILE}\">\
             {LOSS_LOG_FILE}</a>.</p>"
        );
    }

    // Evaluation.
    let _ = writeln!(w, "<h2 id=\"evaluation\">Evaluation</h2>");
    if logs.evaluations.is_empty() {
        let _ = writeln!(
            w,
            "<p>No periodic evaluation in this run (turn it on with <code>--eval-every N</code>).</p>"
        );
    } else {
        let _ = writeln!(
            w,
            "<table><tr><th>iteration</th><th>epoch</th><th>images</th><th>FID</th>\
             <th>PSNR (dB)</th><th>SSIM</th><th class=\"name\">best so far</th></tr>"
        );
        for r in logs.evaluations.iter().rev() {
            let _ = writeln!(
                w,
                "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td class=\"name\">{}</td></tr>",
                if r.best { " class=\"best\"" } else { "" },
                r.iteration,
                r.epoch,
                r.images,
                format_score(r.fid, 2),
                format_score(r.psnr, 2),
                format_score(r.ssim, 4),
                if r.best { "yes" } else { "" }
            );
        }
        let _ = writeln!(w, "</table>");
        let _ = writeln!(
            w,
            "<p><a href=\"{EVAL_CURVE_FILE}\"><img src=\"{EVAL_CURVE_FILE}?v={version}\" \
             alt=\"evaluation scores against the iteration\"/></a></p>"
        );
    }

    // Samples.
    let _ = writeln!(w, "<h2 id=\"samples\">Samples</h2>");
    if logs.samples.is_empty() {
        let _ = writeln!(w, "<p>No sample grid yet.</p>");
    }
    for (iteration, file) in &logs.samples {
        let path = href(&format!("{SAMPLES_DIR}/{file}"));
        let epoch = logs
            .epoch_of(*iteration)
            .map(|e| format!(" · epoch {e}"))
            .unwrap_or_default();
        let _ = writeln!(
            w,
            "<figure id=\"iter-{iteration}\"><a href=\"{path}\"><img src=\"{path}\" \
             loading=\"lazy\" alt=\"samples of iteration {iteration}\"/></a>\
             <figcaption>iteration {iteration}{epoch} · <code>{}</code></figcaption></figure>",
            escape_html(file)
        );
    }

    // Checkpoints.
    let _ = writeln!(w, "<h2 id=\"checkpoints\">Checkpoints</h2>");
    let _ = writeln!(
        w,
        "<p class=\"muted\">Continue with <code>enco resume --output RUN</code>; translate with \
         <code>enco translate --checkpoint FOLDER</code>.</p>"
    );
    let _ = writeln!(w, "<ul class=\"links\">");
    if logs.has_best {
        let _ = writeln!(
            w,
            "<li><a href=\"{BEST_DIR}/\">{BEST_DIR}/</a> (best evaluation, \
             <a href=\"{BEST_DIR}/eval.json\">scores</a>)</li>"
        );
    }
    for c in &logs.checkpoints {
        let path = href(&format!("{CHECKPOINTS_DIR}/{c}/"));
        let _ = writeln!(
            w,
            "<li><a href=\"{path}\">{CHECKPOINTS_DIR}/{}/</a></li>",
            escape_html(c)
        );
    }
    for s in &logs.snapshots {
        let path = href(&format!("{SNAPSHOTS_DIR}/{s}/"));
        let _ = writeln!(
            w,
            "<li><a href=\"{path}\">{SNAPSHOTS_DIR}/{}/</a></li>",
            escape_html(s)
        );
    }
    if !logs.has_best && logs.checkpoints.is_empty() && logs.snapshots.is_empty() {
        let _ = writeln!(w, "<li>none yet</li>");
    }
    let _ = writeln!(w, "</ul>");
    if logs.has_bad_images {
        let _ = writeln!(
            w,
            "<p>Images skipped as unreadable: <a href=\"{BAD_IMAGES_FILE}\">{BAD_IMAGES_FILE}</a>.</p>"
        );
    }

    // Configuration.
    let _ = writeln!(w, "<h2 id=\"configuration\">Configuration</h2>");
    match &logs.config_text {
        Some(text) => {
            let _ = writeln!(
                w,
                "<p class=\"muted\"><a href=\"{CONFIG_FILE}\">{CONFIG_FILE}</a>, as resolved at the \
                 start (rerun it with <code>enco train --config {CONFIG_FILE}</code>).</p>"
            );
            let _ = writeln!(w, "<pre>{}</pre>", escape_html(text.trim_end()));
        }
        None => {
            let _ = writeln!(w, "<p>No {CONFIG_FILE} in this folder.</p>");
        }
    }
    let _ = writeln!(w, "</body>");
    let _ = writeln!(w, "</html>");
    page
}

/// Writes `report.html` of the run in `logs.run` atomically (a temporary file renamed over the
/// old page); returns its path.
pub fn write_report(logs: &RunLogs, state: ReportState) -> Result<PathBuf, TrainError> {
    let path = logs.run.join(REPORT_FILE);
    let tmp = logs.run.join(format!(".{REPORT_FILE}.tmp"));
    std::fs::write(&tmp, report_html(logs, state)).map_err(|e| TrainError::output(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| TrainError::output(&path, e))?;
    Ok(path)
}

/// Rebuilds the report of the run folder `run` from what it holds: redraws `loss_curve.png` from
/// `losses.jsonl` and `eval_curve.png` from `eval.jsonl`, lists the sample grids and checkpoints,
/// and writes `report.html` ([`ReportState::AtRest`]); returns its path. Works on runs made before
/// reports existed and on run folders copied from elsewhere (without their checkpoints).
pub fn regenerate_report(run: &Path) -> Result<PathBuf, TrainError> {
    let logs = RunLogs::read(run)?;
    if !logs.losses.is_empty() {
        plot_loss_curves(&logs.losses, logs.model_kind(), &run.join(LOSS_CURVE_FILE))?;
    }
    if !logs.evaluations.is_empty() {
        plot_eval_curves(&logs.evaluations, &run.join(EVAL_CURVE_FILE))?;
    }
    write_report(&logs, ReportState::AtRest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_links_are_escaped() {
        assert_eq!(
            escape_html("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(href("samples/iter 1&2.png"), "samples/iter%201%262.png");
    }
}
