//! Mean and covariance of activations, accumulated in f64 batch by batch.

use serde::{Deserialize, Serialize};

use super::error::FidError;
use super::frechet::frechet_distance;

/// Streaming mean and covariance of feature rows, in f64.
///
/// Equal to pytorch-fid's `np.mean(act, axis=0)` and `np.cov(act, rowvar=False)` (unbiased,
/// divided by N − 1) without keeping the rows: every pushed batch is reduced with a two-pass
/// (centred) sum of outer products, and batches are merged with the pairwise update of Chan,
/// Golub & LeVeque, `M2 = M2a + M2b + δδᵀ·na·nb / n`, `δ = mean_b − mean_a`. Pushing all rows
/// in one batch is exactly numpy's two-pass computation; splitting them changes the result by
/// rounding only (no cancellation of large sums of squares).
#[derive(Debug, Clone, PartialEq)]
pub struct ActivationStatistics {
    dim: usize,
    count: usize,
    mean: Vec<f64>,
    /// Sum of centred outer products; only the upper triangle (j ≥ i) is kept up to date.
    m2: Vec<f64>,
}

impl ActivationStatistics {
    /// An empty accumulator of `dim`-dimensional rows.
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            count: 0,
            mean: vec![0.0; dim],
            m2: vec![0.0; dim * dim],
        }
    }

    /// Dimension of the rows.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of rows pushed so far.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Adds a batch of rows, row-major (`rows.len()` a multiple of [`dim`](Self::dim)), as
    /// f32 (what the network returns; widened exactly to f64 like pytorch-fid's `pred_arr`) or
    /// f64. An empty batch is a no-op; non-finite values are an error and leave `self`
    /// unchanged.
    pub fn push<T: Copy + Into<f64>>(&mut self, rows: &[T]) -> Result<(), FidError> {
        let d = self.dim;
        if d == 0 {
            return Err(FidError::Shape(
                "activation statistics of 0-dimensional rows".into(),
            ));
        }
        if !rows.len().is_multiple_of(d) {
            return Err(FidError::Shape(format!(
                "{} values are not a whole number of {d}-dimensional rows",
                rows.len()
            )));
        }
        let nb = rows.len() / d;
        if nb == 0 {
            return Ok(());
        }
        let rows: Vec<f64> = rows.iter().map(|&v| v.into()).collect();
        if rows.iter().any(|v| !v.is_finite()) {
            return Err(FidError::NonFinite("activations"));
        }
        // Batch mean.
        let mut mean_b = vec![0.0f64; d];
        for row in rows.chunks_exact(d) {
            for (m, &v) in mean_b.iter_mut().zip(row) {
                *m += v;
            }
        }
        mean_b.iter_mut().for_each(|m| *m /= nb as f64);
        // Batch centred sum of outer products (upper triangle).
        let mut m2_b = vec![0.0f64; d * d];
        let mut centred = vec![0.0f64; d];
        for row in rows.chunks_exact(d) {
            for ((c, &v), &m) in centred.iter_mut().zip(row).zip(&mean_b) {
                *c = v - m;
            }
            for i in 0..d {
                let ci = centred[i];
                let out = &mut m2_b[i * d + i..(i + 1) * d];
                for (o, &cj) in out.iter_mut().zip(&centred[i..]) {
                    *o += ci * cj;
                }
            }
        }
        if self.count == 0 {
            self.mean = mean_b;
            self.m2 = m2_b;
            self.count = nb;
            return Ok(());
        }
        // Chan et al. merge.
        let na = self.count as f64;
        let nbf = nb as f64;
        let n = na + nbf;
        let delta: Vec<f64> = mean_b.iter().zip(&self.mean).map(|(b, a)| b - a).collect();
        let weight = na * nbf / n;
        for i in 0..d {
            let di = delta[i] * weight;
            let out = &mut self.m2[i * d + i..(i + 1) * d];
            let add = &m2_b[i * d + i..(i + 1) * d];
            for ((o, &b), &dj) in out.iter_mut().zip(add).zip(&delta[i..]) {
                *o += b + di * dj;
            }
        }
        for (m, &dl) in self.mean.iter_mut().zip(&delta) {
            *m += dl * nbf / n;
        }
        self.count += nb;
        Ok(())
    }

    /// The mean of the rows (`np.mean(act, axis=0)`); an error before any row was pushed.
    pub fn mean(&self) -> Result<Vec<f64>, FidError> {
        if self.count == 0 {
            return Err(FidError::NotEnoughSamples {
                what: "the mean",
                needed: 1,
                got: 0,
            });
        }
        Ok(self.mean.clone())
    }

    /// The unbiased covariance (`np.cov(act, rowvar=False)`, divided by N − 1), `dim × dim`
    /// row-major; an error with fewer than two rows (numpy would return NaN).
    pub fn covariance(&self) -> Result<Vec<f64>, FidError> {
        if self.count < 2 {
            return Err(FidError::NotEnoughSamples {
                what: "the covariance",
                needed: 2,
                got: self.count,
            });
        }
        let d = self.dim;
        let denom = (self.count - 1) as f64;
        let mut cov = vec![0.0f64; d * d];
        for i in 0..d {
            for j in i..d {
                let v = self.m2[i * d + j] / denom;
                cov[i * d + j] = v;
                cov[j * d + i] = v;
            }
        }
        Ok(cov)
    }

    /// Mean and covariance together (at least two rows needed).
    pub fn finish(&self) -> Result<GaussianStatistics, FidError> {
        Ok(GaussianStatistics {
            dim: self.dim,
            count: self.count,
            mu: self.mean()?,
            sigma: self.covariance()?,
        })
    }
}

/// The Gaussian fitted to a set of activations: pytorch-fid's `mu`, `sigma` (what its
/// `--save-stats` writes to `.npz`), with the number of rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GaussianStatistics {
    /// Feature dimension.
    pub dim: usize,
    /// Number of rows (images) the statistics come from.
    pub count: usize,
    /// Mean, `dim` values.
    pub mu: Vec<f64>,
    /// Unbiased covariance, `dim × dim` row-major.
    pub sigma: Vec<f64>,
}

impl GaussianStatistics {
    /// The Fréchet distance to `other` ([`frechet_distance`]).
    pub fn frechet_distance(&self, other: &GaussianStatistics) -> Result<f64, FidError> {
        frechet_distance(&self.mu, &self.sigma, &other.mu, &other.sigma)
    }
}
