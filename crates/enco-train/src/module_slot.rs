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

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;

    type B = burn::backend::Flex;

    #[test]
    fn the_taken_module_keeps_its_parameters_and_the_placeholder_is_empty() {
        let device = Default::default();
        let mut slot = LinearConfig::new(3, 2).init::<B>(&device);
        let weight = slot.weight.val().into_data();
        let bias = slot.bias.as_ref().unwrap().val().into_data();
        let taken = take_module(&mut slot);
        assert_eq!(taken.weight.val().into_data(), weight);
        assert_eq!(taken.bias.as_ref().unwrap().val().into_data(), bias);
        // Same structure and ids, no values: nothing else holds the taken parameters.
        assert_eq!(slot.weight.id, taken.weight.id);
        assert_eq!(slot.weight.val().dims(), [0, 0]);
        assert_eq!(slot.bias.as_ref().unwrap().val().dims(), [0]);
        assert_eq!(slot.num_params(), 0);
    }
}
