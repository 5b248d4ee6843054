//! Checkpoints that resume training exactly: the networks, the Adam states, CycleGAN's image
//! pools, the position in training, the random state and the configuration, written atomically.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::Optimizer;
use burn::record::{
    BinFileRecorder, FullPrecisionSettings, NamedMpkFileRecorder, Record, Recorder, RecorderError,
};
use burn::tensor::TensorData;
use burn::tensor::backend::Backend;
use enco_nn::{
    EncoAutodiffBackend, EncoBackend, PytorchWeights, ResnetGenerator, ResnetGeneratorConfig,
};
use rand::rngs::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::config::EncoConfig;
use crate::cyclegan::ImagePool;
use crate::error::TrainError;
use crate::model_config::ModelConfig;
use crate::model_trainer::ModelTrainer;

/// Where training stands: everything besides tensors needed to continue exactly.
#[derive(PartialEq, Serialize, Deserialize)]
pub struct TrainingPosition {
    /// 1-based epoch being trained.
    pub epoch: usize,
    /// Batches of that epoch already trained.
    pub batch: usize,
    /// Iterations trained in total.
    pub iteration: u64,
    /// The patch sampler's random state.
    #[serde(with = "crate::rng_state")]
    pub rng: ChaCha8Rng,
}

impl std::fmt::Debug for TrainingPosition {
    /// The fields, with the generator as its seed, stream and word position (the generator's
    /// own `Debug` hides its state).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainingPosition")
            .field("epoch", &self.epoch)
            .field("batch", &self.batch)
            .field("iteration", &self.iteration)
            .field("rng_seed", &self.rng.get_seed())
            .field("rng_stream", &self.rng.get_stream())
            .field("rng_word_pos", &self.rng.get_word_pos())
            .finish()
    }
}

impl Clone for TrainingPosition {
    /// A copy at the same place of the same random stream (the generator itself is not
    /// `Clone`; its state is).
    fn clone(&self) -> Self {
        Self {
            epoch: self.epoch,
            batch: self.batch,
            iteration: self.iteration,
            rng: crate::rng_state::copy_rng(&self.rng),
        }
    }
}

impl TrainingPosition {
    /// The start of a run: epoch 1, nothing trained, the RNG seeded with `seed`.
    pub fn start(seed: u64) -> Self {
        use rand::SeedableRng;
        Self {
            epoch: 1,
            batch: 0,
            iteration: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct CheckpointMeta {
    format: u32,
    position: TrainingPosition,
    config: serde_json::Value,
}

/// The checkpoint format this version writes.
///
/// - 3: every network and optimiser state in Burn's named MessagePack recorder
///   (`G.mpk`, `optim_G.mpk`, …: self-describing, with Burn's version and precision in each
///   file), a [`ModelConfig`] in `checkpoint.json`.
/// - 2: the same content in Burn's bincode recorder (`G.bin`, …); still read.
/// - 1: format 2 with an EnCo configuration in `checkpoint.json`; still read.
///
/// A checkpoint of a later format is refused with a message that names its format and the
/// formats this version reads.
pub const CHECKPOINT_FORMAT: u32 = 3;
const META: &str = "checkpoint.json";

/// How the tensors of a checkpoint are stored, by format.
#[derive(Debug, Clone, Copy)]
enum TensorFiles {
    /// Formats 1 and 2: `BinFileRecorder` (bincode, positional).
    Bincode,
    /// Format 3: `NamedMpkFileRecorder` (named MessagePack).
    NamedMpk,
}

impl TensorFiles {
    fn of_format(format: u32) -> Self {
        if format >= 3 {
            Self::NamedMpk
        } else {
            Self::Bincode
        }
    }

    fn save<B: Backend, R: Record<B>>(self, record: R, path: PathBuf) -> Result<(), RecorderError> {
        match self {
            Self::Bincode => BinFileRecorder::<FullPrecisionSettings>::new().record(record, path),
            Self::NamedMpk => {
                NamedMpkFileRecorder::<FullPrecisionSettings>::new().record(record, path)
            }
        }
    }

    fn load<B: Backend, R: Record<B>>(
        self,
        path: PathBuf,
        device: &B::Device,
    ) -> Result<R, RecorderError> {
        match self {
            Self::Bincode => BinFileRecorder::<FullPrecisionSettings>::new().load(path, device),
            Self::NamedMpk => {
                NamedMpkFileRecorder::<FullPrecisionSettings>::new().load(path, device)
            }
        }
    }
}

/// Writes a checkpoint into `dir/<name>` atomically: everything goes to a temporary folder that
/// is renamed into place once complete, so a crash never leaves a half-written checkpoint.
/// Returns the checkpoint folder.
///
/// It holds every network (`G`, `D`, `F` for EnCo and CUT; `G_A`, `G_B`, `D_A`, `D_B` for
/// CycleGAN) and each optimiser's state (`optim_*`) as `.mpk` files of Burn's
/// `NamedMpkFileRecorder` (full precision), CycleGAN's image pools
/// (`pool_fake_{A,B}.safetensors`) and `checkpoint.json` (the format number
/// [`CHECKPOINT_FORMAT`], position and model configuration).
pub fn save_checkpoint<B: EncoAutodiffBackend>(
    dir: &Path,
    name: &str,
    trainer: &ModelTrainer<B>,
    position: &TrainingPosition,
) -> Result<PathBuf, TrainError> {
    std::fs::create_dir_all(dir).map_err(|e| TrainError::checkpoint(dir, e))?;
    let target = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| TrainError::checkpoint(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| TrainError::checkpoint(&tmp, e))?;
    let files = TensorFiles::of_format(CHECKPOINT_FORMAT);
    macro_rules! store {
        ($what:expr, $record:expr) => {
            files
                .save::<B, _>($record, tmp.join($what))
                .map_err(|e| TrainError::checkpoint(&tmp.join($what), e))?
        };
    }
    match trainer {
        ModelTrainer::Enco(t) => {
            store!("G", t.model.generator.clone().into_record());
            store!("D", t.model.discriminator.clone().into_record());
            store!("F", t.model.heads.clone().into_record());
            store!("optim_G", t.optimizer_g().to_record());
            store!("optim_D", t.optimizer_d().to_record());
            store!("optim_F", t.optimizer_f().to_record());
        }
        ModelTrainer::Cut(t) => {
            let (g, d, f) = t.optimizer_records();
            store!("G", t.model.generator.clone().into_record());
            store!("D", t.model.discriminator.clone().into_record());
            store!("F", t.model.heads.clone().into_record());
            store!("optim_G", g);
            store!("optim_D", d);
            store!("optim_F", f);
        }
        ModelTrainer::CycleGan(t) => {
            let (g_a, g_b, d_a, d_b) = t.optimizer_records();
            store!("G_A", t.model.g_a.clone().into_record());
            store!("G_B", t.model.g_b.clone().into_record());
            store!("D_A", t.model.d_a.clone().into_record());
            store!("D_B", t.model.d_b.clone().into_record());
            store!("optim_G_A", g_a);
            store!("optim_G_B", g_b);
            store!("optim_D_A", d_a);
            store!("optim_D_B", d_b);
            save_pool(&tmp.join(POOL_A), &t.fake_a_pool)?;
            save_pool(&tmp.join(POOL_B), &t.fake_b_pool)?;
        }
    }
    let meta = CheckpointMeta {
        format: CHECKPOINT_FORMAT,
        position: position.clone(),
        config: serde_json::to_value(trainer.config())
            .map_err(|e| TrainError::checkpoint(&tmp, e))?,
    };
    let json = serde_json::to_string_pretty(&meta).map_err(|e| TrainError::checkpoint(&tmp, e))?;
    std::fs::write(tmp.join(META), json).map_err(|e| TrainError::checkpoint(&tmp.join(META), e))?;
    pause_for_crash_tests();
    // Replacing a checkpoint of the same name: the old one is moved aside (`.<name>.old`)
    // before the new one takes its place and deleted only after, so a kill at any moment
    // leaves one of them (a resume puts a lone `.old` back).
    let old = dir.join(format!(".{name}.old"));
    if target.exists() {
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(|e| TrainError::checkpoint(&old, e))?;
        }
        std::fs::rename(&target, &old).map_err(|e| TrainError::checkpoint(&target, e))?;
    }
    std::fs::rename(&tmp, &target).map_err(|e| TrainError::checkpoint(&target, e))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(|e| TrainError::checkpoint(&old, e))?;
    }
    Ok(target)
}

/// The environment variable that holds a checkpoint write open for that many milliseconds
/// after its files are written and before they become the checkpoint, so a crash-consistency
/// test can kill the process inside the write window.
pub const CHECKPOINT_PAUSE_ENV: &str = "ENCO_TEST_CHECKPOINT_PAUSE_MS";

fn pause_for_crash_tests() {
    if let Some(ms) = std::env::var(CHECKPOINT_PAUSE_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

const POOL_A: &str = "pool_fake_A.safetensors";
const POOL_B: &str = "pool_fake_B.safetensors";

/// Writes the images of a pool as `image_<i>` f32 tensors of one safetensors file.
fn save_pool(path: &Path, pool: &ImagePool) -> Result<(), TrainError> {
    let images: Vec<(String, Vec<usize>, Vec<u8>)> = pool
        .images()
        .iter()
        .enumerate()
        .map(|(i, data)| {
            let values = data
                .clone()
                .convert::<f32>()
                .into_vec::<f32>()
                .map_err(|e| TrainError::checkpoint(path, format!("{e:?}")))?;
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            Ok((format!("image_{i:04}"), data.shape.to_vec(), bytes))
        })
        .collect::<Result<_, TrainError>>()?;
    let views = images
        .iter()
        .map(|(name, shape, bytes)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                .map(|view| (name.clone(), view))
                .map_err(|e| TrainError::checkpoint(path, e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    safetensors::serialize_to_file(views, None, path).map_err(|e| TrainError::checkpoint(path, e))
}

/// Reads a pool written by [`save_pool`].
fn load_pool(path: &Path, capacity: usize) -> Result<ImagePool, TrainError> {
    let bytes = std::fs::read(path).map_err(|e| TrainError::checkpoint(path, e))?;
    let file = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| TrainError::checkpoint(path, e))?;
    let mut names: Vec<String> = file.names().into_iter().map(str::to_string).collect();
    names.sort();
    let images = names
        .iter()
        .map(|name| {
            let view = file
                .tensor(name)
                .map_err(|e| TrainError::checkpoint(path, e))?;
            let values: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            Ok(TensorData::new(values, view.shape().to_vec()))
        })
        .collect::<Result<Vec<_>, TrainError>>()?;
    Ok(ImagePool::with_images(capacity, images))
}

/// Reads the model configuration stored in a checkpoint.
pub fn checkpoint_config(checkpoint: &Path) -> Result<ModelConfig, TrainError> {
    let meta = read_meta(checkpoint)?;
    parse_config(checkpoint, meta.format, meta.config)
}

fn parse_config(
    checkpoint: &Path,
    format: u32,
    config: serde_json::Value,
) -> Result<ModelConfig, TrainError> {
    let path = checkpoint.join(META);
    if format == 1 {
        // Format 1 held an EnCo configuration.
        let enco: EncoConfig =
            serde_json::from_value(config).map_err(|e| TrainError::checkpoint(&path, e))?;
        return Ok(ModelConfig::Enco(enco));
    }
    serde_json::from_value(config).map_err(|e| TrainError::checkpoint(&path, e))
}

fn read_meta(checkpoint: &Path) -> Result<CheckpointMeta, TrainError> {
    let path = checkpoint.join(META);
    let text = std::fs::read_to_string(&path).map_err(|e| TrainError::checkpoint(&path, e))?;
    // The format first, alone: a later format may store the rest differently.
    #[derive(Deserialize)]
    struct Format {
        format: u32,
    }
    let Format { format } =
        serde_json::from_str(&text).map_err(|e| TrainError::checkpoint(&path, e))?;
    if format == 0 || format > CHECKPOINT_FORMAT {
        let origin = if format == 0 {
            ""
        } else {
            " (a later version may have written it)"
        };
        return Err(TrainError::checkpoint(
            &path,
            format!(
                "unknown checkpoint format {format}: this version of enco reads formats 1 to \
                 {CHECKPOINT_FORMAT}{origin}"
            ),
        ));
    }
    serde_json::from_str(&text).map_err(|e| TrainError::checkpoint(&path, e))
}

/// Restores a trainer and its position from `checkpoint`. The model is built from `config`,
/// which must describe the same networks as the stored configuration (otherwise an error says
/// which setting differs).
pub fn load_checkpoint<B: EncoAutodiffBackend>(
    checkpoint: &Path,
    config: ModelConfig,
    device: &B::Device,
) -> Result<(ModelTrainer<B>, TrainingPosition), TrainError> {
    let meta = read_meta(checkpoint)?;
    let stored = parse_config(checkpoint, meta.format, meta.config.clone())?;
    check_same_networks(&stored, &config)
        .map_err(|mismatch| TrainError::checkpoint(checkpoint, mismatch))?;
    let files = TensorFiles::of_format(meta.format);
    let file = |what: &str| checkpoint.join(what);
    macro_rules! load {
        ($what:expr) => {
            files
                .load::<B, _>(file($what), device)
                .map_err(|e| TrainError::checkpoint(&file($what), e))?
        };
    }
    let trainer = match config.init_trainer::<B>(device)? {
        ModelTrainer::Enco(mut t) => {
            t.model.generator = t.model.generator.load_record(load!("G"));
            t.model.discriminator = t.model.discriminator.load_record(load!("D"));
            t.model.heads = t.model.heads.load_record(load!("F"));
            t.load_optimizer_records(load!("optim_G"), load!("optim_D"), load!("optim_F"));
            ModelTrainer::Enco(t)
        }
        ModelTrainer::Cut(mut t) => {
            t.model.generator = t.model.generator.load_record(load!("G"));
            t.model.discriminator = t.model.discriminator.load_record(load!("D"));
            t.model.heads = t.model.heads.load_record(load!("F"));
            t.load_optimizer_records(load!("optim_G"), load!("optim_D"), load!("optim_F"));
            ModelTrainer::Cut(t)
        }
        ModelTrainer::CycleGan(mut t) => {
            t.model.g_a = t.model.g_a.load_record(load!("G_A"));
            t.model.g_b = t.model.g_b.load_record(load!("G_B"));
            t.model.d_a = t.model.d_a.load_record(load!("D_A"));
            t.model.d_b = t.model.d_b.load_record(load!("D_B"));
            t.load_optimizer_records((
                load!("optim_G_A"),
                load!("optim_G_B"),
                load!("optim_D_A"),
                load!("optim_D_B"),
            ));
            t.fake_a_pool = load_pool(&file(POOL_A), t.config.pool_size)?;
            t.fake_b_pool = load_pool(&file(POOL_B), t.config.pool_size)?;
            ModelTrainer::CycleGan(t)
        }
    };
    Ok((trainer, meta.position))
}

/// Loads only the source → target generator of a checkpoint (G, or CycleGAN's G_A) for
/// translation, built from the stored configuration.
pub fn load_generator<B: EncoBackend>(
    checkpoint: &Path,
    device: &B::Device,
) -> Result<ResnetGenerator<B>, TrainError> {
    load_translator(checkpoint, false, device)
}

/// Loads the generator of a checkpoint that translates source → target, or with `inverse`
/// target → source (CycleGAN's G_B; the other models have no such generator, an error).
pub fn load_translator<B: EncoBackend>(
    checkpoint: &Path,
    inverse: bool,
    device: &B::Device,
) -> Result<ResnetGenerator<B>, TrainError> {
    let meta = read_meta(checkpoint)?;
    let format = meta.format;
    let config = parse_config(checkpoint, format, meta.config)?;
    let name = match (&config, inverse) {
        (ModelConfig::CycleGan(_), false) => "G_A",
        (ModelConfig::CycleGan(_), true) => "G_B",
        (_, false) => "G",
        (other, true) => {
            return Err(TrainError::NoInverseGenerator {
                model: other.kind(),
            });
        }
    };
    let generator = config.generator().init::<B>(device);
    let path = checkpoint.join(name);
    let record = TensorFiles::of_format(format)
        .load::<B, _>(path.clone(), device)
        .map_err(|e| TrainError::checkpoint(&path, e))?;
    Ok(generator.load_record(record))
}

/// Loads a generator the official code saved (`<epoch>_net_G.pth`, `latest_net_G_A.pth`, …, or
/// the same state_dict converted to `.safetensors`) into a network built from `config`, which
/// must be the architecture it was trained with (`--ngf`, `--n_blocks`, `--no_antialias`, …).
///
/// Loading is strict: every parameter must be in the file with its shape, and every tensor of
/// the file must be a parameter or a constant buffer; otherwise the error lists the missing and
/// unexpected keys. Keys load with or without the `module.` prefix that the official code's
/// checkpoints trained on the CPU carry (its own `test.py` then loads with `strict=False` and
/// silently tests an untrained generator).
pub fn load_official_generator<B: EncoBackend>(
    path: &Path,
    config: &ResnetGeneratorConfig,
    device: &B::Device,
) -> Result<ResnetGenerator<B>, TrainError> {
    let generator = config.init::<B>(device);
    let extension = path
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    Ok(match extension.as_str() {
        "pth" | "pt" => generator.load_pth(path, None)?,
        "safetensors" => generator.load_safetensors(path)?,
        _ => {
            return Err(TrainError::checkpoint(
                path,
                "an official generator is a .pth, .pt or .safetensors file; a checkpoint of \
                 this project is a folder (OUTPUT/checkpoints/iter_N)",
            ));
        }
    })
}

/// The settings that decide the shapes of the networks, by name.
fn network_settings(config: &ModelConfig) -> Vec<(&'static str, String)> {
    let mut settings = vec![("model", config.kind().to_string())];
    match config {
        ModelConfig::Enco(c) => settings.extend([
            (
                "generator",
                format!("{:?}", c.generator.clone().with_seed(0)),
            ),
            (
                "discriminator",
                format!("{:?}", c.discriminator.clone().with_seed(0)),
            ),
            ("head_nc", c.head_nc.to_string()),
            ("head_norm", format!("{:?}", c.head_norm)),
            ("nce_layers", format!("{:?}", c.nce_layers)),
        ]),
        ModelConfig::Cut(c) => settings.extend([
            (
                "generator",
                format!("{:?}", c.generator.clone().with_seed(0)),
            ),
            (
                "discriminator",
                format!("{:?}", c.discriminator.clone().with_seed(0)),
            ),
            ("head_nc", c.head_nc.to_string()),
            ("nce_layers", format!("{:?}", c.nce_layers)),
        ]),
        ModelConfig::CycleGan(c) => settings.extend([
            (
                "generator",
                format!("{:?}", c.generator_config().with_seed(0)),
            ),
            (
                "discriminator",
                format!("{:?}", c.discriminator_config().with_seed(0)),
            ),
            ("pool_size", c.pool_size.to_string()),
        ]),
    }
    settings
}

/// The settings that decide the shapes of the networks must agree.
fn check_same_networks(stored: &ModelConfig, given: &ModelConfig) -> Result<(), String> {
    let given = network_settings(given);
    for (name, a) in network_settings(stored) {
        let b = given
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("(none)");
        if a != b {
            return Err(format!(
                "the checkpoint was trained with another {name}: {a} (checkpoint) vs {b} (given)"
            ));
        }
    }
    Ok(())
}

/// Removes all but the `keep` newest checkpoints named `<prefix><number>` in `dir`.
pub fn prune_checkpoints(dir: &Path, prefix: &str, keep: usize) -> Result<(), TrainError> {
    let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .map_err(|e| TrainError::checkpoint(dir, e))?
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
        std::fs::remove_dir_all(&path).map_err(|e| TrainError::checkpoint(&path, e))?;
    }
    Ok(())
}
