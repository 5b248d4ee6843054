//! Quickstart: makes a synthetic unpaired data set (light "day" scenes → warm "dusk" scenes by a
//! known colour mapping), trains EnCo (or a baseline) on it with small networks, translates the
//! test scenes and scores them against their known targets (PSNR / SSIM), next to the identity
//! baseline (the untranslated input scored against the same targets).
//!
//! ```sh
//! cargo run --release --example quickstart                       # flex (CPU)
//! cargo run --release --example quickstart -- --epochs 2         # shorter
//! cargo run --release --example quickstart -- --model cyclegan   # enco, cut, fastcut, cyclegan
//! cargo run --release --example quickstart --features cuda       # on an NVIDIA GPU
//! ```
//!
//! Everything goes to `target/quickstart/` (data, checkpoints, `losses.jsonl`,
//! `loss_curve.png`, `samples/`, `eval.jsonl`, `best/`, `report.html`, `translated/`): open
//! `target/quickstart/run/report.html` in a browser to see the run. Stop it at any time and run it again with
//! `--resume` to continue exactly where it stopped.

use enco::kernels::Executor;
use std::path::PathBuf;
use std::time::Instant;

use enco::backend::{NAME, TrainBackend, default_device};
use enco::data::{Preprocess, SyntheticDatasetConfig, Transform};
use enco::eval::{paired_scores, translate_folder};
use enco::nn::{NLayerDiscriminatorConfig, ResnetGeneratorConfig};
use enco::sampling::DagSamplerConfig;
use enco::train::{
    CutConfig, CycleGanConfig, EncoConfig, EvaluationConfig, ModelConfig, ModelKind,
    TrainingConfig, TrainingRun, load_generator,
};

/// Train EnCo on a generated day → dusk data set and score the translations.
#[derive(clap::Parser)]
struct Args {
    /// Epochs of 200 iterations (half at the base learning rate, half decaying).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u64).range(2..))]
    epochs: u64,
    /// The model: enco, cut, fastcut or cyclegan.
    #[arg(long, default_value = "enco")]
    model: ModelKind,
    /// Output folder (data, run, translated images); default `target/quickstart`, with
    /// `-<model>` appended for the baselines.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Continue the run in OUTPUT exactly where it stopped.
    #[arg(long)]
    resume: bool,
}

/// The kernels run on a rayon pool of the main thread's ([`Executor::CallerPool`]), and freed
/// tensors' memory is reused rather than returned to the system
/// ([`keep_freed_memory`](enco::kernels::keep_freed_memory)): the fastest way on the CPU; a
/// program embedding the library may leave the defaults instead.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    enco::kernels::keep_freed_memory();
    Executor::CallerPool.run(run)
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = <Args as clap::Parser>::parse();
    let device = default_device();
    let output = args.output.clone().unwrap_or_else(|| match args.model {
        ModelKind::Enco => PathBuf::from("target/quickstart"),
        other => PathBuf::from(format!("target/quickstart-{other}")),
    });
    let data = output.join("data");
    let run_dir = output.join("run");
    let mut run = if args.resume {
        TrainingRun::<TrainBackend>::resume(&run_dir, &device)?
    } else {
        if run_dir.exists() {
            // A fresh run: the previous one in this folder is replaced (use --resume to go on).
            println!("replacing the previous run in {}", run_dir.display());
            std::fs::remove_dir_all(&run_dir)?;
        }
        println!("writing the synthetic data set to {}", data.display());
        SyntheticDatasetConfig::new().write(&data)?;
        let model = small_model(args.model);
        let epochs = args.epochs as usize;
        let half = epochs / 2;
        let config = TrainingConfig::new(model, data.clone())
            .with_transform(Transform {
                preprocess: Preprocess::None,
                load_size: 64,
                crop_size: 64,
                flip: true,
            })
            .with_n_epochs(epochs - half)
            .with_n_epochs_decay(half)
            .with_warmup_epochs(0)
            .with_checkpoint_every(200)
            .with_sample_every(200)
            // PSNR/SSIM against the known targets every 200 iterations: eval.jsonl,
            // eval_curve.png, best/ and the evaluation table of report.html.
            .with_evaluation(Some(
                EvaluationConfig::new(200).with_paired_target(Some(data.join("testB"))),
            ))
            .with_seed(0);
        TrainingRun::<TrainBackend>::new(config, &run_dir, &device)?
    };
    let total = run.epochs() * run.batches_per_epoch();
    println!(
        "training on {NAME}: {} epochs × {} iterations",
        run.epochs(),
        run.batches_per_epoch()
    );
    let start = Instant::now();
    let first = run.position.iteration;
    run.run(None, |r| {
        if r.iteration.is_multiple_of(50) || r.iteration as usize == total {
            let done = (r.iteration - first) as f64;
            let rate = done / start.elapsed().as_secs_f64();
            println!(
                "it {:>5}/{total} epoch {}/{}  D {:.3}  GAN {:.3}  content {:.3}  idt {:.3}  ({rate:.1} it/s)",
                r.iteration, r.epoch, r.epochs, r.losses.d, r.losses.g_gan, r.losses.content, r.losses.identity
            );
        }
    })?;
    let trained = start.elapsed().as_secs_f64();
    let checkpoint = run.checkpoint()?;
    let generator = load_generator::<enco::backend::Backend>(&checkpoint, &device)?;
    let translated = output.join("translated");
    let results = translate_folder(
        &generator,
        &data.join("testA"),
        &translated,
        8,
        &device,
        |_, _| {},
    )?;
    let model = paired_scores(&translated, &data.join("testB"))?;
    let identity = paired_scores(&data.join("testA"), &data.join("testB"))?;
    let (psnr_model, ssim_model) = (model.psnr, model.ssim);
    let (psnr_identity, ssim_identity) = (identity.psnr, identity.ssim);
    println!(
        "trained {} iterations in {trained:.0} s",
        run.position.iteration - first
    );
    println!(
        "translated {} test scenes into {}",
        results.len(),
        translated.display()
    );
    println!(
        "PSNR vs known targets: {psnr_model:.2} dB (identity baseline {psnr_identity:.2} dB, margin {:+.2} dB)",
        psnr_model - psnr_identity
    );
    println!("SSIM vs known targets: {ssim_model:.4} (identity baseline {ssim_identity:.4})");
    Ok(())
}

/// Small networks (ngf = ndf = 16, 3 residual blocks, heads of width 64) so that a CPU trains in
/// minutes. EnCo's pairs are the same stages as the paper's (3, 28), (7, 24), (13, 18) in this
/// shorter generator; CUT's taps are the input, the two convolutions before their norms and the
/// first and last residual blocks.
fn small_model(kind: ModelKind) -> ModelConfig {
    let generator = ResnetGeneratorConfig::new().with_ngf(16).with_n_blocks(3);
    let discriminator = NLayerDiscriminatorConfig::new().with_ndf(16);
    match kind {
        ModelKind::Enco => EncoConfig::new()
            .with_generator(generator)
            .with_discriminator(discriminator)
            .with_nce_layers(vec![3, 7, 12, 14, 18, 22])
            .with_head_nc(64)
            .with_sampler(DagSamplerConfig::new().with_num_patches(64))
            .with_lr_g(2e-4)
            .with_lr_f(2e-4)
            .with_lr_d(2e-4)
            .with_seed(0)
            .into(),
        ModelKind::Cut | ModelKind::FastCut => {
            let base = if kind == ModelKind::Cut {
                CutConfig::cut()
            } else {
                CutConfig::fastcut()
            };
            base.with_generator(generator)
                .with_discriminator(discriminator)
                .with_nce_layers(vec![0, 4, 8, 12, 14])
                .with_head_nc(64)
                .with_num_patches(64)
                .with_seed(0)
                .into()
        }
        ModelKind::CycleGan => CycleGanConfig::new()
            .with_generator(generator)
            .with_discriminator(discriminator)
            .with_seed(0)
            .into(),
    }
}
