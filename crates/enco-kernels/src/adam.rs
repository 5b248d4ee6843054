//! The hyper-parameters of one Adam update, shared by the generic and the fused implementations
//! of [`EncoBackend::adam_step`](crate::EncoBackend::adam_step).

/// One Adam update (docs/reference.md §7.1, `torch.optim.Adam` without weight decay or AMSGrad):
///
/// ```text
/// m ← β₁·m + (1 − β₁)·g        v ← β₂·v + (1 − β₂)·g²
/// θ ← θ − lr · m·c / (√v + ε·√(1 − β₂ᵗ)),   c = √(1 − β₂ᵗ) / (1 − β₁ᵗ)
/// ```
///
/// which is PyTorch's `θ − lr/(1 − β₁ᵗ) · m / (√v/√(1 − β₂ᵗ) + ε)` rearranged as Burn's
/// `Adam` computes it (the generic implementation is Burn's `Adam` itself; the flex kernel does
/// the same operations in the same order); `m` and `v` start at zero and `t` counts from 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamStep {
    /// The learning rate `lr` of this step.
    pub learning_rate: f64,
    /// β₁, the decay of the first moment.
    pub beta_1: f32,
    /// β₂, the decay of the second moment.
    pub beta_2: f32,
    /// ε, added to the square root of the second moment.
    pub epsilon: f32,
    /// The step count `t` of this update, 1 for the first.
    pub time: usize,
}

impl AdamStep {
    /// The factor `c = √(1 − β₂ᵗ) / (1 − β₁ᵗ)` of the first moment and the term
    /// `ε·√(1 − β₂ᵗ)` added to `√v`, in f32 as Burn's `Adam` computes them.
    pub fn bias_corrections(&self) -> (f32, f32) {
        let time = i32::try_from(self.time).unwrap_or(i32::MAX);
        let bias_correction2_sqrt = (1.0 - self.beta_2.powi(time)).sqrt();
        let combined = bias_correction2_sqrt / (1.0 - self.beta_1.powi(time));
        (combined, self.epsilon * bias_correction2_sqrt)
    }
}
