//! The EnCo losses: the stop-gradient content loss on l2-normalised projections (docs/reference.md §5.3),
//! the adversarial losses (§5.1), the identity L1 (§5.4), the generator objective with the
//! official or the paper's weighting (§5.5), and PatchNCE (§11.1).

mod content;
mod content_loss;
mod gan;
mod identity;
mod objective;
mod patch_nce;

pub use content::{cosine_similarity, enco_content_loss, enco_pair_loss, negative_cosine};
pub use content_loss::ContentLoss;
pub use gan::{GanLoss, GanMode};
pub use identity::identity_loss;
pub use objective::LossWeighting;
pub use patch_nce::patch_nce_loss;
