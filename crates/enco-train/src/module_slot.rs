//! Moving a module out of its field for the optimiser's in-place update.

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;

/// Takes `module` out of its place, leaving a placeholder of the same structure whose float
/// parameters are empty tensors; the caller puts the updated module back.
///
/// Burn's optimisers take the module by value. Stepping a clone while the original stays in its
/// field shares every parameter's storage between the two, so the fused Adam kernel
/// ([`crate::FusedAdam`] over `EncoBackend::adam_step`) has to copy each parameter before it
/// can update it; with the module moved out, the parameters are updated where they lie.
///
/// A panic between the take and the put-back (in the optimiser) leaves the placeholder in the
/// field: the trainer is not usable after it, which is why such a panic ends a run
/// (`TrainError::ReplicaPanicked` where the replicas catch it).
pub(crate) fn take_module<B: Backend, M: Module<B>>(module: &mut M) -> M {
    let placeholder = module.clone().map(&mut EmptyParameters);
    std::mem::replace(module, placeholder)
}

/// Replaces every float parameter with an empty tensor of the same rank and id.
struct EmptyParameters;

impl<B: Backend> ModuleMapper<B> for EmptyParameters {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        let empty = Tensor::empty([0; D], &tensor.device());
        Param::from_mapped_value(id, empty, mapper)
    }
}
