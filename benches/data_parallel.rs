//! Data-parallel benchmark: EnCo at the paper's widths trained by [`TrainingRun`] on a
//! generated data set, with a global batch of N images, once on one device and once on N
//! devices (one image per replica, gradients averaged with Burn's collective). Reports the
//! median seconds per iteration (data loading included, as in a run) and images per second.
//!
//! ```sh
//! cargo bench --bench data_parallel -- --devices 2 --size 128        # flex: 2 replicas on the CPU
//! cargo bench --bench data_parallel --no-default-features --features cuda -- --devices 4
//! ```
//!
//! On the CPU the replicas share the cores, so N replicas are no faster than one device; the
//! bench is for machines with N GPUs (`benches/gpu/run.sh` runs it when it finds several).
//! Each row also lands as a JSON line in `target/bench/data_parallel.jsonl`.

use std::io::Write;
use std::time::Instant;

use enco::backend::{NAME, TrainBackend, device};
use enco::data::{Preprocess, SyntheticDatasetConfig, Transform};
use enco::kernels::Executor;
use enco::train::{ModelKind, TrainingConfig, TrainingRun};

struct Args {
    devices: usize,
    size: u32,
    iters: usize,
    warmup: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        devices: 2,
        size: 128,
        iters: 5,
        warmup: 2,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |default| it.next().and_then(|v| v.parse().ok()).unwrap_or(default);
        match flag.as_str() {
            "--devices" => args.devices = value(2).max(1),
            "--size" => args.size = value(128) as u32,
            "--iters" => args.iters = value(5).max(1),
            "--warmup" => args.warmup = value(2),
            _ => {}
        }
    }
    args
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Seconds per iteration of a run of `replicas` devices with a batch of `batch` images.
fn time_run(
    data: &std::path::Path,
    args: &Args,
    replicas: usize,
    batch: usize,
) -> Result<f64, Box<dyn std::error::Error>> {
    let output = data.join(format!("run-{replicas}"));
    let _ = std::fs::remove_dir_all(&output);
    let steps = args.warmup + args.iters;
    let config = TrainingConfig::for_model(ModelKind::Enco, data)
        .with_transform(Transform {
            preprocess: Preprocess::ResizeAndCrop,
            load_size: args.size,
            crop_size: args.size,
            flip: true,
        })
        .with_batch_size(batch)
        .with_n_epochs(1)
        .with_n_epochs_decay(0)
        .with_warmup_epochs(0)
        .with_checkpoint_every(0)
        .with_sample_every(0);
    let mut run = TrainingRun::<TrainBackend>::new(config, &output, &device(0))?;
    run.set_devices((0..replicas).map(device).collect())?;
    let mut last = Instant::now();
    let mut times = Vec::new();
    run.run(Some(steps as u64), |report| {
        let now = Instant::now();
        if report.iteration > args.warmup as u64 {
            times.push((now - last).as_secs_f64());
        }
        last = now;
    })?;
    drop(run);
    let _ = std::fs::remove_dir_all(&output);
    Ok(median(times))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    enco::kernels::keep_freed_memory();
    Executor::CallerPool.run(run)
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args();
    let n = args.devices;
    let data = std::env::temp_dir().join(format!("enco-bench-dp-{}", std::process::id()));
    let images = (args.warmup + args.iters + 1) * n;
    SyntheticDatasetConfig::new()
        .with_size(args.size)
        .with_train_a(images)
        .with_train_b(images)
        .with_test(0)
        .write(&data)?;
    std::fs::create_dir_all("target/bench")?;
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open("target/bench/data_parallel.jsonl")?;
    println!(
        "backend {NAME}; EnCo at {0}×{0}, batch {n}; {1} timed iterations after {2} warm-up",
        args.size, args.iters, args.warmup
    );
    println!("| devices | images per device | s/iter | images/s |");
    println!("|---|---|---|---|");
    for replicas in [1, n] {
        let s = time_run(&data, &args, replicas, n)?;
        println!(
            "| {replicas} | {} | {s:.3} | {:.2} |",
            n / replicas,
            n as f64 / s
        );
        let row = serde_json::json!({
            "backend": NAME, "size": args.size, "batch": n, "devices": replicas,
            "s_per_iter": s, "images_per_s": n as f64 / s, "iters": args.iters,
        });
        writeln!(log, "{row}")?;
        if n == 1 {
            break;
        }
    }
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}
