//! FID feature-extraction throughput: the pool3 statistics of a folder of PNG images through
//! the FID Inception (`enco::eval::folder_statistics`, what `enco eval fid` runs on each
//! folder), with pytorch-fid's batch size of 50. Reports images per second and the CPU time
//! over the wall time (how many cores the extraction kept busy).
//!
//! The network has random weights (the speed does not depend on them); the images are random
//! RGB noise written to a temporary folder first.
//!
//! ```sh
//! cargo bench --bench fid                          # 100 images of 64×64
//! cargo bench --bench fid -- --images 200 --size 256 --batch 50
//! ```
//!
//! `benches/reference/fid_throughput.py` times pytorch-fid on the same kind of folder.

use std::path::Path;
use std::time::Instant;

use enco::backend::{Backend, NAME, default_device};
use enco::data::image::RgbImage;
use enco::eval::fid::{FID_DEFAULT_BATCH_SIZE, FidInceptionConfig, folder_statistics};
use enco::kernels::Executor;
use enco::rand::{RngExt, SeedableRng, rngs::ChaCha8Rng};

/// FID feature-extraction throughput on a folder of random PNG images.
#[derive(clap::Parser)]
struct Args {
    /// Number of images.
    #[arg(long, default_value_t = 100)]
    images: usize,
    /// Side of the square images, in pixels.
    #[arg(long, default_value_t = 64)]
    size: u32,
    /// Images per Inception batch (pytorch-fid's default).
    #[arg(long, default_value_t = FID_DEFAULT_BATCH_SIZE)]
    batch: usize,
    /// Timed runs over the folder.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..))]
    runs: u64,
    /// Passed by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

/// User plus system CPU time of this process, in seconds (Linux; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which is in parentheses and may hold spaces).
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the file, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn write_images(dir: &Path, count: usize, size: u32) -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for i in 0..count {
        let mut image = RgbImage::new(size, size);
        for px in image.pixels_mut() {
            px.0 = [rng.random(), rng.random(), rng.random()];
        }
        image.save(dir.join(format!("{i:05}.png")))?;
    }
    Ok(())
}

/// The kernels run on a rayon pool of the main thread's ([`Executor::CallerPool`]), and freed
/// tensors' memory is reused ([`keep_freed_memory`](enco::kernels::keep_freed_memory)), as the
/// `enco` command runs them.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    enco::kernels::keep_freed_memory();
    Executor::CallerPool.run(run)
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = <Args as clap::Parser>::parse();
    let dir = std::env::temp_dir().join(format!("enco-fid-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    write_images(&dir, args.images, args.size)?;
    let device = default_device();
    let model = FidInceptionConfig::new().init::<Backend>(&device);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "backend {NAME}; {} images of {}×{}, batch {}, {cores} cores",
        args.images, args.size, args.size, args.batch
    );
    println!("| run | wall s | images/s | CPU s / wall s |");
    println!("|---|---|---|---|");
    let mut result = Ok(());
    for run in 1..=args.runs {
        let (wall0, cpu0) = (Instant::now(), cpu_seconds());
        if let Err(e) = folder_statistics(&model, &dir, args.batch, &device, |_, _| {}) {
            result = Err(e.into());
            break;
        }
        let wall = wall0.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu0;
        println!(
            "| {run} | {wall:.2} | {:.2} | {:.2} |",
            args.images as f64 / wall,
            cpu / wall
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    result
}
