//! Training: the EnCo model (G, D, heads), the losses of one iteration, and the training step
//! with three Adam optimisers and their own learning rates (spec §5–§7); the baselines CUT,
//! FastCUT (§15) and CycleGAN (§16); and one training loop, checkpoint format and translation
//! path for all of them ([`ModelConfig`]).

mod adam;
mod checkpoint;
mod config;
mod cut;
mod cyclegan;
mod error;
mod model;
mod model_config;
mod model_trainer;
mod monitor;
mod preset;
mod run;
mod schedule;
mod step;

pub use adam::{FusedAdam, FusedAdamConfig};
pub use checkpoint::{
    TrainingPosition, checkpoint_config, load_checkpoint, load_generator, load_translator,
    prune_checkpoints, save_checkpoint,
};
pub use config::EncoConfig;
pub use cut::{
    CutAdamRecords, CutConfig, CutGeneratorLosses, CutModel, CutPass, CutTrainer, CutVariant,
    NceTerm,
};
pub use cyclegan::{
    CycleGanAdamRecords, CycleGanConfig, CycleGanGeneratorLosses, CycleGanModel, CycleGanNetworks,
    CycleGanPass, CycleGanTrainer, ImagePool,
};
pub use error::TrainError;
pub use model::{
    DiscriminatorLosses, EncoModel, FeaturePair, GeneratorLosses, GeneratorPass, feature_pairs,
};
pub use model_config::{ModelConfig, ModelKind};
pub use model_trainer::ModelTrainer;
pub use monitor::{
    LOSS_CURVE_PANELS, LossLog, LossRecord, plot_loss_curves, read_loss_log, sample_grid,
    save_sample_grid,
};
pub use preset::DatasetPreset;
pub use rand_chacha::ChaCha8Rng;
pub use run::{
    LOSS_CURVE_FILE, LOSS_LOG_FILE, SAMPLES_DIR, StepReport, TrainingConfig, TrainingRun,
};
pub use schedule::{IdentitySchedule, LrSchedule};
pub use step::{AdamOf, AdamRecord, EncoTrainer, StepLosses, official_adam};
