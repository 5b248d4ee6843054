//! Checkpoints that resume training exactly: the three networks, the three Adam states, the
//! position in training, the sampler's random state and the configuration, written atomically.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::Optimizer;
use burn::record::{BinFileRecorder, FullPrecisionSettings, Recorder};
use enco_nn::{EncoAutodiffBackend, EncoBackend, ResnetGenerator};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::config::EncoConfig;
use crate::error::TrainError;
use crate::step::EncoTrainer;

/// Where training stands: everything besides tensors needed to continue exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingPosition {
    /// 1-based epoch being trained.
    pub epoch: usize,
    /// Batches of that epoch already trained.
    pub batch: usize,
    /// Iterations trained in total.
    pub iteration: u64,
    /// The patch sampler's random state.
    pub rng: ChaCha8Rng,
}

#[derive(Serialize, Deserialize)]
struct CheckpointMeta {
    format: u32,
    position: TrainingPosition,
    config: serde_json::Value,
}

const FORMAT: u32 = 1;
const META: &str = "checkpoint.json";

fn recorder() -> BinFileRecorder<FullPrecisionSettings> {
    BinFileRecorder::new()
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Checkpoint(format!("{}: {e}", path.display()))
}

/// Writes a checkpoint into `dir/<name>` atomically: everything goes to a temporary folder that
/// is renamed into place once complete, so a crash never leaves a half-written checkpoint.
/// Returns the checkpoint folder.
pub fn save_checkpoint<B: EncoAutodiffBackend>(
    dir: &Path,
    name: &str,
    trainer: &EncoTrainer<B>,
    position: &TrainingPosition,
) -> Result<PathBuf, TrainError> {
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    let target = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| io_error(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| io_error(&tmp, e))?;
    let rec = recorder();
    let save = |what: &str, result: Result<(), burn::record::RecorderError>| {
        result.map_err(|e| io_error(&tmp.join(what), e))
    };
    let model = &trainer.model;
    save(
        "G",
        rec.record(model.generator.clone().into_record(), tmp.join("G")),
    )?;
    save(
        "D",
        rec.record(model.discriminator.clone().into_record(), tmp.join("D")),
    )?;
    save(
        "F",
        rec.record(model.heads.clone().into_record(), tmp.join("F")),
    )?;
    let optim_g = trainer.optimizer_g().to_record();
    save("optim_G", rec.record(optim_g, tmp.join("optim_G")))?;
    let optim_d = trainer.optimizer_d().to_record();
    save("optim_D", rec.record(optim_d, tmp.join("optim_D")))?;
    let optim_f = trainer.optimizer_f().to_record();
    save("optim_F", rec.record(optim_f, tmp.join("optim_F")))?;
    let meta = CheckpointMeta {
        format: FORMAT,
        position: position.clone(),
        config: serde_json::to_value(&trainer.config).map_err(|e| io_error(&tmp, e))?,
    };
    let json = serde_json::to_string_pretty(&meta).map_err(|e| io_error(&tmp, e))?;
    std::fs::write(tmp.join(META), json).map_err(|e| io_error(&tmp.join(META), e))?;
    if target.exists() {
        std::fs::remove_dir_all(&target).map_err(|e| io_error(&target, e))?;
    }
    std::fs::rename(&tmp, &target).map_err(|e| io_error(&target, e))?;
    Ok(target)
}

/// Reads the configuration stored in a checkpoint.
pub fn checkpoint_config(checkpoint: &Path) -> Result<EncoConfig, TrainError> {
    let meta = read_meta(checkpoint)?;
    serde_json::from_value(meta.config).map_err(|e| io_error(&checkpoint.join(META), e))
}

fn read_meta(checkpoint: &Path) -> Result<CheckpointMeta, TrainError> {
    let path = checkpoint.join(META);
    let text = std::fs::read_to_string(&path).map_err(|e| io_error(&path, e))?;
    let meta: CheckpointMeta = serde_json::from_str(&text).map_err(|e| io_error(&path, e))?;
    if meta.format != FORMAT {
        return Err(io_error(
            &path,
            format!("unknown checkpoint format {}", meta.format),
        ));
    }
    Ok(meta)
}

/// Restores a trainer and its position from `checkpoint`. The model is built from `config`,
/// which must describe the same networks as the stored configuration (otherwise an error says
/// which setting differs).
pub fn load_checkpoint<B: EncoAutodiffBackend>(
    checkpoint: &Path,
    config: EncoConfig,
    device: &B::Device,
) -> Result<(EncoTrainer<B>, TrainingPosition), TrainError> {
    let meta = read_meta(checkpoint)?;
    let stored: EncoConfig = serde_json::from_value(meta.config.clone())
        .map_err(|e| io_error(&checkpoint.join(META), e))?;
    check_same_networks(&stored, &config)?;
    let rec = recorder();
    let load = |what: &str| checkpoint.join(what);
    let err = |what: &str, e: burn::record::RecorderError| io_error(&load(what), e);
    let mut model = config.init::<B>(device)?;
    model.generator = model
        .generator
        .load_record(rec.load(load("G"), device).map_err(|e| err("G", e))?);
    model.discriminator = model
        .discriminator
        .load_record(rec.load(load("D"), device).map_err(|e| err("D", e))?);
    model.heads = model
        .heads
        .load_record(rec.load(load("F"), device).map_err(|e| err("F", e))?);
    let mut trainer = EncoTrainer::new(model, config);
    let g = rec
        .load(load("optim_G"), device)
        .map_err(|e| err("optim_G", e))?;
    let d = rec
        .load(load("optim_D"), device)
        .map_err(|e| err("optim_D", e))?;
    let f = rec
        .load(load("optim_F"), device)
        .map_err(|e| err("optim_F", e))?;
    trainer.load_optimizer_records(g, d, f);
    Ok((trainer, meta.position))
}

/// Loads only the generator of a checkpoint (for translation), built from the stored
/// configuration.
pub fn load_generator<B: EncoBackend>(
    checkpoint: &Path,
    device: &B::Device,
) -> Result<ResnetGenerator<B>, TrainError> {
    let config = checkpoint_config(checkpoint)?;
    let generator = config.generator.init::<B>(device);
    let path = checkpoint.join("G");
    let record = recorder()
        .load(path.clone(), device)
        .map_err(|e| io_error(&path, e))?;
    Ok(generator.load_record(record))
}

/// The settings that decide the shapes of the networks must agree.
fn check_same_networks(stored: &EncoConfig, given: &EncoConfig) -> Result<(), TrainError> {
    let pairs = [
        (
            "generator",
            format!("{:?}", stored.generator.clone().with_seed(0)),
            format!("{:?}", given.generator.clone().with_seed(0)),
        ),
        (
            "discriminator",
            format!("{:?}", stored.discriminator.clone().with_seed(0)),
            format!("{:?}", given.discriminator.clone().with_seed(0)),
        ),
        (
            "head_nc",
            stored.head_nc.to_string(),
            given.head_nc.to_string(),
        ),
        (
            "head_norm",
            format!("{:?}", stored.head_norm),
            format!("{:?}", given.head_norm),
        ),
        (
            "nce_layers",
            format!("{:?}", stored.nce_layers),
            format!("{:?}", given.nce_layers),
        ),
    ];
    for (name, a, b) in pairs {
        if a != b {
            return Err(TrainError::Checkpoint(format!(
                "the checkpoint was trained with another {name}: {a} (checkpoint) vs {b} (given)"
            )));
        }
    }
    Ok(())
}

/// Removes all but the `keep` newest checkpoints named `<prefix><number>` in `dir`.
pub fn prune_checkpoints(dir: &Path, prefix: &str, keep: usize) -> Result<(), TrainError> {
    let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .map_err(|e| io_error(dir, e))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            name.strip_prefix(prefix)?
                .parse()
                .ok()
                .map(|n| (n, e.path()))
        })
        .collect();
    found.sort();
    let excess = found.len().saturating_sub(keep);
    for (_, path) in found.into_iter().take(excess) {
        std::fs::remove_dir_all(&path).map_err(|e| io_error(&path, e))?;
    }
    Ok(())
}
