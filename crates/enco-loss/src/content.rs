//! The EnCo content loss (spec §5.3, paper Eq. 3–4).

use burn::prelude::*;
use enco_kernels::ops::reciprocal;

/// PyTorch's `F.cosine_similarity(q, k, dim=-1)`: each row divided by `max(‖row‖, eps)`, then
/// the dot product (spec §1.7, eps 1e-8).
///
/// # Shapes
/// - `q`, `k` `[N, D]`, output `[N]`
pub fn cosine_similarity<B: Backend>(q: Tensor<B, 2>, k: Tensor<B, 2>) -> Tensor<B, 1> {
    const EPS: f64 = 1e-8;
    // max(‖x‖, eps) computed as sqrt(max(‖x‖², eps²)): the same value, and a finite gradient
    // for an all-zero row.
    let unit = |x: Tensor<B, 2>| {
        let norm = x
            .clone()
            .powi_scalar(2)
            .sum_dim(1)
            .clamp_min(EPS * EPS)
            .sqrt();
        x * reciprocal(norm)
    };
    (unit(q) * unit(k)).sum_dim(1).squeeze_dim(1)
}

/// Per-row `2 − 2·cos(q, k)`.
///
/// # Shapes
/// - `q`, `k` `[N, D]`, output `[N]`
pub fn negative_cosine<B: Backend>(q: Tensor<B, 2>, k: Tensor<B, 2>) -> Tensor<B, 1> {
    cosine_similarity(q, k).mul_scalar(-2.0).add_scalar(2.0)
}

/// The content loss of one feature pair: `mean_r (2 − 2·cos(Q[r], sg(K[r])))` (spec §5.3).
///
/// The encoder projections `k` are detached here (the official code's second stop-gradient),
/// so the loss sends gradient only through the decoder branch `q`.
///
/// # Shapes
/// - `q`, `k` `[N, D]` (rows matched by position), output `[1]`
pub fn enco_pair_loss<B: Backend>(q: Tensor<B, 2>, k: Tensor<B, 2>) -> Tensor<B, 1> {
    negative_cosine(q, k.detach()).mean()
}

/// Combines the per-pair losses as the official code: `λ_NCE · Σ_i L_pair_i / len(nce_layers) · 2`,
/// i.e. `λ_NCE` times the mean over pairs (spec §5.3). The paper's Eq. 4 sums instead.
pub fn enco_content_loss<B: Backend>(
    pair_losses: &[Tensor<B, 1>],
    lambda_nce: f64,
) -> Tensor<B, 1> {
    let n_layers = 2 * pair_losses.len();
    let total = Tensor::cat(pair_losses.to_vec(), 0).sum();
    total
        .div_scalar(n_layers as f64)
        .mul_scalar(2.0 * lambda_nce)
}
