//! Translation-throughput benchmark: the paper's generator (ResNet-9, ngf 64) without gradients
//! on 256×256 images, batches of 1 and 4; reports images per second.
//!
//! ```sh
//! cargo bench --bench translate
//! cargo bench --bench translate --no-default-features --features wgpu
//! ```

use std::time::Instant;

use enco::backend::{Backend, NAME, default_device};
use enco::burn::prelude::*;
use enco::burn::tensor::Distribution;
use enco::kernels::Executor;
use enco::nn::ResnetGeneratorConfig;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let size = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(256);
    let device = default_device();
    let generator = ResnetGeneratorConfig::new().init::<Backend>(&device);
    println!("backend {NAME}, {size}×{size} images");
    println!("| batch | s/batch (median of 3) | images/s |");
    println!("|---|---|---|");
    for batch in [1usize, 4] {
        let mut times = Vec::new();
        for i in 0..4 {
            let x = Tensor::<Backend, 4>::random(
                [batch, 3, size, size],
                Distribution::Uniform(-1.0, 1.0),
                &device,
            );
            let start = Instant::now();
            // As the `enco` command runs it: through `Executor::CallerPool`.
            Executor::CallerPool.run(|| -> Result<(), enco::nn::NnError> {
                let y = generator.forward(x)?;
                let _ = y.sum().into_scalar();
                Ok(())
            })?;
            if i > 0 {
                times.push(start.elapsed().as_secs_f64());
            }
        }
        times.sort_by(f64::total_cmp);
        let s = times[1];
        println!("| {batch} | {s:.3} | {:.2} |", batch as f64 / s);
    }
    Ok(())
}
