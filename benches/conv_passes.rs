//! The three passes of the convolutions that dominate a training step (the forward pass, the
//! input gradient and the weight gradient), each timed alone through the backend extension
//! (`EncoBackend::enco_conv2d`, `enco_conv2d_x_backward`, `enco_conv2d_weight_backward`) at
//! the shapes of a 128 or 256 px step: the generator's 3×3 convolutions (batch 2, phase 1; batch
//! 1, phase 2, with `--batch 1`) and the discriminator's inner 4×4 layers (batch 1). Median of 5
//! calls after one warm-up, ms.
//!
//! ```sh
//! cargo bench --bench conv_passes                      # 128 px
//! cargo bench --bench conv_passes -- 256               # 256 px
//! cargo bench --bench conv_passes -- 128 --batch 1     # 128 px, the generator of phase 2
//! cargo bench --bench conv_passes -- 256 --only ResBlock  # one kind of layer
//! ```

use std::time::Instant;

use enco::backend::{Backend as B, NAME, default_device};
use enco::burn::prelude::*;
use enco::burn::tensor::ops::{ConvOptions, FloatTensor};
use enco::burn::tensor::{Distribution, TensorPrimitive};
use enco::kernels::EncoBackend;

fn median_ms(mut f: impl FnMut() -> FloatTensor<B>) -> f64 {
    let mut times = Vec::new();
    for i in 0..6 {
        let start = Instant::now();
        let out = f();
        let elapsed = start.elapsed().as_secs_f64();
        drop(out);
        if i > 0 {
            times.push(elapsed);
        }
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2] * 1e3
}

fn random(shape: [usize; 4], device: &enco::burn::tensor::Device<B>) -> FloatTensor<B> {
    Tensor::<B, 4>::random(shape, Distribution::Uniform(-1.0, 1.0), device)
        .into_primitive()
        .tensor()
}

#[derive(clap::Parser)]
struct Args {
    /// Image side of the step whose shapes are timed, in pixels.
    #[arg(default_value_t = 128)]
    size: usize,
    /// Batch of the generator's layers (2 in phase 1, 1 in phase 2).
    #[arg(long, default_value_t = 2)]
    batch: usize,
    /// Time only the layers whose name contains this text (`ResBlock`, `D `).
    #[arg(long)]
    only: Option<String>,
    /// Passed by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() {
    enco::kernels::keep_freed_memory();
    let args = <Args as clap::Parser>::parse();
    let (size, n) = (args.size, args.batch);
    let device = default_device();
    let (s, h, q) = (size, size / 2, size / 4);
    println!("backend {NAME}; convolution passes at {size} px (median of 5, ms)");
    println!("| convolution | input | count | forward | input gradient | weight gradient |");
    println!("|---|---|---|---|---|---|");
    // (name, input shape (padded as the layer sees it), output channels, kernel, padding,
    // layers of this shape per step).
    let layers = [
        ("G 7×7 3→64", [n, 3, s + 6, s + 6], 64, 7, 0, 1),
        ("G 3×3 64→128", [n, 64, s, s], 128, 3, 1, 1),
        ("G 3×3 128→256", [n, 128, h, h], 256, 3, 1, 1),
        (
            "G ResBlock 3×3 256→256",
            [n, 256, q + 2, q + 2],
            256,
            3,
            0,
            18,
        ),
        ("G 3×3 256→128", [n, 256, h, h], 128, 3, 1, 1),
        ("G 3×3 128→64", [n, 128, s, s], 64, 3, 1, 1),
        ("G 7×7 64→3", [n, 64, s + 6, s + 6], 3, 7, 0, 1),
        ("D 4×4 64→128", [1, 64, h, h], 128, 4, 1, 3),
        ("D 4×4 128→256", [1, 128, q, q], 256, 4, 1, 3),
        ("D 4×4 256→512", [1, 256, q / 2, q / 2], 512, 4, 1, 3),
    ];
    for (name, shape, c_out, k, padding, count) in layers {
        if args
            .only
            .as_ref()
            .is_some_and(|only| !name.contains(only.as_str()))
        {
            continue;
        }
        let x = random(shape, &device);
        let weight = random([c_out, shape[1], k, k], &device);
        let options = ConvOptions::new([1, 1], [padding, padding], [1, 1], 1);
        let y = B::enco_conv2d(x.clone(), weight.clone(), None, options.clone());
        let grad = random(
            Tensor::<B, 4>::from_primitive(TensorPrimitive::Float(y)).dims(),
            &device,
        );
        let forward =
            median_ms(|| B::enco_conv2d(x.clone(), weight.clone(), None, options.clone()));
        let input_grad = median_ms(|| {
            B::enco_conv2d_x_backward(x.clone(), weight.clone(), grad.clone(), options.clone())
        });
        let weight_grad = median_ms(|| {
            B::enco_conv2d_weight_backward(x.clone(), weight.clone(), grad.clone(), options.clone())
        });
        println!(
            "| {name} | {shape:?} | {count} | {forward:.2} | {input_grad:.2} | {weight_grad:.2} |"
        );
    }
}
