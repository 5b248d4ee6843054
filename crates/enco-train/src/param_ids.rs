//! Parameter ids that every process gives the same model: its parameters numbered in visiting
//! order.

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::prelude::*;

/// The first id: well away from small numbers someone might choose by hand.
const FIRST_ID: u64 = 0x454E_434F_0000_0000;

/// Renumbers the float parameters of a module `FIRST_ID + 0, 1, …` in visiting order.
struct OrderedIds(u64);

impl<B: Backend> ModuleMapper<B> for OrderedIds {
    fn map_float<const D: usize>(&mut self, mut param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        param.id = ParamId::from(FIRST_ID + self.0);
        self.0 += 1;
        param
    }
}

/// `module` with its parameters numbered in visiting order instead of Burn's random ids.
///
/// Burn draws a parameter's id at random when it is created, and an optimiser, a gradient
/// container and the collective all-reduce (which reduces the gradients in the order of their
/// ids) know a parameter by its id. Replicas in one process share ids by forking one model;
/// processes on several machines only share them when every process numbers the same model
/// the same way, which this does. Checkpoints store the ids, so a resumed run keeps them.
pub(crate) fn with_ordered_ids<B: Backend, M: Module<B>>(module: M) -> M {
    module.map(&mut OrderedIds(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::ModuleVisitor;
    use burn::nn::LinearConfig;

    type B = burn::backend::Flex;

    fn ids<M: Module<B>>(module: &M) -> Vec<ParamId> {
        struct Ids(Vec<ParamId>);
        impl ModuleVisitor<B> for Ids {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
                self.0.push(param.id);
            }
        }
        let mut v = Ids(Vec::new());
        module.visit(&mut v);
        v.0
    }

    #[test]
    fn two_inits_get_the_same_ids_and_keep_their_values() {
        let device = Default::default();
        let first = LinearConfig::new(3, 2).init::<B>(&device);
        let second = LinearConfig::new(3, 2).init::<B>(&device);
        assert_ne!(ids(&first), ids(&second), "Burn's own ids are random");
        let weight = first.weight.val().into_data();
        let (first, second) = (with_ordered_ids(first), with_ordered_ids(second));
        assert_eq!(ids(&first), ids(&second));
        assert_eq!(
            ids(&first),
            vec![ParamId::from(FIRST_ID), ParamId::from(FIRST_ID + 1)]
        );
        assert_eq!(first.weight.val().into_data(), weight);
    }
}
