//! The generator objective (docs/reference.md §5.5, paper Eq. 7).

use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// How the generator's terms are weighted (docs/reference.md §5.5, §14.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum LossWeighting {
    /// The official code: `L_GAN + 0.5·(λ_NCE·L_EnCo + λ_IDT·L_idt)` while the identity loss is
    /// on, `L_GAN + λ_NCE·L_EnCo` after (effective weights 1, 1, 5 then 1, 2 with the README's
    /// λ).
    #[default]
    Official,
    /// The paper's Eq. 7: `L_GAN + λ_NCE·L_EnCo + λ_IDT·L_idt` in both phases.
    Paper,
}

impl LossWeighting {
    /// Combines the already-weighted terms: `gan = λ_GAN·L_GAN`, `content = λ_NCE·L_EnCo`,
    /// `identity = λ_IDT·L_idt` (or `None` outside the identity phase).
    ///
    /// # Shapes
    /// - `gan`, `content`, `identity` `[1]`, output `[1]`
    pub fn combine<B: Backend>(
        &self,
        gan: Tensor<B, 1>,
        content: Tensor<B, 1>,
        identity: Option<Tensor<B, 1>>,
    ) -> Tensor<B, 1> {
        match (self, identity) {
            (LossWeighting::Official, Some(idt)) => gan + (content + idt).mul_scalar(0.5),
            (LossWeighting::Paper, Some(idt)) => gan + content + idt,
            (_, None) => gan + content,
        }
    }
}
