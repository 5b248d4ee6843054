//! Epoch-level schedules: the learning-rate factor (docs/reference.md §7.2) and the identity phase (§5.4).

use serde::{Deserialize, Serialize};

/// The official `lr_policy linear` with optional warm-up, applied to all three optimisers.
///
/// For 1-based epoch e: `e / warmup_epochs` while `e ≤ warmup_epochs`, else
/// `1 − max(0, e − n_epochs) / (n_epochs_decay + 1)`. The factor never reaches 0: the last
/// epoch trains at `base / (n_epochs_decay + 1)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LrSchedule {
    /// Epochs at the base rate (`--n_epochs`).
    pub n_epochs: usize,
    /// Epochs of linear decay (`--n_epochs_decay`).
    pub n_epochs_decay: usize,
    /// Warm-up epochs (`--warmup_epochs`; 0 = off).
    pub warmup_epochs: usize,
}

impl LrSchedule {
    /// Total number of epochs.
    pub fn total_epochs(&self) -> usize {
        self.n_epochs + self.n_epochs_decay
    }

    /// The factor for 1-based epoch `epoch`.
    pub fn factor(&self, epoch: usize) -> f64 {
        if self.warmup_epochs > 0 && epoch <= self.warmup_epochs {
            return epoch as f64 / self.warmup_epochs as f64;
        }
        1.0 - epoch.saturating_sub(self.n_epochs) as f64 / (self.n_epochs_decay + 1) as f64
    }

    /// Whether epoch `epoch` is in the decay half, where crop jitter is switched off (§8.2).
    pub fn is_finetuning(&self, epoch: usize) -> bool {
        epoch > self.n_epochs
    }
}

/// When the identity loss is on and with which weight (docs/reference.md §5.4).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IdentitySchedule {
    /// Last epoch with the identity loss (`--stop_idt_epochs`; the official default is
    /// `n_epochs`, "the first half of training").
    pub stop_epoch: usize,
    /// `--decay_idt`: weight `λ_IDT·(N − e)/N` with N the total number of epochs.
    pub decay: bool,
    /// Total number of epochs (for the decay).
    pub total_epochs: usize,
}

impl IdentitySchedule {
    /// Whether 1-based epoch `epoch` runs the identity branch.
    pub fn active(&self, epoch: usize) -> bool {
        epoch <= self.stop_epoch
    }

    /// Multiplier of λ_IDT at `epoch` (1 without decay).
    pub fn weight(&self, epoch: usize) -> f64 {
        if self.decay && self.total_epochs > 0 {
            self.total_epochs.saturating_sub(epoch) as f64 / self.total_epochs as f64
        } else {
            1.0
        }
    }
}
