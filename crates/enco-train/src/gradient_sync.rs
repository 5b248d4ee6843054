//! [`GradientSync`]: what happens to a step's gradients before the optimisers see them.

use burn::collective::{PeerId, ReduceOperation};
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;

use crate::error::TrainError;

/// What a trainer does with the gradients of each network between the backward pass and its
/// Adam step.
///
/// With data parallelism every replica holds the same networks and trains on its share of the
/// batch; [`GradientSync::Mean`] replaces each gradient by its mean over the replicas with
/// Burn's collective all-reduce (`burn::collective::all_reduce`, [`ReduceOperation::Mean`]), so
/// that every replica takes the same optimiser step, the step of the whole batch. This is what
/// the official code's `torch.nn.DataParallel` computes, whose loss is the mean over the
/// gathered batch (every loss here is a mean over the batch, and the shares are equal).
///
/// Every replica must call the collective in the same order with gradients of the same shapes:
/// the networks of all replicas come from one initialisation (the same parameter ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GradientSync {
    /// The gradients are used as computed (one device).
    #[default]
    Local,
    /// Every gradient is replaced by its mean over the peers of the collective that `PeerId`
    /// registered in (see `burn::collective::register`).
    Mean(PeerId),
}

impl GradientSync {
    /// The gradients the optimiser applies: `grads` itself, or their mean over the replicas.
    /// Blocks until every replica has called it with the same network's gradients.
    pub fn apply<B: AutodiffBackend>(
        self,
        grads: GradientsParams,
    ) -> Result<GradientsParams, TrainError> {
        match self {
            GradientSync::Local => Ok(grads),
            GradientSync::Mean(peer) => grads
                .all_reduce::<B::InnerBackend>(peer, ReduceOperation::Mean)
                .map_err(|e| TrainError::Collective {
                    operation: "gradient all-reduce",
                    reason: format!("{e:?}"),
                }),
        }
    }
}
