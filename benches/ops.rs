//! Where a training step spends its time: the building blocks of the ResNet generator at the
//! shapes of a phase-1 step at 128 px (batch 2) and the discriminator's convolutions (batch 1), timed forward and forward + backward (the
//! gradient of the input and of the weights, as in training), through Burn's generic operations
//! (`Conv2d::forward`, `enco::kernels::generic`) and through the backend extension the networks
//! use (`enco::kernels::ops`), on one random input per row, made before the timing.
//!
//! ```sh
//! cargo bench --bench ops                 # flex
//! cargo bench --bench ops -- 256          # the shapes of a 256 px step
//! ```

use std::time::Instant;

use enco::backend::{NAME, TrainBackend, default_device};
use enco::burn::nn::PaddingConfig2d;
use enco::burn::nn::conv::{Conv2d, Conv2dConfig};
use enco::burn::prelude::*;
use enco::burn::tensor::ops::ConvOptions;
use enco::burn::tensor::{Distribution, TensorPrimitive};
use enco::kernels::{generic, ops};
use enco::nn::{InstanceNorm2d, ReflectionPad2d};

type B = TrainBackend;

fn time<F: FnMut() -> f32>(mut f: F) -> f64 {
    let mut times = Vec::new();
    for i in 0..8 {
        let start = Instant::now();
        let v = f();
        assert!(v.is_finite());
        if i > 0 {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn input(shape: [usize; 4], device: &enco::burn::tensor::Device<B>) -> Tensor<B, 4> {
    Tensor::random(shape, Distribution::Uniform(-1.0, 1.0), device).require_grad()
}

/// A block computed two ways: Burn's generic operations, and the networks' path.
type Block<'a> = &'a dyn Fn(Tensor<B, 4>) -> Tensor<B, 4>;

/// `conv` through the backend extension (what `enco-nn`'s layers call).
fn enco_conv(conv: &Conv2d<B>, x: Tensor<B, 4>, padding: usize) -> Tensor<B, 4> {
    ops::conv2d(
        x,
        conv.weight.val(),
        conv.bias.as_ref().map(|b| b.val()),
        ConvOptions::new([1, 1], [padding, padding], [1, 1], 1),
    )
}

fn generic_blur(x: Tensor<B, 4>) -> Tensor<B, 4> {
    let y = generic::blur_downsample::<B>(x.into_primitive().tensor());
    Tensor::from_primitive(TensorPrimitive::Float(y))
}

fn generic_pad(p: usize, x: Tensor<B, 4>) -> Tensor<B, 4> {
    let y = generic::reflect_pad::<B>(x.into_primitive().tensor(), p);
    Tensor::from_primitive(TensorPrimitive::Float(y))
}

fn generic_norm(x: Tensor<B, 4>) -> Tensor<B, 4> {
    let (y, _) = generic::instance_norm::<B>(x.into_primitive().tensor(), 1e-5);
    Tensor::from_primitive(TensorPrimitive::Float(y))
}

fn generic_upsample(x: Tensor<B, 4>) -> Tensor<B, 4> {
    let y = generic::upsample2x::<B>(x.into_primitive().tensor());
    Tensor::from_primitive(TensorPrimitive::Float(y))
}

fn main() {
    enco::kernels::keep_freed_memory();
    let size = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(128);
    let device = default_device();
    let (s, h, q) = (size, size / 2, size / 4);
    println!("backend {NAME}; blocks at {size} px (median of 7, ms)");
    println!(
        "| block | input | count | generic forward | generic fwd + bwd | enco forward | enco fwd + bwd |"
    );
    println!("|---|---|---|---|---|---|---|");
    let measure = |shape: [usize; 4], f: Block| {
        let x0 = input(shape, &device);
        let fwd = time(|| f(x0.clone()).sum().into_scalar());
        let both = time(|| {
            let x = x0.clone();
            let y = f(x.clone()).sum();
            let grads = y.backward();
            x.grad(&grads).map_or(0.0, |g| g.sum().into_scalar())
        });
        (fwd * 1e3, both * 1e3)
    };
    let row = |name: &str, shape: [usize; 4], count: usize, generic: Block, enco: Block| {
        let (gf, gb) = measure(shape, generic);
        let (ef, eb) = measure(shape, enco);
        println!("| {name} | {shape:?} | {count} | {gf:.1} | {gb:.1} | {ef:.1} | {eb:.1} |");
    };
    let conv = |cin: usize, cout: usize, k: usize, pad: usize| {
        Conv2dConfig::new([cin, cout], [k, k])
            .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
            .init::<B>(&device)
    };
    let pad = |p: usize, x: Tensor<B, 4>| ReflectionPad2d::new(p).forward(x);
    let c7 = conv(3, 64, 7, 0);
    row(
        "reflect pad 3 + conv 7×7 3→64",
        [2, 3, s, s],
        1,
        &|x| c7.forward(generic_pad(3, x)),
        &|x| enco_conv(&c7, pad(3, x), 0),
    );
    let c3a = conv(64, 128, 3, 1);
    row(
        "conv 3×3 64→128",
        [2, 64, s, s],
        1,
        &|x| c3a.forward(x),
        &|x| enco_conv(&c3a, x, 1),
    );
    row(
        "InstanceNorm + ReLU, 128 ch",
        [2, 128, s, s],
        2,
        &|x| enco::burn::tensor::activation::relu(generic_norm(x)),
        &|x| ops::instance_norm_relu(x, 1e-5),
    );
    row(
        "InstanceNorm, then ReLU, 128 ch",
        [2, 128, s, s],
        2,
        &|x| enco::burn::tensor::activation::relu(generic_norm(x)),
        &|x| enco::burn::tensor::activation::relu(ops::instance_norm(x, 1e-5)),
    );
    row(
        "Downsample (blur, stride 2), 128 ch",
        [2, 128, s, s],
        1,
        &generic_blur,
        &ops::blur_downsample,
    );
    let c3b = conv(128, 256, 3, 1);
    row(
        "conv 3×3 128→256",
        [2, 128, h, h],
        1,
        &|x| c3b.forward(x),
        &|x| enco_conv(&c3b, x, 1),
    );
    row(
        "Downsample, 256 ch",
        [2, 256, h, h],
        1,
        &generic_blur,
        &ops::blur_downsample,
    );
    let c3r = conv(256, 256, 3, 0);
    row(
        "reflect pad 1 + conv 3×3 256→256 (ResBlock)",
        [2, 256, q, q],
        18,
        &|x| c3r.forward(generic_pad(1, x)),
        &|x| enco_conv(&c3r, pad(1, x), 0),
    );
    let norm = |x| InstanceNorm2d::default().forward(x);
    row(
        "InstanceNorm, 256 ch",
        [2, 256, q, q],
        20,
        &generic_norm,
        &norm,
    );
    row(
        "Upsample ×2, 256 ch",
        [2, 256, q, q],
        1,
        &generic_upsample,
        &ops::upsample2x,
    );
    let c3u = conv(256, 128, 3, 1);
    row(
        "conv 3×3 256→128",
        [2, 256, h, h],
        1,
        &|x| c3u.forward(x),
        &|x| enco_conv(&c3u, x, 1),
    );
    row(
        "Upsample ×2, 128 ch",
        [2, 128, h, h],
        1,
        &generic_upsample,
        &ops::upsample2x,
    );
    let c3v = conv(128, 64, 3, 1);
    row(
        "conv 3×3 128→64",
        [2, 128, s, s],
        1,
        &|x| c3v.forward(x),
        &|x| enco_conv(&c3v, x, 1),
    );
    let cl = conv(64, 3, 7, 0);
    row(
        "reflect pad 3 + conv 7×7 64→3",
        [2, 64, s, s],
        1,
        &|x| cl.forward(generic_pad(3, x)),
        &|x| enco_conv(&cl, pad(3, x), 0),
    );
    // The discriminator's 4×4 convolutions (zero padding 1), batch 1: it runs three times a
    // step (on the fake and the real image for its own step, on the fake for G's).
    let d = size;
    for (cin, cout, side) in [
        (3, 64, d),
        (64, 128, d / 2),
        (128, 256, d / 4),
        (256, 512, d / 8),
    ] {
        let c4 = conv(cin, cout, 4, 1);
        row(
            &format!("D conv 4×4 {cin}→{cout}"),
            [1, cin, side, side],
            3,
            &|x| c4.forward(x),
            &|x| enco_conv(&c4, x, 1),
        );
    }
}
