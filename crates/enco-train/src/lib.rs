//! Training: the EnCo model (G, D, heads), the losses of one iteration, and the training step
//! with three Adam optimisers and their own learning rates (docs/reference.md §5–§7); the baselines CUT,
//! FastCUT (§15) and CycleGAN (§16); and one training loop, checkpoint format and translation
//! path for all of them ([`ModelConfig`]).

mod adam;
mod checkpoint;
mod config;
mod cut;
mod cyclegan;
mod error;
mod evaluation;
mod export;
mod gradient_sync;
mod model;
mod model_config;
mod model_trainer;
mod module_slot;
mod monitor;
mod nan_guard;
mod param_ids;
mod plot;
mod preset;
mod replicas;
mod report;
mod rng_state;
mod run;
mod run_folder;
mod sample_grid;
mod schedule;
mod step;
mod validation;

pub use adam::{FusedAdam, FusedAdamConfig};
/// The id of a replica in Burn's collective ([`GradientSync::Mean`]).
pub use burn::collective::PeerId;
pub use checkpoint::{
    CHECKPOINT_FORMAT, CHECKPOINT_PAUSE_ENV, TrainingPosition, checkpoint_config, load_checkpoint,
    load_generator, load_official_generator, load_translator, prune_checkpoints, save_checkpoint,
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
pub use error::{BoxedError, TrainError};
pub use evaluation::{
    BEST_DIR, EVAL_CURVE_FILE, EVAL_DIR, EVAL_LOG_FILE, EvalRecord, EvaluationConfig, Evaluator,
    plot_eval_curves,
};
pub use export::export_pytorch;
pub use gradient_sync::GradientSync;
pub use model::{
    DiscriminatorLosses, EncoModel, FeaturePair, GeneratorLosses, GeneratorPass, feature_pairs,
};
pub use model_config::{ModelConfig, ModelKind};
pub use model_trainer::ModelTrainer;
pub use monitor::{
    JsonLinesLog, LogRecord, LossLog, LossRecord, epoch_starts, loss_panels, plot_loss_curves,
    read_json_lines, read_loss_log,
};
pub use nan_guard::{NanPolicy, first_non_finite};
pub use plot::{
    EpochMarks, FONT_FAMILY, PANEL_HEIGHT, PLOT_WIDTH, PanelStyle, PlotPanel, draw_panels,
    format_tick, moving_average, register_bundled_font, smoothing_window,
};
pub use preset::DatasetPreset;
/// The `rand` this crate uses (0.10, with its `chacha` feature).
pub use rand;
pub use rand::rngs::ChaCha8Rng;
pub use report::{
    LIVE_RELOAD_SECONDS, REPORT_FILE, ReportState, RunLogs, escape_html, regenerate_report,
    report_html, write_report,
};
pub use rng_state::copy_rng;
pub use run::{
    BAD_IMAGES_FILE, CONFIG_FILE, LOSS_CURVE_FILE, LOSS_LOG_FILE, RunEnd, SAMPLES_DIR,
    SNAPSHOTS_DIR, StepReport, StopFlag, TrainingConfig, TrainingRun,
};
pub use run_folder::{LOCK_FILE, RunLock, move_run_aside, run_contents};
pub use sample_grid::{
    CAPTION_HEIGHT, MIN_TILE, SampleColumn, TITLE_HEIGHT, sample_file_name, sample_grid,
    sample_iteration, save_sample_grid, tile_scale,
};
pub use schedule::{IdentitySchedule, LrSchedule};
pub use step::{AdamOf, AdamRecord, EncoTrainer, StepLosses, official_adam};
