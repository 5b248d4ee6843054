//! Where a generator step spends its time: the building blocks of the ResNet generator at the
//! shapes of a phase-1 step at 128 px (batch 2), timed forward and forward + backward (the
//! gradient of the input and of the weights, as in training).
//!
//! ```sh
//! cargo bench --bench ops                 # flex
//! cargo bench --bench ops -- 256          # the shapes of a 256 px step
//! ```

use std::time::Instant;

use enco::backend::{NAME, TrainBackend, default_device};
use enco::burn::module::Module;
use enco::burn::nn::PaddingConfig2d;
use enco::burn::nn::conv::Conv2dConfig;
use enco::burn::prelude::*;
use enco::burn::tensor::Distribution;
use enco::nn::{Downsample, InstanceNorm2d, ReflectionPad2d, Upsample};

type B = TrainBackend;

fn time<F: FnMut() -> f32>(mut f: F) -> f64 {
    let mut times = Vec::new();
    for i in 0..4 {
        let start = Instant::now();
        let v = f();
        assert!(v.is_finite());
        if i > 0 {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    times[1]
}

fn input(shape: [usize; 4], device: &enco::burn::tensor::Device<B>) -> Tensor<B, 4> {
    Tensor::random(shape, Distribution::Uniform(-1.0, 1.0), device).require_grad()
}

fn main() {
    let size = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(128);
    let device = default_device();
    let (s, h, q) = (size, size / 2, size / 4);
    println!("backend {NAME}; generator blocks at {size} px, batch 2 (median of 3, ms)");
    println!("| block | input | count in G | forward | forward + backward |");
    println!("|---|---|---|---|---|");
    let row =
        |name: &str, shape: [usize; 4], count: usize, f: &dyn Fn(Tensor<B, 4>) -> Tensor<B, 4>| {
            let fwd = time(|| f(input(shape, &device)).sum().into_scalar());
            let both = time(|| {
                let x = input(shape, &device);
                let y = f(x.clone()).sum();
                let grads = y.backward();
                x.grad(&grads).map_or(0.0, |g| g.sum().into_scalar())
            });
            println!(
                "| {name} | {shape:?} | {count} | {:.1} | {:.1} |",
                fwd * 1e3,
                both * 1e3
            );
        };
    let conv = |cin: usize, cout: usize, k: usize, pad: usize| {
        Conv2dConfig::new([cin, cout], [k, k])
            .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
            .init::<B>(&device)
    };
    let c7 = conv(3, 64, 7, 0);
    row("reflect pad 3 + conv 7×7 3→64", [2, 3, s, s], 1, &|x| {
        c7.forward(ReflectionPad2d::new(3).forward(x))
    });
    let c3a = conv(64, 128, 3, 1);
    row("conv 3×3 64→128", [2, 64, s, s], 1, &|x| c3a.forward(x));
    row(
        "Downsample (blur, stride 2), 128 ch",
        [2, 128, s, s],
        1,
        &|x| Downsample.forward(x),
    );
    let c3b = conv(128, 256, 3, 1);
    row("conv 3×3 128→256", [2, 128, h, h], 1, &|x| {
        c3b.forward(x)
    });
    row("Downsample, 256 ch", [2, 256, h, h], 1, &|x| {
        Downsample.forward(x)
    });
    let c3r = conv(256, 256, 3, 0);
    row(
        "reflect pad 1 + conv 3×3 256→256 (ResBlock)",
        [2, 256, q, q],
        18,
        &|x| c3r.forward(ReflectionPad2d::new(1).forward(x)),
    );
    row("InstanceNorm, 256 ch", [2, 256, q, q], 20, &|x| {
        InstanceNorm2d::default().forward(x)
    });
    row("Upsample ×2, 256 ch", [2, 256, q, q], 1, &|x| {
        Upsample.forward(x)
    });
    let c3u = conv(256, 128, 3, 1);
    row("conv 3×3 256→128", [2, 256, h, h], 1, &|x| {
        c3u.forward(x)
    });
    row("Upsample ×2, 128 ch", [2, 128, h, h], 1, &|x| {
        Upsample.forward(x)
    });
    let c3v = conv(128, 64, 3, 1);
    row("conv 3×3 128→64", [2, 128, s, s], 1, &|x| c3v.forward(x));
    let cl = conv(64, 3, 7, 0);
    row("reflect pad 3 + conv 7×7 64→3", [2, 64, s, s], 1, &|x| {
        cl.forward(ReflectionPad2d::new(3).forward(x))
    });
    let _ = c7.num_params();
}
