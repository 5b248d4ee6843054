//! Trains EnCo on AFHQ cat → dog with the official README command's values (the `cat2dog`
//! preset), then translates `testA` into `OUTPUT/fake_B` at full size.
//!
//! ```sh
//! cargo run --release --example cat2dog --features cuda -- datasets/afhq_cat2dog runs/cat2dog
//! cargo run --release --example cat2dog --features wgpu          # any Vulkan/Metal/DX12 GPU
//! cargo run --release --example cat2dog                          # CPU (flex): slow at 256 px
//! ```
//!
//! The data root must hold `trainA` (cats), `trainB` (dogs), `testA` and `testB`; when it is
//! missing the example says where to get AFHQ and how to lay it out. Running the same command
//! again after a stop resumes exactly where the run stopped. `--max-iterations N` (or
//! `ENCO_MAX_ITERATIONS=N`) stops after N iterations (a checkpoint is written).

use enco::kernels::Executor;
use std::path::PathBuf;
use std::time::Instant;

use enco::backend::{Backend, NAME, TrainBackend, default_device};
use enco::eval::translate_folder;
use enco::train::{DatasetPreset, TrainingRun, load_generator};

/// Train EnCo on AFHQ cat → dog with the README command's values.
#[derive(clap::Parser)]
struct Args {
    /// Folder holding trainA (cats), trainB (dogs), testA and testB.
    #[arg(default_value = "datasets/afhq_cat2dog")]
    dataroot: PathBuf,
    /// Output folder of the run (resumed when it already holds one).
    #[arg(default_value = "runs/cat2dog")]
    output: PathBuf,
    /// Stop after this many iterations (a checkpoint is written; run again to resume).
    #[arg(long, env = "ENCO_MAX_ITERATIONS")]
    max_iterations: Option<u64>,
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
    let Args {
        dataroot,
        output,
        max_iterations,
    } = <Args as clap::Parser>::parse();
    let preset = DatasetPreset::Cat2dog;
    if !dataroot.join("trainA").is_dir() || !dataroot.join("trainB").is_dir() {
        eprintln!(
            "no training data in {}: get the {preset} data set from {}",
            dataroot.display(),
            preset.data_hint()
        );
        std::process::exit(2);
    }
    let device = default_device();
    let mut run = if output.join("training.json").is_file() {
        println!("resuming {}", output.display());
        TrainingRun::<TrainBackend>::resume(&output, &device)?
    } else {
        TrainingRun::<TrainBackend>::new(preset.training_config(&dataroot), &output, &device)?
    };
    let total = (run.epochs() * run.batches_per_epoch()) as u64;
    println!(
        "{preset} on {NAME}: {} epochs × {} iterations, output in {}",
        run.epochs(),
        run.batches_per_epoch(),
        output.display()
    );
    let start = Instant::now();
    let first = run.position.iteration;
    run.run(max_iterations, |r| {
        if r.iteration.is_multiple_of(100) {
            let rate = (r.iteration - first) as f64 / start.elapsed().as_secs_f64();
            let eta = (total - r.iteration) as f64 / rate.max(1e-9);
            println!(
                "it {}/{total} epoch {}/{} lr×{:.3}  D {:.3}  GAN {:.3}  EnCo {:.3}  idt {:.3}  \
                 {rate:.2} it/s, ETA {:.1} h",
                r.iteration,
                r.epoch,
                r.epochs,
                r.lr_factor,
                r.losses.d,
                r.losses.g_gan,
                r.losses.content,
                r.losses.identity,
                eta / 3600.0
            );
        }
    })?;
    let checkpoint = run.checkpoint()?;
    if run.position.iteration < total {
        println!(
            "stopped at iteration {}; run again to resume",
            run.position.iteration
        );
        return Ok(());
    }
    let generator = load_generator::<Backend>(&checkpoint, &device)?;
    let fake = output.join("fake_B");
    let written = translate_folder(
        &generator,
        &dataroot.join("testA"),
        &fake,
        8,
        &device,
        |_, _| {},
    )?;
    println!(
        "translated {} test cats into {}; score them with `enco eval fid {} {}`",
        written.len(),
        fake.display(),
        fake.display(),
        dataroot.join("testB").display()
    );
    Ok(())
}
