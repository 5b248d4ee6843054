//! The EnCo content loss (docs/reference.md §5.3, paper Eq. 3–4).

use burn::prelude::*;
use enco_kernels::ops::reciprocal;

/// PyTorch's `F.cosine_similarity(q, k, dim=-1)`: each row divided by `max(‖row‖, eps)`, then
/// the dot product (docs/reference.md §1.7, eps 1e-8).
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

/// The content loss of one feature pair: `mean_r (2 − 2·cos(Q[r], sg(K[r])))` (docs/reference.md §5.3).
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
/// i.e. `λ_NCE` times the mean over pairs (docs/reference.md §5.3). The paper's Eq. 4 sums instead.
///
/// # Shapes
/// - `pair_losses` one `[1]` loss per pair, output `[1]`
///
/// # Panics
/// If `pair_losses` is empty (there is no device to put a loss on); the models' configurations
/// require at least one pair of taps and check it before any step.
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

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};

    use super::*;

    type B = Autodiff<Flex>;

    fn rows(values: [[f32; 3]; 2]) -> Tensor<B, 2> {
        Tensor::from_data(values, &Default::default())
    }

    #[test]
    fn cosine_of_parallel_opposite_and_zero_rows() {
        let q = rows([[1.0, 2.0, 2.0], [0.0, 0.0, 0.0]]);
        let k = rows([[2.0, 4.0, 4.0], [1.0, 0.0, 0.0]]);
        let cos = cosine_similarity(q.clone(), k)
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        assert!((cos[0] - 1.0).abs() < 1e-6 && cos[1] == 0.0, "{cos:?}");
        let opposite = cosine_similarity(q.clone(), q.clone().neg());
        let loss = negative_cosine(q.clone(), q.neg())
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        assert!((loss[0] - 4.0).abs() < 1e-6, "2 − 2·(−1): {loss:?}");
        assert!((opposite.into_data().to_vec::<f32>().unwrap()[0] + 1.0).abs() < 1e-6);
    }

    #[test]
    fn the_pair_loss_sends_gradient_through_the_decoder_side_only() {
        let q = rows([[1.0, 0.5, 0.0], [0.0, 1.0, 1.0]]).require_grad();
        let k = rows([[0.0, 1.0, 0.0], [1.0, 1.0, 0.0]]).require_grad();
        let loss = enco_pair_loss(q.clone(), k.clone());
        let grads = loss.backward();
        let dq = q.grad(&grads).expect("q gets a gradient");
        assert!(dq.abs().sum().into_scalar() > 0.0);
        assert!(k.grad(&grads).is_none(), "k is detached (stop-gradient)");
    }

    #[test]
    fn the_content_loss_is_lambda_times_the_mean_over_pairs() {
        let device = Default::default();
        let pairs = [1.0f32, 3.0].map(|v| Tensor::<B, 1>::from_data([v], &device));
        let total = enco_content_loss(&pairs, 2.0).into_scalar();
        assert!(
            (total - 4.0).abs() < 1e-6,
            "2 · mean(1, 3) = 4, got {total}"
        );
    }
}
