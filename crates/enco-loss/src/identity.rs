//! The identity loss (docs/reference.md §5.4).

use burn::prelude::*;

/// `mean(|real_B − idt_B|)` over every element (`nn.L1Loss`), before λ_IDT.
///
/// # Shapes
/// - `real`, `identity` `[B, C, H, W]`, output `[1]`
pub fn identity_loss<B: Backend>(real: Tensor<B, 4>, identity: Tensor<B, 4>) -> Tensor<B, 1> {
    (real - identity).abs().mean()
}
