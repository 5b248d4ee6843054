//! The PatchNCE loss of CUT (docs/reference.md §11.1, `PatchNCELoss2`), for the "CUT + EnCo" variants.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

/// PatchNCE with negatives from the same image: for each query row r of image b, logits
/// `[q_r·k_r, q_r·k_j (j ≠ r, same image)] / τ`, the self-similarity slot replaced by −10,
/// cross-entropy with target 0; returns the per-patch loss (docs/reference.md §11.1). `k` is detached.
///
/// # Shapes
/// - `q`, `k` `[B·n, D]` sample-major, output `[B·n]`
///
/// # Panics
/// If `batch` is 0 or does not divide the rows of `q`, or `k` has another shape than `q`: the
/// patch samplers always return `n` rows per image of the batch.
pub fn patch_nce_loss<B: Backend>(
    q: Tensor<B, 2>,
    k: Tensor<B, 2>,
    batch: usize,
    temperature: f64,
) -> Tensor<B, 1> {
    let [rows, dim] = q.dims();
    let n = rows / batch.max(1);
    let k = k.detach();
    let positive = (q.clone() * k.clone()).sum_dim(1); // [B·n, 1]
    let q3 = q.reshape([batch, n, dim]);
    let k3 = k.reshape([batch, n, dim]);
    let negatives = q3.matmul(k3.swap_dims(1, 2)); // [B, n, n]
    let device = negatives.device();
    let eye = Tensor::<B, 2>::eye(n, &device)
        .bool()
        .unsqueeze_dim::<3>(0)
        .expand([batch, n, n]);
    let negatives = negatives.mask_fill(eye, -10.0).reshape([batch * n, n]);
    let logits = Tensor::cat(vec![positive, negatives], 1).div_scalar(temperature);
    log_softmax(logits, 1)
        .narrow(1, 0, 1)
        .squeeze_dim::<1>(1)
        .neg()
}
