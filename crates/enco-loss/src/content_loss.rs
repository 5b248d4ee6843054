//! The choice of content loss inside EnCo's framework: EnCo's own, or CUT's PatchNCE grafted
//! onto it (paper Table 3, rows D and E).

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::content::{enco_pair_loss, negative_cosine};
use crate::patch_nce::patch_nce_loss;

/// The loss that ties each decoder projection q to its encoder projection k (`--content-loss`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ContentLoss {
    /// EnCo's `mean(2 − 2·cos(q, sg(k)))` (docs/reference.md §5.3, paper Eq. 3).
    #[default]
    Enco,
    /// CUT's PatchNCE (`PatchNCELoss2`: negatives from the same image, temperature τ, k
    /// detached) on the same pairs: "CUT + EnCo" (paper Table 3, rows D with uniform sampling
    /// and E with DAG). The released code has no such model; this follows the design its draft
    /// `datasets/enco_model.py` shows, with the pair losses combined as EnCo's.
    PatchNce,
}

impl ContentLoss {
    /// The loss of one pair of projections (`[B·n, nc]`, sample-major rows of `batch` images).
    /// `stop_gradient` (EnCo only) detaches k; PatchNCE always detaches it.
    ///
    /// # Shapes
    /// - `q`, `k` `[batch·n, D]` sample-major (rows matched by position), output `[1]`
    pub fn pair_loss<B: Backend>(
        &self,
        q: Tensor<B, 2>,
        k: Tensor<B, 2>,
        batch: usize,
        temperature: f64,
        stop_gradient: bool,
    ) -> Tensor<B, 1> {
        match self {
            ContentLoss::Enco if stop_gradient => enco_pair_loss(q, k),
            ContentLoss::Enco => negative_cosine(q, k).mean(),
            ContentLoss::PatchNce => patch_nce_loss(q, k, batch, temperature).mean(),
        }
    }
}

impl std::str::FromStr for ContentLoss {
    type Err = String;

    /// Parses `enco` or `patchnce`.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "enco" => Ok(Self::Enco),
            "patchnce" => Ok(Self::PatchNce),
            other => Err(format!(
                "unknown content loss {other:?} (one of: enco, patchnce)"
            )),
        }
    }
}
