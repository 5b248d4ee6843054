//! `enco`: train EnCo on two image folders, resume a run, translate images, score them (FID,
//! PSNR/SSIM).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use enco_data::{Direction, Preprocess, Transform};
use enco_eval::fid::{
    FID_DIMS, FID_WEIGHTS_URL, KidConfig, fid_image_files, kernel_inception_distance,
};
use enco_eval::{
    ActivationStatistics, FidInception, fid_between_folders, paired_scores, resave_folder,
    translate_folder,
};
use enco_kernels::EncoAutodiffBackend;
use enco_loss::ContentLoss;
use enco_sampling::DagSamplerConfig;
use enco_train::{
    CycleGanNetworks, DatasetPreset, EncoConfig, ModelConfig, ModelKind, StepReport,
    TrainingConfig, TrainingRun, load_translator,
};
use indicatif::{ProgressBar, ProgressStyle};

/// EnCo unpaired image-to-image translation.
#[derive(Parser, Debug)]
#[command(name = "enco", version, about, long_about = None)]
struct Cli {
    /// Compute backend (those compiled in: see `--help`).
    #[arg(long, value_enum, global = true, default_value_t = BackendChoice::default())]
    backend: BackendChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a new model on DATAROOT/trainA and DATAROOT/trainB.
    Train(TrainArgs),
    /// Continue a run from its newest checkpoint, exactly where it stopped.
    Resume {
        /// The run's output folder.
        #[arg(long)]
        output: PathBuf,
        /// Stop after this many more iterations (a checkpoint is written).
        #[arg(long)]
        max_iterations: Option<u64>,
    },
    /// Translate an image or every image of a folder, keeping sizes.
    Translate {
        /// A checkpoint folder (OUTPUT/checkpoints/iter_N).
        #[arg(long)]
        checkpoint: PathBuf,
        /// An image or a folder of images.
        #[arg(long)]
        input: PathBuf,
        /// Output folder (PNG files).
        #[arg(long)]
        output: PathBuf,
        /// Images of one size translated together.
        #[arg(long, default_value_t = 4)]
        batch_size: usize,
        /// Use CycleGAN's inverse generator G_B (target → source).
        #[arg(long)]
        inverse: bool,
    },
    /// Score images: FID between two folders, or a trained checkpoint on a test set.
    #[command(subcommand)]
    Eval(EvalCommand),
}

#[derive(Subcommand, Debug)]
enum EvalCommand {
    /// FID between two image folders, as `python -m pytorch_fid A B` computes it.
    Fid {
        /// First folder (e.g. the translated images).
        folder_a: PathBuf,
        /// Second folder (e.g. the real target-domain images).
        folder_b: PathBuf,
        #[command(flatten)]
        fid: FidArgs,
        /// Write the result as JSON to this file.
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Translate DATAROOT/testA with a checkpoint (into OUTPUT/fake_B, next to the re-saved
    /// OUTPUT/real_A and OUTPUT/real_B as the official test.py writes them), then FID of fake_B
    /// against real_B, and PSNR/SSIM when a paired target folder is given.
    Checkpoint {
        /// A checkpoint folder (OUTPUT/checkpoints/iter_N).
        #[arg(long)]
        checkpoint: PathBuf,
        /// Folder holding testA and testB.
        #[arg(long)]
        dataroot: PathBuf,
        /// Where real_A, fake_B, real_B and report.json are written.
        #[arg(long)]
        output: PathBuf,
        /// Test-time size: images are resized to SIZE×SIZE (bicubic) first, as the official
        /// test.py does (256 for the paper's protocol); 0 keeps every image's own size.
        #[arg(long, default_value_t = 256)]
        size: u32,
        /// Translate testB → testA instead.
        #[arg(long)]
        reverse: bool,
        /// Use CycleGAN's inverse generator G_B (target → source), e.g. with --reverse.
        #[arg(long)]
        inverse: bool,
        /// Folder of exact targets of testA (same file stems): adds PSNR and SSIM.
        #[arg(long)]
        paired_target: Option<PathBuf>,
        /// Skip FID (PSNR/SSIM only).
        #[arg(long)]
        no_fid: bool,
        #[command(flatten)]
        fid: FidArgs,
    },
}

#[derive(clap::Args, Debug)]
struct FidArgs {
    /// FID Inception weights: pytorch-fid's pt_inception-2015-12-05-6726825d.pth, or the same
    /// state_dict as .safetensors (default: $ENCO_FID_WEIGHTS).
    #[arg(long, env = "ENCO_FID_WEIGHTS")]
    weights: Option<PathBuf>,
    /// Images per Inception batch (pytorch-fid's default 50).
    #[arg(long, default_value_t = 50)]
    fid_batch_size: usize,
    /// Also compute KID (100 subsets of at most 1000 images; keeps the features in memory).
    #[arg(long)]
    kid: bool,
}

impl FidArgs {
    fn model<B: burn::tensor::backend::Backend>(
        &self,
        device: &B::Device,
    ) -> Result<FidInception<B>, Box<dyn std::error::Error>> {
        let path = self.weights.clone().ok_or_else(|| {
            format!(
                "FID needs the Inception weights: pass --weights or set ENCO_FID_WEIGHTS \
                 (download {FID_WEIGHTS_URL})"
            )
        })?;
        let is_pth = path.extension().is_some_and(|e| e == "pth" || e == "pt");
        Ok(if is_pth {
            FidInception::load_pth(&path, device)?
        } else {
            FidInception::load_safetensors(&path, device)?
        })
    }

    fn fid<B: burn::tensor::backend::Backend>(
        &self,
        a: &std::path::Path,
        b: &std::path::Path,
        device: &B::Device,
    ) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
        let model = self.model::<B>(device)?;
        let bar = progress(0, 0);
        let mut report = if self.kid {
            let (files_a, files_b) = (fid_image_files(a)?, fid_image_files(b)?);
            let total = (files_a.len() + files_b.len()) as u64;
            bar.set_length(total);
            let feats_a = model.activations(&files_a, self.fid_batch_size, device, |d, _| {
                bar.set_position(d as u64)
            })?;
            let feats_b = model.activations(&files_b, self.fid_batch_size, device, |d, _| {
                bar.set_position((files_a.len() + d) as u64)
            })?;
            let stats = |feats: &[f64]| {
                let mut s = ActivationStatistics::new(FID_DIMS);
                s.push(feats)?;
                s.finish()
            };
            let fid = stats(&feats_a)?.frechet_distance(&stats(&feats_b)?)?;
            let kid =
                kernel_inception_distance(&feats_a, &feats_b, FID_DIMS, KidConfig::default())?;
            serde_json::json!({
                "fid": fid, "n_a": files_a.len(), "n_b": files_b.len(), "dims": FID_DIMS,
                "kid": kid,
            })
        } else {
            let result = fid_between_folders(a, b, &model, self.fid_batch_size, device, |d, t| {
                bar.set_length(t as u64);
                bar.set_position(d as u64);
            })?;
            serde_json::to_value(result)?
        };
        bar.finish_and_clear();
        report["folders"] = serde_json::json!([a, b]);
        Ok(report)
    }
}

fn write_report(
    report: &serde_json::Value,
    path: Option<&std::path::Path>,
) -> Result<(), Box<dyn std::error::Error>> {
    let text = serde_json::to_string_pretty(report)?;
    println!("{text}");
    if let Some(path) = path {
        std::fs::write(path, text + "\n")?;
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
struct TrainArgs {
    /// Folder holding trainA and trainB.
    #[arg(long)]
    dataroot: PathBuf,
    /// Output folder for checkpoints and logs.
    #[arg(long)]
    output: PathBuf,
    /// Start from a preset with the README command's values: cat2dog, horse2zebra or
    /// cityscapes (trained label → photo).
    #[arg(long)]
    preset: Option<DatasetPreset>,
    /// The model: enco, cut, fastcut or cyclegan, each with its official defaults.
    #[arg(long, default_value = "enco")]
    model: ModelKind,
    /// EnCo's content loss: enco, or patchnce ("CUT + EnCo", paper Table 3 rows D and E).
    #[arg(long, default_value = "enco")]
    content_loss: ContentLoss,
    /// PatchNCE temperature τ (with --content-loss patchnce, and for cut / fastcut).
    #[arg(long)]
    nce_t: Option<f64>,
    /// EnCo's patch sampling: uniform instead of discriminator-guided (paper Table 3 row D).
    #[arg(long)]
    uniform_sampling: bool,
    /// CycleGAN's networks as the official code builds them on a GPU (strided down-sampling,
    /// plain PatchGAN) instead of the anti-aliased ones it builds on the CPU.
    #[arg(long)]
    cyclegan_gpu_networks: bool,
    /// Epochs at the base learning rate (default: the model's, 100 for EnCo).
    #[arg(long)]
    n_epochs: Option<usize>,
    /// Epochs of linear decay (default: the model's, 100 for EnCo).
    #[arg(long)]
    n_epochs_decay: Option<usize>,
    /// Warm-up epochs, 0 = off (default: the model's, 20 for EnCo).
    #[arg(long)]
    warmup_epochs: Option<usize>,
    /// Resize size before cropping.
    #[arg(long, default_value_t = 286)]
    load_size: u32,
    /// Training crop size.
    #[arg(long, default_value_t = 256)]
    crop_size: u32,
    /// Images per batch.
    #[arg(long, default_value_t = 1)]
    batch_size: usize,
    /// Checkpoint every N iterations (and at every epoch end).
    #[arg(long, default_value_t = 5000)]
    checkpoint_every: u64,
    /// Seed of initialisation, data order, crops, flips and sampling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Translate B → A instead of A → B.
    #[arg(long)]
    reverse: bool,
    /// Stop after this many iterations (a checkpoint is written; `enco resume` continues).
    #[arg(long)]
    max_iterations: Option<u64>,
    /// Checkpoints kept (the newest).
    #[arg(long, default_value_t = 3)]
    keep_checkpoints: usize,
    /// Write a sample grid (real A | fake B | real B | idt B) every N iterations (0: never).
    #[arg(long, default_value_t = 1000)]
    sample_every: u64,
    /// Turn off the extra random flips of whole batches (`--flip_equivariance False`).
    #[arg(long)]
    no_flip_equivariance: bool,
    /// Use the paper's epoch budget for the preset (400 epochs for Cityscapes and
    /// horse2zebra, 200 for cat2dog) instead of the README's 100 + 100.
    #[arg(long, requires = "preset")]
    paper_epochs: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum BackendChoice {
    /// Pure-Rust CPU backend.
    #[cfg(feature = "flex")]
    Flex,
    /// GPU through wgpu (Vulkan, Metal, DirectX).
    #[cfg(feature = "wgpu")]
    Wgpu,
    /// NVIDIA CUDA.
    #[cfg(feature = "cuda")]
    Cuda,
}

impl Default for BackendChoice {
    fn default() -> Self {
        #[cfg(feature = "cuda")]
        return BackendChoice::Cuda;
        #[cfg(all(feature = "wgpu", not(feature = "cuda")))]
        return BackendChoice::Wgpu;
        #[cfg(all(feature = "flex", not(any(feature = "wgpu", feature = "cuda"))))]
        return BackendChoice::Flex;
    }
}

/// The model of `--model` and its options.
fn model_config(args: &TrainArgs) -> ModelConfig {
    match args.model.default_config().with_seed(args.seed) {
        ModelConfig::Enco(c) => {
            let c = c.with_content_loss(args.content_loss);
            let c = match args.nce_t {
                Some(t) => c.with_nce_t(t),
                None => c,
            };
            let c = if args.uniform_sampling {
                let k = c.sampler.num_patches;
                c.with_sampler(DagSamplerConfig::uniform(k))
            } else {
                c
            };
            ModelConfig::Enco(c)
        }
        ModelConfig::Cut(c) => ModelConfig::Cut(match args.nce_t {
            Some(t) => c.with_nce_t(t),
            None => c,
        }),
        ModelConfig::CycleGan(c) => ModelConfig::CycleGan(if args.cyclegan_gpu_networks {
            c.with_networks(CycleGanNetworks::OfficialGpu)
        } else {
            c
        }),
    }
}

fn training_config(args: &TrainArgs) -> TrainingConfig {
    let preset = args.preset;
    let mut base = match preset {
        Some(p) => p.training_config(args.dataroot.clone()),
        None => TrainingConfig::new(EncoConfig::new().into(), args.dataroot.clone()),
    };
    let (n_epochs, n_epochs_decay, warmup_epochs) = args.model.default_epochs();
    base.model = model_config(args);
    let direction = match (base.direction, args.reverse) {
        (d, false) => d,
        (Direction::AtoB, true) => Direction::BtoA,
        (Direction::BtoA, true) => Direction::AtoB,
    };
    let config = base
        .with_direction(direction)
        .with_transform(Transform {
            preprocess: Preprocess::ResizeAndCrop,
            load_size: args.load_size,
            crop_size: args.crop_size,
            flip: true,
        })
        .with_batch_size(args.batch_size)
        .with_n_epochs(args.n_epochs.unwrap_or(n_epochs))
        .with_n_epochs_decay(args.n_epochs_decay.unwrap_or(n_epochs_decay))
        .with_warmup_epochs(args.warmup_epochs.unwrap_or(warmup_epochs))
        .with_checkpoint_every(args.checkpoint_every)
        .with_keep_checkpoints(args.keep_checkpoints)
        .with_sample_every(args.sample_every)
        .with_flip_equivariance(!args.no_flip_equivariance)
        .with_seed(args.seed);
    match (preset, args.paper_epochs) {
        (Some(p), true) => p.paper_epochs(config),
        _ => config,
    }
}

fn progress(total: u64, done: u64) -> ProgressBar {
    let bar = ProgressBar::new(total).with_position(done);
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} it ({per_sec}, ETA {eta}) {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar
}

fn train_loop<B: EncoAutodiffBackend>(
    mut run: TrainingRun<B>,
    max_iterations: Option<u64>,
) -> Result<(), Box<dyn std::error::Error>> {
    let total = (run.epochs() * run.batches_per_epoch()) as u64;
    let bar = progress(total, run.position.iteration);
    eprintln!(
        "training on {} ({} iterations per epoch, {} epochs); output in {}",
        run.config.dataroot.display(),
        run.batches_per_epoch(),
        run.epochs(),
        run.output().display()
    );
    run.run(max_iterations, |r: &StepReport| {
        let l = r.losses;
        bar.set_position(r.iteration);
        bar.set_message(format!(
            "epoch {}/{} D {:.3} G {:.3} GAN {:.3} content {:.3} idt {:.3}",
            r.epoch, r.epochs, l.d, l.g, l.g_gan, l.content, l.identity
        ));
    })?;
    bar.finish();
    eprintln!(
        "stopped at iteration {}; losses in {}, checkpoints in {}",
        run.position.iteration,
        run.output().join(enco_train::LOSS_LOG_FILE).display(),
        run.output().join("checkpoints").display()
    );
    Ok(())
}

fn execute<B: EncoAutodiffBackend>(
    command: Command,
    device: B::Device,
) -> Result<(), Box<dyn std::error::Error>> {
    match command {
        Command::Train(args) => {
            let config = training_config(&args);
            if let (Some(preset), false) = (args.preset, args.dataroot.is_dir()) {
                return Err(format!(
                    "{} does not exist; get the {} data set: {}",
                    args.dataroot.display(),
                    preset,
                    preset.data_hint()
                )
                .into());
            }
            let run = TrainingRun::<B>::new(config, &args.output, &device)?;
            train_loop(run, args.max_iterations)
        }
        Command::Resume {
            output,
            max_iterations,
        } => {
            let run = TrainingRun::<B>::resume(&output, &device)?;
            train_loop(run, max_iterations)
        }
        Command::Translate {
            checkpoint,
            input,
            output,
            batch_size,
            inverse,
        } => {
            let generator = load_translator::<B::InnerBackend>(&checkpoint, inverse, &device)?;
            if input.is_file() {
                std::fs::create_dir_all(&output)?;
                let image = enco_data::load_rgb(&input)?;
                let out = enco_eval::translate_image(&generator, &image, &device)?;
                let name = input
                    .file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .to_string();
                enco_data::save_rgb(&out, &output.join(format!("{name}.png")))?;
            } else {
                let bar = progress(0, 0);
                translate_folder(
                    &generator,
                    &input,
                    &output,
                    batch_size,
                    &device,
                    |done, total| {
                        bar.set_length(total as u64);
                        bar.set_position(done as u64);
                    },
                )?;
                bar.finish();
            }
            Ok(())
        }
        Command::Eval(EvalCommand::Fid {
            folder_a,
            folder_b,
            fid,
            report,
        }) => {
            let result = fid.fid::<B::InnerBackend>(&folder_a, &folder_b, &device)?;
            write_report(&result, report.as_deref())
        }
        Command::Eval(EvalCommand::Checkpoint {
            checkpoint,
            dataroot,
            output,
            size,
            reverse,
            inverse,
            paired_target,
            no_fid,
            fid,
        }) => {
            let (src, tgt) = if reverse {
                ("testB", "testA")
            } else {
                ("testA", "testB")
            };
            let size = (size > 0).then_some(size);
            let generator = load_translator::<B::InnerBackend>(&checkpoint, inverse, &device)?;
            let (real_a, fake_b, real_b) = (
                output.join("real_A"),
                output.join("fake_B"),
                output.join("real_B"),
            );
            resave_folder(&dataroot.join(src), &real_a, size)?;
            resave_folder(&dataroot.join(tgt), &real_b, size)?;
            let bar = progress(0, 0);
            translate_folder(&generator, &real_a, &fake_b, 4, &device, |done, total| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            })?;
            bar.finish_and_clear();
            let mut report = serde_json::json!({
                "checkpoint": checkpoint, "dataroot": dataroot, "direction": format!("{src}→{tgt}"),
                "size": size,
            });
            if !no_fid {
                report["fid"] = fid.fid::<B::InnerBackend>(&fake_b, &real_b, &device)?;
            }
            if let Some(targets) = paired_target {
                let scored = output.join("target");
                resave_folder(&targets, &scored, size)?;
                report["paired"] = serde_json::to_value(paired_scores(&fake_b, &scored)?)?;
            }
            write_report(&report, Some(&output.join("report.json")))
        }
    }
}

#[cfg(any(feature = "wgpu", feature = "cuda"))]
/// Runs `f` and turns a panic while starting a backend into an error naming the backend.
fn start_backend<T>(
    name: &str,
    f: impl FnOnce() -> T + std::panic::UnwindSafe,
) -> Result<T, String> {
    std::panic::catch_unwind(f).map_err(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        format!("the {name} backend could not start (is its driver installed?): {why}")
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.backend {
        #[cfg(feature = "flex")]
        BackendChoice::Flex => {
            execute::<burn::backend::Autodiff<burn::backend::Flex>>(cli.command, Default::default())
        }
        #[cfg(feature = "wgpu")]
        BackendChoice::Wgpu => match start_backend("wgpu (Vulkan/Metal/DirectX adapter)", || {
            use burn::prelude::*;
            let device = burn::backend::wgpu::WgpuDevice::default();
            let _ = Tensor::<burn::backend::Wgpu, 1>::zeros([1], &device).into_data();
            device
        }) {
            Ok(device) => {
                execute::<burn::backend::Autodiff<burn::backend::Wgpu>>(cli.command, device)
            }
            Err(e) => Err(e.into()),
        },
        #[cfg(feature = "cuda")]
        BackendChoice::Cuda => match start_backend("CUDA (NVIDIA driver libcuda)", || {
            use burn::prelude::*;
            let device = burn::backend::cuda::CudaDevice::default();
            let _ = Tensor::<burn::backend::Cuda, 1>::zeros([1], &device).into_data();
            device
        }) {
            Ok(device) => {
                execute::<burn::backend::Autodiff<burn::backend::Cuda>>(cli.command, device)
            }
            Err(e) => Err(e.into()),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn train_arguments_become_the_training_config() {
        let cli = Cli::try_parse_from([
            "enco",
            "train",
            "--dataroot",
            "data",
            "--output",
            "run",
            "--preset",
            "cityscapes",
            "--crop-size",
            "128",
            "--load-size",
            "143",
            "--n-epochs",
            "3",
            "--seed",
            "7",
        ])
        .unwrap();
        let Command::Train(args) = cli.command else {
            panic!("train expected")
        };
        let config = training_config(&args);
        assert_eq!(config.direction, Direction::BtoA);
        assert_eq!(config.transform.crop_size, 128);
        assert_eq!(config.transform.load_size, 143);
        assert_eq!(config.n_epochs, 3);
        assert_eq!(config.model.seed(), 7);
        assert_eq!(config.warmup_epochs, 20);
        assert!(Cli::try_parse_from(["enco", "train", "--output", "run"]).is_err());
    }

    #[test]
    fn the_model_flag_picks_the_model_and_its_epochs() {
        let parse = |extra: &[&str]| {
            let mut argv = vec!["enco", "train", "--dataroot", "d", "--output", "o"];
            argv.extend_from_slice(extra);
            let Command::Train(args) = Cli::try_parse_from(argv).unwrap().command else {
                panic!("train expected")
            };
            training_config(&args)
        };
        let fast = parse(&["--model", "fastcut", "--nce-t", "0.1"]);
        assert_eq!(fast.model.kind(), ModelKind::FastCut);
        assert_eq!(
            (fast.n_epochs, fast.n_epochs_decay, fast.warmup_epochs),
            (150, 50, 0)
        );
        let ModelConfig::Cut(cut) = &fast.model else {
            panic!("a CUT configuration")
        };
        assert_eq!(cut.nce_t, 0.1);
        let cycle = parse(&[
            "--model",
            "cyclegan",
            "--cyclegan-gpu-networks",
            "--n-epochs",
            "5",
        ]);
        let ModelConfig::CycleGan(c) = &cycle.model else {
            panic!("a CycleGAN configuration")
        };
        assert_eq!(c.networks, CycleGanNetworks::OfficialGpu);
        assert_eq!(cycle.n_epochs, 5);
        let grafted = parse(&["--content-loss", "patchnce", "--uniform-sampling"]);
        let ModelConfig::Enco(e) = &grafted.model else {
            panic!("an EnCo configuration")
        };
        assert_eq!(e.content_loss, ContentLoss::PatchNce);
        assert_eq!(e.sampler.random_ratio, 1.0);
        let argv = [
            "enco",
            "train",
            "--dataroot",
            "d",
            "--output",
            "o",
            "--model",
            "pix2pix",
        ];
        assert!(Cli::try_parse_from(argv).is_err());
    }

    #[test]
    fn eval_arguments_parse() {
        let cli = Cli::try_parse_from([
            "enco",
            "eval",
            "fid",
            "fake",
            "real",
            "--weights",
            "w.pth",
            "--fid-batch-size",
            "8",
        ])
        .unwrap();
        let Command::Eval(EvalCommand::Fid { folder_a, fid, .. }) = cli.command else {
            panic!("eval fid expected")
        };
        assert_eq!(folder_a, PathBuf::from("fake"));
        assert_eq!(fid.fid_batch_size, 8);
        assert_eq!(fid.weights, Some(PathBuf::from("w.pth")));
        let cli = Cli::try_parse_from([
            "enco",
            "eval",
            "checkpoint",
            "--checkpoint",
            "c",
            "--dataroot",
            "d",
            "--output",
            "o",
        ])
        .unwrap();
        let Command::Eval(EvalCommand::Checkpoint { size, no_fid, .. }) = cli.command else {
            panic!("eval checkpoint expected")
        };
        assert_eq!((size, no_fid), (256, false));
        // Missing weights are a clear error naming where to get them.
        #[cfg(feature = "flex")]
        let err = FidArgs {
            weights: None,
            fid_batch_size: 50,
            kid: false,
        }
        .model::<burn::backend::Flex>(&Default::default())
        .err()
        .unwrap();
        #[cfg(feature = "flex")]
        assert!(err.to_string().contains("pt_inception"), "{err}");
    }
}
