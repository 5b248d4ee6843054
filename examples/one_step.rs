//! Runs EnCo training iterations on random images with the full-size networks of the paper
//! (ResNet-9 generator, ngf 64; PatchGAN, ndf 64; heads of width 256; DAG with K = 256) and
//! prints the losses and the time per iteration.
//!
//! ```sh
//! cargo run --release --example one_step                 # flex (CPU), 64×64, 2 steps
//! cargo run --release --example one_step -- 128 3        # 128×128, 3 steps
//! cargo run --release --example one_step --no-default-features --features wgpu
//! ```

use enco::kernels::Executor;
use std::time::Instant;

use enco::backend::{NAME, TrainBackend, default_device};
use enco::burn::prelude::*;
use enco::burn::tensor::Distribution;
use enco::train::{EncoConfig, EncoTrainer};
use rand::SeedableRng;

/// The kernels run on a rayon pool of the main thread's ([`Executor::CallerPool`]), and freed
/// tensors' memory is reused rather than returned to the system
/// ([`keep_freed_memory`](enco::kernels::keep_freed_memory)): the fastest way on the CPU; a
/// program embedding the library may leave the defaults instead.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    enco::kernels::keep_freed_memory();
    Executor::CallerPool.run(run)
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let size: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(64);
    let steps: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(2);
    let device = default_device();
    let config = EncoConfig::new().with_seed(0);
    println!("backend {NAME}, {size}×{size} images, {steps} iterations, paper configuration");
    let model = config.init::<TrainBackend>(&device)?;
    let mut trainer = EncoTrainer::new(model, config);
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(0);
    for step in 0..steps {
        let image = || {
            Tensor::<TrainBackend, 4>::random(
                [1, 3, size, size],
                Distribution::Uniform(-1.0, 1.0),
                &device,
            )
        };
        let identity_phase = step % 2 == 0;
        let start = Instant::now();
        let losses = trainer.step(image(), image(), identity_phase, 1.0, None, &mut rng)?;
        println!(
            "step {step} (identity {}): D {:.4}  G {:.4}  GAN {:.4}  EnCo {:.4}  idt {:.4}  [{:.2} s]",
            if identity_phase { "on " } else { "off" },
            losses.d,
            losses.g,
            losses.g_gan,
            losses.content,
            losses.identity,
            start.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
