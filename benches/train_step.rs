//! Training-step benchmark: the paper's networks (ResNet-9 generator ngf 64, PatchGAN ndf 64,
//! heads of width 256, K = 256) on random images, phase 1 (identity branch on, G on a batch of 2)
//! and phase 2 (identity off), reporting the median seconds per iteration and the peak resident
//! memory next to the official PyTorch code's figures on the same machine class
//! (`benches/reference/pytorch_cpu.json`).
//!
//! ```sh
//! cargo bench --bench train_step                               # flex, 128 and 256 px
//! cargo bench --bench train_step -- --sizes 128 --iters 5
//! cargo bench --bench train_step -- --sizes 128 --phases 2   # one phase (e.g. under a profiler)
//! cargo bench --bench train_step -- --models enco,cut,fastcut,cyclegan --sizes 128
//! cargo bench --bench train_step --no-default-features --features cuda
//! ```
//!
//! `--models` picks the models (default: all four, each with its official defaults); CUT,
//! FastCUT and CycleGAN have one kind of iteration, reported as phase 1.
//!
//! Each row also lands as a JSON line in `target/bench/train_step.jsonl`.

use enco::kernels::Executor;
use std::io::Write;
use std::time::Instant;

use enco::backend::{NAME, TrainBackend, default_device};
use enco::burn::prelude::*;
use enco::burn::tensor::Distribution;
use enco::train::{ModelKind, ModelTrainer, StepLosses, TrainError};
use rand::SeedableRng;

struct Args {
    models: Vec<ModelKind>,
    sizes: Vec<usize>,
    phases: Vec<u8>,
    iters: usize,
    warmup: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        models: ModelKind::ALL.to_vec(),
        sizes: vec![128, 256],
        phases: vec![1, 2],
        iters: 3,
        warmup: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--sizes" => {
                args.sizes = it
                    .next()
                    .map(|v| v.split(',').filter_map(|s| s.parse().ok()).collect())
                    .unwrap_or_default()
            }
            "--phases" => {
                args.phases = it
                    .next()
                    .map(|v| v.split(',').filter_map(|s| s.parse().ok()).collect())
                    .unwrap_or_default()
            }
            "--models" => {
                args.models = it
                    .next()
                    .map(|v| v.split(',').filter_map(|s| s.parse().ok()).collect())
                    .unwrap_or_default()
            }
            "--iters" => args.iters = it.next().and_then(|v| v.parse().ok()).unwrap_or(3),
            "--warmup" => args.warmup = it.next().and_then(|v| v.parse().ok()).unwrap_or(1),
            _ => {} // `cargo bench` passes `--bench`
        }
    }
    args
}

/// Peak resident set size of this process in GiB (Linux; `None` elsewhere).
fn peak_rss_gib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / (1024.0 * 1024.0))
}

/// Resets the peak resident set size (Linux `clear_refs` 5).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn reference(size: usize, phase: u8) -> Option<(f64, f64)> {
    let text = include_str!("reference/pytorch_cpu.json");
    let json: serde_json::Value = serde_json::from_str(text).ok()?;
    json["rows"].as_array()?.iter().find_map(|r| {
        (r["size"].as_u64()? == size as u64 && r["phase"].as_u64()? == phase as u64)
            .then(|| Some((r["s_per_iter"].as_f64()?, r["peak_rss_gib"].as_f64()?)))?
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
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
    let args = parse_args();
    let device = default_device();
    std::fs::create_dir_all("target/bench")?;
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open("target/bench/train_step.jsonl")?;
    println!(
        "backend {NAME}; {} timed iterations after {} warm-up",
        args.iters, args.warmup
    );
    println!(
        "| model | size | phase | s/iter | PyTorch EnCo s/iter | ratio | peak RSS | PyTorch EnCo peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for &kind in &args.models {
        for &size in &args.sizes {
            reset_peak_rss();
            let mut trainer = kind.default_config().with_seed(0).init_trainer(&device)?;
            let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(0);
            let image = || {
                Tensor::<TrainBackend, 4>::random(
                    [1, 3, size, size],
                    Distribution::Uniform(-1.0, 1.0),
                    &device,
                )
            };
            let phases: &[u8] = match kind {
                ModelKind::Enco => &args.phases,
                _ => &[1],
            };
            for &phase in phases {
                let mut times = Vec::new();
                for i in 0..args.warmup + args.iters {
                    let (a, b) = (image(), image());
                    let start = Instant::now();
                    let losses = step(&mut trainer, a, b, phase == 1, &mut rng)?;
                    // The losses are read back, so the step has finished on asynchronous backends.
                    assert!(losses.g.is_finite());
                    if i >= args.warmup {
                        times.push(start.elapsed().as_secs_f64());
                    }
                }
                let s = median(times);
                let rss = peak_rss_gib();
                let (ref_s, ref_rss) = match kind {
                    ModelKind::Enco => reference(size, phase).unzip(),
                    _ => (None, None),
                };
                let fmt = |v: Option<f64>, unit: &str| {
                    v.map_or("–".into(), |v| format!("{v:.3}{unit}"))
                };
                println!(
                    "| {kind} | {size} | {phase} | {s:.3} | {} | {} | {} | {} |",
                    fmt(ref_s, ""),
                    fmt(ref_s.map(|r| s / r), "×"),
                    fmt(rss, " GiB"),
                    fmt(ref_rss, " GiB"),
                );
                let row = serde_json::json!({
                    "backend": NAME, "model": kind.name(), "size": size, "phase": phase,
                    "s_per_iter": s, "peak_rss_gib": rss, "pytorch_s_per_iter": ref_s,
                    "iters": args.iters,
                });
                writeln!(log, "{row}")?;
            }
        }
    }
    Ok(())
}

/// One iteration of any model (EnCo's identity branch on in phase 1).
fn step(
    trainer: &mut ModelTrainer<TrainBackend>,
    a: Tensor<TrainBackend, 4>,
    b: Tensor<TrainBackend, 4>,
    identity: bool,
    rng: &mut rand::rngs::ChaCha8Rng,
) -> Result<StepLosses, TrainError> {
    match trainer {
        ModelTrainer::Enco(t) => t.step(a, b, identity, 1.0, None, rng),
        ModelTrainer::Cut(t) => t.step(a, b, 1.0, rng),
        ModelTrainer::CycleGan(t) => t.step(a, b, 1.0, rng),
    }
}
