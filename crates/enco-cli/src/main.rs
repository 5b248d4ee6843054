//! `enco`: train EnCo on two image folders, resume a run, translate images, score them (FID,
//! PSNR/SSIM).

use std::path::PathBuf;
use std::process::ExitCode;

mod devices;
mod generator_source;
mod options;
mod signals;

use clap::{Parser, Subcommand, ValueEnum};
use devices::DeviceSpec;
use enco_eval::fid::{FID_WEIGHTS_URL, KidConfig};
use enco_eval::{
    ExistingOutputs, FidInception, FidOptions, TestProtocol, evaluate_with_test_protocol,
    fid_and_kid_between_folders, fid_between_folders, output_paths, translate_folder_to,
};
use enco_kernels::{EncoAutodiffBackend, EncoBackend, Executor};
use enco_train::{DatasetPreset, RunEnd, StepReport, TrainingRun};
use generator_source::GeneratorSource;
use indicatif::{ProgressBar, ProgressStyle};
use options::{OptionsError, TrainingOptions};
use signals::StopSignals;

/// EnCo unpaired image-to-image translation.
#[derive(Parser, Debug)]
#[command(name = "enco", version, about, long_about = None)]
struct Cli {
    /// Compute backend (those compiled in: see `--help`).
    #[arg(long, value_enum, global = true, default_value_t = BackendChoice::default())]
    backend: BackendChoice,
    /// Log more: -v the run's events (start, resume, checkpoints, epochs, evaluations), -vv its
    /// configuration and details, -vvv everything. `RUST_LOG` (e.g. `enco_train=debug`)
    /// overrides it. Logs go to standard error.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Train data-parallel on these devices, one replica each: GPU indices of the backend
    /// (`0,1,2,3`), or `cpu:N` for N replicas on the CPU (flex). The batch is split evenly
    /// over them (`--batch-size` a multiple of their number). Other commands use the first.
    /// Default: the backend's default device.
    #[arg(long, global = true)]
    devices: Option<DeviceSpec>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a new model on DATAROOT/trainA and DATAROOT/trainB.
    Train(TrainArgs),
    /// Print the configuration that `enco train` would use with the same options, as JSON
    /// (`enco config --preset cat2dog --ngf 32 > run.json`, then `enco train --config run.json`).
    Config(TrainingOptions),
    /// List every file of DATAROOT/{trainA,trainB,testA,testB} that training or testing could
    /// not use (unreadable, not a decodable image, too small for the transform), with the
    /// reason, and the other files they ignore; exits with status 1 when an image is unusable or
    /// a training folder is missing or empty.
    CheckData {
        /// Folder holding trainA, trainB (and testA, testB).
        dataroot: PathBuf,
        /// Decode every image instead of reading its header only (slower; also finds files
        /// truncated after their header).
        #[arg(long)]
        decode: bool,
        /// The preprocessing the images will go through (only `crop` needs a minimum size).
        #[arg(long, value_enum, default_value = "resize-and-crop")]
        preprocess: options::PreprocessArg,
        /// The crop size (the minimum side with --preprocess crop).
        #[arg(long, default_value_t = 256)]
        crop_size: u32,
    },
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
        #[command(flatten)]
        generator: GeneratorSource,
        /// An image or a folder of images.
        #[arg(long)]
        input: PathBuf,
        /// Output folder (PNG files).
        #[arg(long)]
        output: PathBuf,
        /// Images of one size translated together.
        #[arg(long, default_value_t = 4)]
        batch_size: usize,
        /// Replace output files that exist already (otherwise the command refuses before
        /// writing anything). Input files are never written over.
        #[arg(long)]
        overwrite: bool,
    },
    /// Score images: FID between two folders, or a trained checkpoint on a test set.
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Write a checkpoint's networks for PyTorch: DIR/latest_net_G.safetensors, _D, _F (or
    /// G_A, G_B, D_A, D_B for CycleGAN) under the official state_dict names; PyTorch reads them
    /// with `safetensors.torch.load_file` and `load_state_dict(..., strict=False)`.
    Export {
        /// The checkpoint folder (RUN/checkpoints/iter_N, RUN/best, RUN/snapshots/epoch_N).
        #[arg(long)]
        checkpoint: PathBuf,
        /// The folder to write the files into.
        #[arg(long)]
        pytorch: PathBuf,
    },
    /// Rebuild RUN/report.html (and its loss and evaluation plots) from the run folder's logs
    /// and sample grids: for runs made before reports existed, or copied from elsewhere.
    Report {
        /// The run's output folder.
        run: PathBuf,
    },
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
        #[command(flatten)]
        generator: GeneratorSource,
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
        /// Re-save every target image under its own name instead of the official protocol's
        /// real_B (one file per source image, named by the source stem, with the official
        /// overwrites when the target set is larger).
        #[arg(long)]
        keep_own_names: bool,
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
    fn model<B: EncoBackend>(
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

    fn fid<B: EncoBackend>(
        &self,
        a: &std::path::Path,
        b: &std::path::Path,
        device: &B::Device,
    ) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
        let model = self.model::<B>(device)?;
        let bar = progress(0, 0);
        let on_batch = |done: usize, total: usize| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        };
        let mut report = if self.kid {
            let kid = KidConfig::default();
            serde_json::to_value(fid_and_kid_between_folders(
                a,
                b,
                &model,
                self.fid_batch_size,
                kid,
                device,
                on_batch,
            )?)?
        } else {
            serde_json::to_value(fid_between_folders(
                a,
                b,
                &model,
                self.fid_batch_size,
                device,
                on_batch,
            )?)?
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
    /// Output folder for checkpoints and logs.
    #[arg(long)]
    output: PathBuf,
    /// Stop after this many iterations (a checkpoint is written; `enco resume` continues).
    #[arg(long)]
    max_iterations: Option<u64>,
    /// Start over in an output folder that holds a run: the old run is moved to a sibling
    /// folder (`OUTPUT.replaced-<time>`), nothing is deleted.
    #[arg(long)]
    overwrite: bool,
    #[command(flatten)]
    options: TrainingOptions,
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

/// `enco check-data`: every unusable file of the data set's folders, with the reason.
fn check_data(
    dataroot: &std::path::Path,
    decode: bool,
    preprocess: enco_data::Preprocess,
    crop_size: u32,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    use enco_data::{CheckDepth, check_images, image_files, minimum_side, unsupported_files};
    let transform = enco_data::Transform {
        preprocess,
        crop_size,
        load_size: crop_size,
        flip: false,
    };
    let depth = if decode {
        CheckDepth::Decode
    } else {
        CheckDepth::Header
    };
    let mut bad_total = 0;
    for side in ["trainA", "trainB", "testA", "testB"] {
        let dir = dataroot.join(side);
        let training = side.starts_with("train");
        if !dir.is_dir() {
            if training {
                println!("{side}: missing ({} does not exist)", dir.display());
                bad_total += 1;
            }
            continue;
        }
        let files = match image_files(&dir) {
            Ok(files) => files,
            Err(enco_data::DataError::EmptyFolder(_)) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let bad = check_images(&files, minimum_side(&transform), depth);
        let others = unsupported_files(&dir);
        println!(
            "{side}: {} images, {} unusable, {} other files (ignored)",
            files.len(),
            bad.len(),
            others.len()
        );
        if files.is_empty() && training {
            println!("  no image: training needs at least one");
            bad_total += 1;
        }
        bad_total += bad.len();
        for b in bad {
            println!("  {b}");
        }
        for o in others {
            println!("  note: {o}");
        }
    }
    Ok(if bad_total == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
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

/// Trains until the run ends, `max_iterations` ran, or a SIGINT / SIGTERM asks it to stop (a
/// second one ends the process at once). Returns the exit status.
fn train_loop<B: EncoAutodiffBackend>(
    mut run: TrainingRun<B>,
    max_iterations: Option<u64>,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    if let Some(pid) = run.stale_lock_owner() {
        eprintln!(
            "note: {} had a lock of process {pid}, which is no longer running (it was killed or \
             crashed); its last checkpoint is where this run goes on from",
            run.output().display()
        );
    }
    if !run.skipped_images().is_empty() {
        eprintln!(
            "training without {} unusable images (--skip-bad-images), listed in {}",
            run.skipped_images().len(),
            run.output().join(enco_train::BAD_IMAGES_FILE).display()
        );
    }
    let signals = StopSignals::install()?;
    run.set_stop_flag(signals.stop_flag());
    let total = (run.epochs() * run.batches_per_epoch()) as u64;
    let bar = progress(total, run.position.iteration);
    eprintln!(
        "training on {} ({} iterations per epoch, {} epochs); output in {}, watch it in {}",
        run.config.dataroot.display(),
        run.batches_per_epoch(),
        run.epochs(),
        run.output().display(),
        run.output().join(enco_train::REPORT_FILE).display()
    );
    let mut skipped = 0u64;
    let end = run.run(max_iterations, |r: &StepReport| {
        let l = r.losses;
        bar.set_position(r.iteration);
        if r.skipped {
            skipped += 1;
            bar.println(format!(
                "iteration {}: non-finite losses (D {} G {}), step undone (--nan-policy skip-step)",
                r.iteration, l.d, l.g
            ));
        }
        bar.set_message(format!(
            "epoch {}/{} D {:.3} G {:.3} GAN {:.3} content {:.3} idt {:.3}",
            r.epoch, r.epochs, l.d, l.g, l.g_gan, l.content, l.identity
        ));
    })?;
    bar.finish();
    if skipped > 0 {
        eprintln!("{skipped} steps were undone for non-finite losses");
    }
    let resume = format!("enco resume --output {}", run.output().display());
    match end {
        RunEnd::Stopped => {
            eprintln!(
                "stopped by signal at iteration {}; checkpoint written, logs flushed. Continue \
                 with: {resume}",
                run.position.iteration
            );
            Ok(ExitCode::from(signals.exit_status()))
        }
        RunEnd::IterationLimit => {
            eprintln!(
                "stopped at iteration {} (--max-iterations); continue with: {resume}",
                run.position.iteration
            );
            Ok(ExitCode::SUCCESS)
        }
        RunEnd::Finished => {
            eprintln!(
                "finished at iteration {}; report in {}, losses in {}, checkpoints in {}",
                run.position.iteration,
                run.output().join(enco_train::REPORT_FILE).display(),
                run.output().join(enco_train::LOSS_LOG_FILE).display(),
                run.output().join("checkpoints").display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn execute<B: EncoAutodiffBackend>(
    command: Command,
    devices: Vec<B::Device>,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let device = devices[0].clone();
    match command {
        Command::Train(args) => {
            let config = args.options.resolve()?;
            if config.dataroot.as_os_str().is_empty() {
                return Err(OptionsError::Missing(
                    "no training data: pass --dataroot (or a --config file that names one)",
                )
                .into());
            }
            if let (Some(preset), false) = (args.options.preset, config.dataroot.is_dir()) {
                let preset = DatasetPreset::from(preset);
                return Err(format!(
                    "{} does not exist; get the {} data set: {}",
                    config.dataroot.display(),
                    preset,
                    preset.data_hint()
                )
                .into());
            }
            config
                .check_replicas(devices.len())
                .map_err(OptionsError::from_validation)?;
            eprintln!("configuration:\n{}", serde_json::to_string_pretty(&config)?);
            let mut run = if args.overwrite {
                let (run, moved) = TrainingRun::<B>::replace(config, &args.output, &device)
                    .map_err(OptionsError::from_validation)?;
                if let Some(moved) = moved {
                    eprintln!("the previous run was moved to {}", moved.display());
                }
                run
            } else {
                TrainingRun::<B>::new(config, &args.output, &device)
                    .map_err(OptionsError::from_validation)?
            };
            run.set_devices(devices)
                .map_err(OptionsError::from_validation)?;
            train_loop(run, args.max_iterations)
        }
        Command::CheckData {
            dataroot,
            decode,
            preprocess,
            crop_size,
        } => check_data(&dataroot, decode, preprocess.into(), crop_size),
        Command::Config(options) => {
            let config = options.resolve()?;
            // Building the networks checks what only they know (the channels of paired taps).
            config
                .model
                .init_trainer::<B>(&device)
                .map_err(OptionsError::from_validation)?;
            println!("{}", serde_json::to_string_pretty(&config)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Export {
            checkpoint,
            pytorch,
        } => {
            for file in enco_train::export_pytorch::<B>(&checkpoint, &pytorch, &device)? {
                println!("{}", file.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { run } => {
            let page = enco_train::regenerate_report(&run)?;
            println!("{}", page.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Resume {
            output,
            max_iterations,
        } => {
            let mut run = TrainingRun::<B>::resume(&output, &device)?;
            run.set_devices(devices)
                .map_err(OptionsError::from_validation)?;
            train_loop(run, max_iterations)
        }
        Command::Translate {
            generator,
            input,
            output,
            batch_size,
            overwrite,
        } => {
            let existing = if overwrite {
                ExistingOutputs::Overwrite
            } else {
                ExistingOutputs::Refuse
            };
            let generator = generator.load::<B::InnerBackend>(&device)?;
            if input.is_file() {
                let folder = input.parent().unwrap_or(std::path::Path::new("."));
                let target = output_paths(std::slice::from_ref(&input), folder, &output, existing)?;
                std::fs::create_dir_all(&output)?;
                let image = enco_data::load_rgb(&input)?;
                let out = enco_eval::translate_image(&generator, &image, &device)?;
                enco_data::save_rgb(&out, &target[0])?;
            } else {
                let bar = progress(0, 0);
                translate_folder_to(
                    &generator,
                    &input,
                    &output,
                    batch_size,
                    existing,
                    &device,
                    |done, total| {
                        bar.set_length(total as u64);
                        bar.set_position(done as u64);
                    },
                )?;
                bar.finish();
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval(EvalCommand::Fid {
            folder_a,
            folder_b,
            fid,
            report,
        }) => {
            let result = fid.fid::<B::InnerBackend>(&folder_a, &folder_b, &device)?;
            write_report(&result, report.as_deref())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval(EvalCommand::Checkpoint {
            generator,
            dataroot,
            output,
            size,
            reverse,
            keep_own_names,
            paired_target,
            no_fid,
            fid,
        }) => {
            let checkpoint = generator.checkpoint.clone();
            let generator = generator.load::<B::InnerBackend>(&device)?;
            let protocol = TestProtocol {
                size: (size > 0).then_some(size),
                reverse,
                keep_own_names,
                paired_target,
            };
            let model = if no_fid {
                None
            } else {
                Some(fid.model::<B::InnerBackend>(&device)?)
            };
            let options = model.as_ref().map(|model| FidOptions {
                model,
                batch_size: fid.fid_batch_size,
                kid: fid.kid.then(KidConfig::default),
            });
            let bar = progress(0, 0);
            let scores = evaluate_with_test_protocol(
                &generator,
                &dataroot,
                &output,
                &protocol,
                options,
                &device,
                |stage, done, total| {
                    bar.set_message(stage.to_string());
                    bar.set_length(total as u64);
                    bar.set_position(done as u64);
                },
            )?;
            bar.finish_and_clear();
            let mut report = serde_json::to_value(scores)?;
            report["checkpoint"] = serde_json::json!(checkpoint);
            report["dataroot"] = serde_json::json!(dataroot);
            write_report(&report, Some(&output.join("report.json")))?;
            Ok(ExitCode::SUCCESS)
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

/// Runs `command` on the GPUs of backend `B` that `--devices` names (its default device
/// without it), each started with a first tensor so that a missing driver is an error here, not
/// a panic later.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
fn execute_on_gpus<B: EncoAutodiffBackend>(
    name: &str,
    spec: Option<&DeviceSpec>,
    device: impl Fn(usize) -> B::Device,
    command: Command,
) -> Result<ExitCode, Box<dyn std::error::Error>>
where
    B::Device: std::panic::UnwindSafe,
{
    use burn::prelude::*;
    let devices = match spec {
        None => vec![B::Device::default()],
        Some(spec) => spec.gpu_devices(device)?,
    };
    for d in &devices {
        let d = d.clone();
        start_backend(name, move || {
            let _ = Tensor::<B, 1>::zeros([1], &d).into_data();
        })?;
    }
    execute::<B>(command, devices)
}

/// Installs the log subscriber: `RUST_LOG` when set, else warnings and errors, plus the run's
/// events with `-v`, details with `-vv`, everything with `-vvv`.
fn install_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let level = match verbose {
        0 => "warn",
        // `enco` covers the command and every enco_* crate (targets match by prefix).
        1 => "warn,enco=info",
        2 => "info,enco=debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    install_logging(cli.verbose);
    tracing::info!(backend = ?cli.backend, "backend chosen");
    // The command is a program of its own: its steps run on a rayon pool of its main thread's
    // (`Executor::CallerPool`), and freed tensors' memory is reused rather than returned to
    // the system (`keep_freed_memory`): the fastest way on the CPU.
    let kept = enco_kernels::keep_freed_memory();
    tracing::debug!(kept, "freed memory kept for reuse");
    let spec = cli.devices.clone();

    let result = Executor::CallerPool.run(|| match cli.backend {
        #[cfg(feature = "flex")]
        BackendChoice::Flex => match spec.map(|s| s.cpu_devices(Default::default())) {
            None => execute::<burn::backend::Autodiff<burn::backend::Flex>>(
                cli.command,
                vec![Default::default()],
            ),
            Some(Ok(devices)) => {
                execute::<burn::backend::Autodiff<burn::backend::Flex>>(cli.command, devices)
            }
            Some(Err(e)) => Err(e.into()),
        },
        #[cfg(feature = "wgpu")]
        BackendChoice::Wgpu => execute_on_gpus::<burn::backend::Autodiff<burn::backend::Wgpu>>(
            "wgpu (Vulkan/Metal/DirectX adapter)",
            spec.as_ref(),
            burn::backend::wgpu::WgpuDevice::DiscreteGpu,
            cli.command,
        ),
        #[cfg(feature = "cuda")]
        BackendChoice::Cuda => execute_on_gpus::<burn::backend::Autodiff<burn::backend::Cuda>>(
            "CUDA (NVIDIA driver libcuda)",
            spec.as_ref(),
            burn::backend::cuda::CudaDevice::new,
            cli.command,
        ),
    });
    match result {
        Ok(code) => code,
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
    fn devices_are_given_to_train_and_resume() {
        let cli = Cli::try_parse_from([
            "enco",
            "train",
            "--dataroot",
            "d",
            "--output",
            "o",
            "--devices",
            "cpu:2",
        ])
        .unwrap();
        assert_eq!(cli.devices, Some(DeviceSpec::Cpu(2)));
        let cli =
            Cli::try_parse_from(["enco", "--devices", "0,1", "resume", "--output", "o"]).unwrap();
        assert_eq!(cli.devices, Some(DeviceSpec::Indices(vec![0, 1])));
        let err = Cli::try_parse_from(["enco", "resume", "--output", "o", "--devices", "gpu"])
            .unwrap_err();
        assert!(err.to_string().contains("cpu:2"), "{err}");
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
            "--max-iterations",
            "2",
        ])
        .unwrap();
        let Command::Train(args) = cli.command else {
            panic!("train expected")
        };
        assert_eq!(args.output, PathBuf::from("run"));
        assert_eq!(args.max_iterations, Some(2));
        let config = args.options.resolve().unwrap();
        assert_eq!(config.direction, enco_data::Direction::BtoA);
        assert_eq!(config.transform.crop_size, 128);
        assert_eq!(config.transform.load_size, 143);
        assert_eq!(config.n_epochs, 3);
        assert_eq!(config.model.seed(), 7);
        assert_eq!(config.warmup_epochs, 20);
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
        // `enco config` takes the same options.
        let cli = Cli::try_parse_from(["enco", "config", "--model", "fastcut"]).unwrap();
        let Command::Config(options) = cli.command else {
            panic!("config expected")
        };
        let config = options.resolve().unwrap();
        assert_eq!(config.model.kind(), enco_train::ModelKind::FastCut);
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
