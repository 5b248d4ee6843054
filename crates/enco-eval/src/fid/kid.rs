//! Kernel Inception Distance (Bińkowski et al. 2018): the unbiased squared MMD between two sets
//! of pool3 features with the cubic polynomial kernel `k(x, y) = (xᵀy / d + 1)³`, averaged over
//! random subsets, as clean-fid's `kernel_distance` and StyleGAN2-ADA's KID compute it.

use nalgebra::DMatrix;
use rand::SeedableRng;
use rand::seq::index::sample;
use serde::{Deserialize, Serialize};

use super::error::FidError;

/// Subsets drawn for KID (defaults of torch-fidelity and clean-fid: 100 subsets of at most 1000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KidConfig {
    /// Number of random subsets.
    pub subsets: usize,
    /// Largest subset size; the size used is `min(n_a, n_b, subset_size)`.
    pub subset_size: usize,
    /// Seed of the subset draws (subsets differ from numpy's for the same seed).
    pub seed: u64,
}

impl Default for KidConfig {
    fn default() -> Self {
        Self {
            subsets: 100,
            subset_size: 1000,
            seed: 0,
        }
    }
}

/// The result of [`kernel_inception_distance`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KidReport {
    /// Mean KID over the subsets (clean-fid's value).
    pub kid: f64,
    /// Standard deviation over the subsets (population, as torch-fidelity reports it).
    pub kid_std: f64,
    /// Subset size used.
    pub subset_size: usize,
    /// Number of subsets.
    pub subsets: usize,
}

/// KID between two feature sets, `features_a` and `features_b` row-major `[n, dims]`. When a
/// subset is as large as both sets, every subset is the whole sets and the value does not
/// depend on the draws.
pub fn kernel_inception_distance(
    features_a: &[f64],
    features_b: &[f64],
    dims: usize,
    config: KidConfig,
) -> Result<KidReport, FidError> {
    if dims == 0 || !features_a.len().is_multiple_of(dims) || !features_b.len().is_multiple_of(dims)
    {
        return Err(FidError::Shape(format!(
            "KID features of {} and {} values are not rows of {dims}",
            features_a.len(),
            features_b.len()
        )));
    }
    if config.subsets == 0 {
        return Err(FidError::Config("KID needs at least one subset".into()));
    }
    let (n_a, n_b) = (features_a.len() / dims, features_b.len() / dims);
    let m = n_a.min(n_b).min(config.subset_size);
    if m < 2 {
        return Err(FidError::NotEnoughSamples {
            what: "KID",
            needed: 2,
            got: m,
        });
    }
    if features_a.iter().chain(features_b).any(|v| !v.is_finite()) {
        return Err(FidError::NonFinite("KID features"));
    }
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(config.seed);
    let rows = |features: &[f64], n: usize, rng: &mut rand::rngs::ChaCha8Rng| {
        let picked = sample(rng, n, m);
        DMatrix::from_fn(m, dims, |i, j| features[picked.index(i) * dims + j])
    };
    let kernel = |p: &DMatrix<f64>, q: &DMatrix<f64>| {
        (p * q.transpose()).map(|v| (v / dims as f64 + 1.0).powi(3))
    };
    let mut values = Vec::with_capacity(config.subsets);
    for _ in 0..config.subsets {
        // clean-fid's order: x from the second set, y from the first.
        let x = rows(features_b, n_b, &mut rng);
        let y = rows(features_a, n_a, &mut rng);
        let a = kernel(&x, &x) + kernel(&y, &y);
        let b = kernel(&x, &y);
        let t = (a.sum() - a.trace()) / (m - 1) as f64 - b.sum() * 2.0 / m as f64;
        values.push(t / m as f64);
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
    Ok(KidReport {
        kid: mean,
        kid_std: var.sqrt(),
        subset_size: m,
        subsets: config.subsets,
    })
}
