//! The Fréchet distance between two Gaussians, as pytorch-fid computes it.

use nalgebra::{DMatrix, SymmetricEigen};

use super::error::FidError;

/// The Fréchet distance `‖μ1 − μ2‖² + tr(Σ1) + tr(Σ2) − 2·tr(√(Σ1·Σ2))` between
/// `N(mu1, sigma1)` and `N(mu2, sigma2)`, pytorch-fid's `calculate_frechet_distance`.
///
/// `mu1`, `mu2` have `d` values, `sigma1`, `sigma2` are `d × d` row-major (as
/// [`ActivationStatistics::covariance`](super::ActivationStatistics::covariance) returns);
/// other lengths, `d = 0` or non-finite values are an error.
///
/// # How the trace of the square root is computed
///
/// pytorch-fid calls `scipy.linalg.sqrtm(sigma1 @ sigma2)` (a Schur-based square root of a
/// non-symmetric matrix), keeps the real part and takes its trace. Only the trace is needed,
/// and it is the sum of the square roots of the eigenvalues of `Σ1·Σ2`. With `Σ1 = V Λ Vᵀ`
/// (symmetric eigendecomposition, negative rounding-level eigenvalues clamped to 0) and
/// `W = V Λ^½`, `Σ1·Σ2 = A·B` and `√Σ1·Σ2·√Σ1 = B·A = V (Wᵀ Σ2 W) Vᵀ` with `A = √Σ1`,
/// `B = √Σ1·Σ2`; `A·B` and `B·A` have the same eigenvalues (also when `Σ1` is singular), and
/// `Wᵀ Σ2 W` is symmetric positive semi-definite. So `tr √(Σ1 Σ2) = Σᵢ √max(λᵢ, 0)` with `λᵢ` the eigenvalues of the
/// symmetrised `Wᵀ Σ2 W` (only the columns of `W` with a positive eigenvalue are kept, and
/// exactly zero rows and columns of the covariances are removed first, which changes
/// nothing), computed by two symmetric eigendecompositions: no complex
/// arithmetic, no `1e-6·I` offset, exact up to rounding even for rank-deficient covariances
/// (fewer images than dimensions), where scipy's `sqrtm` returns a complex result whose
/// real part pytorch-fid keeps.
pub fn frechet_distance(
    mu1: &[f64],
    sigma1: &[f64],
    mu2: &[f64],
    sigma2: &[f64],
) -> Result<f64, FidError> {
    let d = mu1.len();
    if d == 0 {
        return Err(FidError::Shape("empty mean vectors".into()));
    }
    if mu2.len() != d {
        return Err(FidError::Shape(format!(
            "training and test mean vectors have different lengths: {} vs {}",
            d,
            mu2.len()
        )));
    }
    for (name, sigma) in [("sigma1", sigma1), ("sigma2", sigma2)] {
        if sigma.len() != d * d {
            return Err(FidError::Shape(format!(
                "{name} has {} values, a {d}×{d} covariance needs {}",
                sigma.len(),
                d * d
            )));
        }
    }
    let finite = |v: &[f64]| v.iter().all(|x| x.is_finite());
    if !finite(mu1) || !finite(mu2) {
        return Err(FidError::NonFinite("the means"));
    }
    if !finite(sigma1) || !finite(sigma2) {
        return Err(FidError::NonFinite("the covariances"));
    }

    let diff: f64 = mu1.iter().zip(mu2).map(|(a, b)| (a - b) * (a - b)).sum();
    let trace = |s: &[f64]| (0..d).map(|i| s[i * d + i]).sum::<f64>();
    let (tr1, tr2) = (trace(sigma1), trace(sigma2));

    let tr_covmean = trace_sqrt_product(sigma1, sigma2, d)?;
    let fid = diff + tr1 + tr2 - 2.0 * tr_covmean;
    if !fid.is_finite() {
        return Err(FidError::NonFinite("the Fréchet distance"));
    }
    Ok(fid)
}

/// Indices of the rows of the `d × d` row-major `m` that hold a non-zero value.
fn nonzero_rows(m: &[f64], d: usize) -> Vec<usize> {
    (0..d)
        .filter(|&i| m[i * d..(i + 1) * d].iter().any(|&v| v != 0.0))
        .collect()
}

/// The symmetrised sub-matrix `(m[idx, idx] + m[idx, idx]ᵀ) / 2` of a `d × d` row-major `m`.
fn symmetric_submatrix(m: &[f64], d: usize, idx: &[usize]) -> DMatrix<f64> {
    let k = idx.len();
    DMatrix::from_fn(k, k, |r, c| {
        let (i, j) = (idx[r], idx[c]);
        0.5 * (m[i * d + j] + m[j * d + i])
    })
}

/// `tr √(Σ1·Σ2)` for symmetric positive semi-definite `Σ1`, `Σ2` (see [`frechet_distance`]).
///
/// `√Σ1` vanishes on the rows and columns where `Σ1` is exactly zero (features constant over
/// a set, e.g. dead activations), so both matrices are restricted to the other rows first
/// (the roles of `Σ1` and `Σ2` are swapped when that leaves fewer rows:
/// `tr √(Σ1·Σ2) = tr √(Σ2·Σ1)`), and the columns of `W = V·Λ^½` whose eigenvalue is clamped
/// to 0 are dropped. The result is unchanged, the matrices are smaller, and nalgebra's QR
/// iteration, which can produce NaN on matrices with exactly zero rows, never sees one.
fn trace_sqrt_product(sigma1: &[f64], sigma2: &[f64], d: usize) -> Result<f64, FidError> {
    let (rows1, rows2) = (nonzero_rows(sigma1, d), nonzero_rows(sigma2, d));
    let (sigma1, sigma2, rows) = if rows2.len() < rows1.len() {
        (sigma2, sigma1, rows2)
    } else {
        (sigma1, sigma2, rows1)
    };
    if rows.is_empty() {
        return Ok(0.0);
    }
    let s1 = symmetric_submatrix(sigma1, d, &rows);
    let s2 = symmetric_submatrix(sigma2, d, &rows);
    let eigen = SymmetricEigen::try_new(s1, f64::EPSILON, 0)
        .filter(|e| {
            e.eigenvalues
                .iter()
                .chain(e.eigenvectors.iter())
                .all(|v| v.is_finite())
        })
        .ok_or(FidError::NonFinite("the eigendecomposition of sigma1"))?;
    // W = V·Λ^½ over the positive eigenvalues, so that W·Wᵀ = Σ1 (negative rounding-level
    // eigenvalues clamped to 0).
    let keep: Vec<usize> = (0..rows.len())
        .filter(|&j| eigen.eigenvalues[j] > 0.0)
        .collect();
    if keep.is_empty() {
        return Ok(0.0);
    }
    let mut w = eigen.eigenvectors.select_columns(&keep);
    for (col, &j) in keep.iter().enumerate() {
        w.column_mut(col).scale_mut(eigen.eigenvalues[j].sqrt());
    }
    let m = w.transpose() * s2 * &w;
    let k = m.nrows();
    let m_rows: Vec<usize> = (0..k)
        .filter(|&i| m.row(i).iter().any(|&v| v != 0.0) || m.column(i).iter().any(|&v| v != 0.0))
        .collect();
    if m_rows.is_empty() {
        return Ok(0.0);
    }
    let m = DMatrix::from_fn(m_rows.len(), m_rows.len(), |r, c| {
        let (i, j) = (m_rows[r], m_rows[c]);
        0.5 * (m[(i, j)] + m[(j, i)])
    });
    let eigenvalues = m.symmetric_eigenvalues();
    if eigenvalues.iter().any(|v| !v.is_finite()) {
        return Err(FidError::NonFinite("the eigenvalues of √Σ1·Σ2·√Σ1"));
    }
    Ok(eigenvalues.iter().map(|&l| l.max(0.0).sqrt()).sum())
}
