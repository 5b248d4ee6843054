//! Adam with one fused update per parameter tensor (docs/reference.md §7.1).

use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{AdamState, AdaptiveMomentumState, LearningRate, SimpleOptimizer};
use burn::prelude::*;
use burn::tensor::TensorPrimitive;
use enco_kernels::{AdamStep, EncoAutodiffBackend, EncoBackend};

/// Configuration of [`FusedAdam`]: `torch.optim.Adam(betas=(β₁, β₂), eps=ε)` without weight
/// decay, as the official code uses it (docs/reference.md §7.1). The defaults are the official ones; Burn's
/// own `AdamConfig` defaults differ (β₁ 0.9, ε 1e-5).
#[derive(Config, Debug)]
pub struct FusedAdamConfig {
    /// β₁, the decay of the first moment.
    #[config(default = 0.5)]
    pub beta_1: f32,
    /// β₂, the decay of the second moment.
    #[config(default = 0.999)]
    pub beta_2: f32,
    /// ε, added to the square root of the second moment.
    #[config(default = 1e-8)]
    pub epsilon: f32,
}

impl FusedAdamConfig {
    /// The optimiser of a module `M` trained on `B`.
    pub fn init<B: EncoAutodiffBackend, M: AutodiffModule<B>>(
        &self,
    ) -> OptimizerAdaptor<FusedAdam, M, B> {
        OptimizerAdaptor::from(FusedAdam {
            beta_1: self.beta_1,
            beta_2: self.beta_2,
            epsilon: self.epsilon,
        })
    }
}

/// Adam whose update of each parameter tensor is one operation of the backend,
/// [`EncoBackend::adam_step`]: the flex backend reads the parameter, gradient and both moments
/// once and writes them back in place, where Burn's `Adam` runs a dozen tensor operations, each
/// allocating a tensor. It computes what Burn's `Adam` computes (the same operations in the same
/// order, see [`AdamStep`]; backends without a kernel run Burn's `Adam` itself) and keeps its
/// state in Burn's [`AdamState`].
#[derive(Clone, Debug)]
pub struct FusedAdam {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
}

fn primitive<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> B::FloatTensorPrimitive {
    tensor.into_primitive().tensor()
}

fn tensor<B: Backend, const D: usize>(primitive: B::FloatTensorPrimitive) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(primitive))
}

impl<B: EncoBackend> SimpleOptimizer<B> for FusedAdam {
    type State<const D: usize> = AdamState<B, D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        param: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        let (time, moments) = match state {
            Some(AdamState { momentum }) => (
                momentum.time + 1,
                Some((primitive(momentum.moment_1), primitive(momentum.moment_2))),
            ),
            None => (1, None),
        };
        let step = AdamStep {
            learning_rate: lr,
            beta_1: self.beta_1,
            beta_2: self.beta_2,
            epsilon: self.epsilon,
            time,
        };
        let (param, (m, v)) = B::adam_step(primitive(param), primitive(grad), moments, &step);
        let momentum = AdaptiveMomentumState::new(time, tensor(m), tensor(v));
        (tensor(param), Some(AdamState::new(momentum)))
    }

    fn to_device<const D: usize>(mut state: Self::State<D>, device: &B::Device) -> Self::State<D> {
        state.momentum = state.momentum.to_device(device);
        state
    }
}
