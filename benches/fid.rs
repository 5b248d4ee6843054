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

struct Args {
    images: usize,
    size: u32,
    batch: usize,
    runs: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        images: 100,
        size: 64,
        batch: FID_DEFAULT_BATCH_SIZE,
        runs: 2,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| -> usize {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} takes a number"))
        };
        match a.as_str() {
            "--images" => args.images = value("--images"),
            "--size" => args.size = value("--size") as u32,
            "--batch" => args.batch = value("--batch"),
            "--runs" => args.runs = value("--runs").max(1),
            _ => {} // cargo bench passes --bench
        }
    }
    args
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

/// The kernels run on a rayon pool of the main thread's ([`Executor::CallerPool`]), as the
/// `enco` command runs them.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    Executor::CallerPool.run(run)
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args();
    let dir = std::env::temp_dir().join(format!("enco-fid-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    write_images(&dir, args.images, args.size)?;
    let device = default_device();
    let model = FidInceptionConfig::new().init::<Backend>(&device);
    println!(
        "backend {NAME}; {} images of {}×{}, batch {}, {} threads",
        args.images,
        args.size,
        args.size,
        args.batch,
        rayon_threads()
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

fn rayon_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
