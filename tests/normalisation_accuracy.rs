//! The normalisations stay within float32 rounding on the selected backend.
//!
//! burn-ndarray 0.21 computes `recip` on f32 with the x86 `rcp` approximation (relative error up
//! to 3.7e-4), and Burn's autodiff takes the input gradient of a tensor–tensor division as
//! `g · recip(rhs)`. Instance norm, the heads' norms and the l2 normalisation therefore use
//! `enco_kernels::ops::reciprocal`, a division; these checks hold on every backend and fail on
//! ndarray with `recip`.

mod common;

use burn::prelude::*;
use burn::tensor::Distribution;
use common::*;
use enco::burn;
use enco::kernels::ops::{instance_norm, reciprocal};
use enco::nn::{LayerNorm, l2_normalize};

fn random<Bk: Backend, const D: usize>(shape: [usize; D], seed: u64) -> Tensor<Bk, D> {
    Bk::seed(&Default::default(), seed);
    Tensor::random(shape, Distribution::Normal(0.5, 2.0), &Default::default())
}

#[test]
fn reciprocal_and_its_gradient_are_divisions() {
    let x = random::<AB, 1>([1000], 1)
        .abs()
        .add_scalar(0.1)
        .require_grad();
    let host: Vec<f32> = to_vec(x.clone().inner());
    let y = reciprocal(x.clone());
    let values = to_vec(y.clone().inner());
    // Exactly rounded on the CPU backends; WGSL allows 2.5 ulp for a division. The x86 `rcp`
    // approximation is off by up to 4.6e-5 (AVX-512) or 3.7e-4 (AVX2).
    for (v, x) in values.iter().zip(&host) {
        let exact = 1.0 / *x as f64;
        assert!(
            ((*v as f64 - exact) / exact).abs() <= 3.0 * f32::EPSILON as f64,
            "1/{x}: {v} vs {exact}"
        );
    }
    let grads = y.sum().backward();
    let grad = to_vec(x.grad(&grads).expect("gradient"));
    for (g, x) in grad.iter().zip(&host) {
        let exact = -1.0 / (*x as f64 * *x as f64);
        assert!(
            ((*g as f64 - exact) / exact).abs() < 4.0 * f32::EPSILON as f64,
            "d(1/x)/dx at {x}: {g} vs {exact}"
        );
    }
}

#[test]
fn instance_norm_matches_a_float64_reference() {
    let (n, c, h, w) = (2, 16, 16, 16);
    let x = random::<B, 4>([n, c, h, w], 2).add_scalar(3.0);
    let host = to_vec(x.clone());
    let y = to_vec(instance_norm(x, 1e-5));
    let mut worst = 0.0f64;
    for (plane, out) in host.chunks(h * w).zip(y.chunks(h * w)) {
        let mean = plane.iter().map(|&v| v as f64).sum::<f64>() / (h * w) as f64;
        let var = plane
            .iter()
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>()
            / (h * w) as f64;
        for (x, y) in plane.iter().zip(out) {
            let exact = (*x as f64 - mean) / (var + 1e-5).sqrt();
            worst = worst.max((*y as f64 - exact).abs());
        }
    }
    assert!(worst < 2e-6, "instance norm off by {worst:e}");
}

#[test]
fn layer_norm_and_l2_normalisation_gradients_match_a_float64_reference() {
    let dev = device();
    let (rows, cols) = (64, 32);
    let x = random::<AB, 2>([rows, cols], 3).require_grad();
    let weights = random::<AB, 2>([rows, cols], 4);
    let host = to_vec(x.clone().inner());
    let wh = to_vec(weights.clone().inner());
    let norm = LayerNorm::<AB>::new(cols, &dev);
    let objective = (l2_normalize(norm.forward(x.clone())) * weights).sum();
    let grad = to_vec(x.grad(&objective.backward()).expect("gradient"));

    // The same objective in f64, its gradient by central differences of each row.
    let row_objective = |row: &[f64], w: &[f32]| {
        let mean = row.iter().sum::<f64>() / cols as f64;
        let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / cols as f64;
        let y: Vec<f64> = row
            .iter()
            .map(|v| (v - mean) / (var + 1e-5).sqrt())
            .collect();
        let l2 = y.iter().map(|v| v * v).sum::<f64>().sqrt() + 1e-7;
        y.iter()
            .zip(w)
            .map(|(y, w)| y / l2 * *w as f64)
            .sum::<f64>()
    };
    let scale = grad.iter().fold(0.0f32, |m, g| m.max(g.abs())) as f64;
    let mut worst = 0.0f64;
    for r in 0..rows {
        let row: Vec<f64> = host[r * cols..(r + 1) * cols]
            .iter()
            .map(|&v| v as f64)
            .collect();
        let w = &wh[r * cols..(r + 1) * cols];
        for j in 0..cols {
            let step = 1e-6;
            let (mut plus, mut minus) = (row.clone(), row.clone());
            plus[j] += step;
            minus[j] -= step;
            let exact = (row_objective(&plus, w) - row_objective(&minus, w)) / (2.0 * step);
            worst = worst.max((grad[r * cols + j] as f64 - exact).abs() / scale);
        }
    }
    assert!(worst < 1e-5, "gradient off by {worst:e} of its max");
}
