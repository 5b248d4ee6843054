//! EnCo training: the model (G, D, heads), the losses of one iteration, and the training step
//! with three Adam optimisers and their own learning rates (spec §5–§7).

mod config;
mod error;
mod model;
mod schedule;
mod step;

pub use config::EncoConfig;
pub use error::TrainError;
pub use model::{
    DiscriminatorLosses, EncoModel, FeaturePair, GeneratorLosses, GeneratorPass, feature_pairs,
};
pub use schedule::{IdentitySchedule, LrSchedule};
pub use step::{EncoTrainer, StepLosses, official_adam};
