//! Translation-throughput benchmark: the paper's generator (ResNet-9, ngf 64) without gradients
//! on 256×256 images, batches of 1 and 4; reports images per second. The last row translates a
//! folder of 12 PNG images of that size with `translate_folder` (batch 4: reading, translating
//! and writing PNG), to compare with the generator alone.
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
    enco::kernels::keep_freed_memory();
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
    folder_row(&generator, size as u32, &device)
}

/// Translates a folder of 12 random PNG images with `translate_folder` (batch 4) twice and
/// prints the second run as a table row.
fn folder_row(
    generator: &enco::nn::ResnetGenerator<Backend>,
    size: u32,
    device: &enco::burn::tensor::Device<Backend>,
) -> Result<(), Box<dyn std::error::Error>> {
    use enco::rand::{RngExt, SeedableRng, rngs::ChaCha8Rng};
    const IMAGES: usize = 12;
    let dir = std::env::temp_dir().join(format!("enco-translate-bench-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("in"))?;
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for i in 0..IMAGES {
        let mut image = enco::data::image::RgbImage::new(size, size);
        for px in image.pixels_mut() {
            px.0 = [rng.random(), rng.random(), rng.random()];
        }
        image.save(dir.join("in").join(format!("{i:03}.png")))?;
    }
    let mut seconds = 0.0;
    for _ in 0..2 {
        let start = Instant::now();
        Executor::CallerPool.run(|| {
            enco::eval::translate_folder(
                generator,
                &dir.join("in"),
                &dir.join("out"),
                4,
                device,
                |_, _| {},
            )
        })?;
        seconds = start.elapsed().as_secs_f64();
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "| folder of {IMAGES} PNG, batch 4 | {:.3} | {:.2} |",
        seconds / (IMAGES / 4) as f64,
        IMAGES as f64 / seconds
    );
    Ok(())
}
