//! EnCo training: the model (G, D, heads), the losses of one iteration, and the training step
//! with three Adam optimisers and their own learning rates (spec §5–§7).

mod checkpoint;
mod config;
mod error;
mod model;
mod run;
mod schedule;
mod step;

pub use checkpoint::{
    TrainingPosition, checkpoint_config, load_checkpoint, prune_checkpoints, save_checkpoint,
};
pub use config::EncoConfig;
pub use error::TrainError;
pub use model::{
    DiscriminatorLosses, EncoModel, FeaturePair, GeneratorLosses, GeneratorPass, feature_pairs,
};
pub use rand_chacha::ChaCha8Rng;
pub use run::{StepReport, TrainingConfig, TrainingRun};
pub use schedule::{IdentitySchedule, LrSchedule};
pub use step::{AdamOf, AdamRecord, EncoTrainer, StepLosses, official_adam};
