//! Quickstart: makes a synthetic unpaired data set (light "day" scenes → warm "dusk" scenes by a
//! known colour mapping), trains EnCo on it with small networks, translates the test scenes and
//! scores them against their known targets (PSNR / SSIM), next to the identity baseline
//! (the untranslated input scored against the same targets).
//!
//! ```sh
//! cargo run --release --example quickstart                       # flex (CPU)
//! cargo run --release --example quickstart -- --epochs 2         # shorter
//! cargo run --release --example quickstart --features cuda       # on an NVIDIA GPU
//! ```
//!
//! Everything goes to `target/quickstart/` (data, checkpoints, `losses.jsonl`,
//! `loss_curve.png`, `samples/`, `translated/`). Stop it at any time and run it again with
//! `--resume` to continue exactly where it stopped.

use std::path::PathBuf;
use std::time::Instant;

use enco::backend::{NAME, TrainBackend, default_device};
use enco::data::{Preprocess, SyntheticDatasetConfig, Transform, image_files, load_rgb};
use enco::eval::{psnr, ssim, translate_folder};
use enco::nn::{NLayerDiscriminatorConfig, ResnetGeneratorConfig};
use enco::sampling::DagSamplerConfig;
use enco::train::{EncoConfig, TrainingConfig, TrainingRun, load_generator};

struct Args {
    epochs: usize,
    output: PathBuf,
    resume: bool,
}

fn args() -> Result<Args, String> {
    let mut parsed = Args {
        epochs: 6,
        output: PathBuf::from("target/quickstart"),
        resume: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--epochs" => {
                parsed.epochs = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--epochs needs a number")?
            }
            "--output" => parsed.output = it.next().ok_or("--output needs a folder")?.into(),
            "--resume" => parsed.resume = true,
            other => {
                return Err(format!(
                    "unknown argument {other} (--epochs N, --output DIR, --resume)"
                ));
            }
        }
    }
    Ok(parsed)
}

/// Mean PSNR and SSIM of every `results` image against the same-named `targets` image.
fn score(
    results: &[PathBuf],
    targets: &std::path::Path,
) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let (mut p, mut s) = (0.0, 0.0);
    for file in results {
        let name = file.file_name().ok_or("file name")?;
        let target = load_rgb(&targets.join(name))?;
        let result = load_rgb(file)?;
        p += psnr(&result, &target)?;
        s += ssim(&result, &target)?;
    }
    let n = results.len() as f64;
    Ok((p / n, s / n))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args()?;
    let device = default_device();
    let data = args.output.join("data");
    let run_dir = args.output.join("run");
    let mut run = if args.resume {
        TrainingRun::<TrainBackend>::resume(&run_dir, &device)?
    } else {
        println!("writing the synthetic data set to {}", data.display());
        SyntheticDatasetConfig::new().write(&data)?;
        // Small networks (ngf = ndf = 16, 3 residual blocks, heads of width 64) so that a CPU
        // trains in minutes; the pairs are the same stages as the paper's (3, 28), (7, 24),
        // (13, 18) in this shorter generator.
        let model = EncoConfig::new()
            .with_generator(ResnetGeneratorConfig::new().with_ngf(16).with_n_blocks(3))
            .with_discriminator(NLayerDiscriminatorConfig::new().with_ndf(16))
            .with_nce_layers(vec![3, 7, 12, 14, 18, 22])
            .with_head_nc(64)
            .with_sampler(DagSamplerConfig::new().with_num_patches(64))
            .with_lr_g(2e-4)
            .with_lr_f(2e-4)
            .with_lr_d(2e-4)
            .with_seed(0);
        let half = (args.epochs / 2).max(1);
        let config = TrainingConfig::new(model, data.clone())
            .with_transform(Transform {
                preprocess: Preprocess::None,
                load_size: 64,
                crop_size: 64,
                flip: true,
            })
            .with_n_epochs(args.epochs - half)
            .with_n_epochs_decay(half)
            .with_warmup_epochs(0)
            .with_checkpoint_every(200)
            .with_sample_every(200)
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
                "it {:>5}/{total} epoch {}/{}  D {:.3}  GAN {:.3}  EnCo {:.3}  idt {:.3}  ({rate:.1} it/s)",
                r.iteration, r.epoch, r.epochs, r.losses.d, r.losses.g_gan, r.losses.content, r.losses.identity
            );
        }
    })?;
    let trained = start.elapsed().as_secs_f64();
    let checkpoint = run.checkpoint()?;
    let generator = load_generator::<enco::backend::Backend>(&checkpoint, &device)?;
    let translated = args.output.join("translated");
    let results = translate_folder(
        &generator,
        &data.join("testA"),
        &translated,
        8,
        &device,
        |_, _| {},
    )?;
    let (psnr_model, ssim_model) = score(&results, &data.join("testB"))?;
    let inputs = image_files(&data.join("testA"))?;
    let (psnr_identity, ssim_identity) = score(&inputs, &data.join("testB"))?;
    println!(
        "trained {} iterations in {trained:.0} s",
        run.position.iteration - first
    );
    println!("translated test scenes: {}", translated.display());
    println!(
        "PSNR vs known targets: {psnr_model:.2} dB (identity baseline {psnr_identity:.2} dB, margin {:+.2} dB)",
        psnr_model - psnr_identity
    );
    println!("SSIM vs known targets: {ssim_model:.4} (identity baseline {ssim_identity:.4})");
    Ok(())
}
