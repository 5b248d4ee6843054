//! CUT's projection heads, the official `PatchSampleF` with `--netF mlp_sample` (official
//! `models/networks.py`): one two-layer MLP per tapped layer, no normalisation, no prediction
//! head.

use burn::nn::Relu;
use burn::prelude::*;

use crate::error::NnError;
use crate::head_layer::{HeadLayer, forward_all};
use crate::head_norm::l2_normalize;
use crate::init::{WeightInit, linear};

/// Configuration of [`PatchSampleHeads`].
#[derive(Config, Debug)]
pub struct PatchSampleHeadsConfig {
    /// Channel count of each tapped layer, in the order of `nce_layers` (3, 128, 256, 256, 256
    /// for CUT's default taps 0, 4, 8, 12, 16 at ngf 64).
    pub channels: Vec<usize>,
    /// Width of the projection (`--netF_nc`, 256).
    #[config(default = 256)]
    pub nc: usize,
    /// Seed of the official initialisation (xavier-normal, gain 0.02, zero biases).
    #[config(default = 0)]
    pub seed: u64,
}

/// One head `mlp_j`: Linear(C_j → nc) → ReLU → Linear(nc → nc), both with bias; module indices
/// as in the official `nn.Sequential` (`mlp_j.0`, `mlp_j.2`).
#[derive(Module, Debug)]
pub struct PatchSampleMlp<B: Backend> {
    /// The three modules.
    pub layers: Vec<HeadLayer<B>>,
    /// Input feature width C_j.
    pub input_features: usize,
}

/// The heads of CUT and FastCUT (network F): `mlp[j]` for the j-th entry of `nce_layers`. The
/// official code creates them lazily on the first call; building them from the tap channel
/// counts gives the same networks.
#[derive(Module, Debug)]
pub struct PatchSampleHeads<B: Backend> {
    /// One head per tapped layer.
    pub mlp: Vec<PatchSampleMlp<B>>,
}

impl PatchSampleHeadsConfig {
    /// Builds the heads with the official initialisation drawn from `self.seed`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> PatchSampleHeads<B> {
        self.init_with(&mut WeightInit::official(self.seed), device)
    }

    /// Builds the heads drawing their weights from `weights`.
    pub fn init_with<B: Backend>(
        &self,
        weights: &mut WeightInit,
        device: &B::Device,
    ) -> PatchSampleHeads<B> {
        let mlp = self
            .channels
            .iter()
            .map(|&c| PatchSampleMlp {
                layers: vec![
                    HeadLayer::Linear(linear(c, self.nc, true, weights, device)),
                    HeadLayer::Relu(Relu),
                    HeadLayer::Linear(linear(self.nc, self.nc, true, weights, device)),
                ],
                input_features: c,
            })
            .collect();
        PatchSampleHeads { mlp }
    }
}

impl<B: Backend> PatchSampleHeads<B> {
    /// Number of heads (tapped layers).
    pub fn num_layers(&self) -> usize {
        self.mlp.len()
    }

    /// `L2norm(mlp_j(x))` with `L2norm(v) = v / (‖v‖₂ + 1e-7)` (official `Normalize(2)`).
    ///
    /// # Shapes
    /// - `patches` `[N, C_j]`, output `[N, nc]`
    pub fn project(&self, layer: usize, patches: Tensor<B, 2>) -> Result<Tensor<B, 2>, NnError> {
        let head = self.mlp.get(layer).ok_or_else(|| {
            NnError::InvalidConfig(format!(
                "tap {layer} has no head: the heads were built for {} taps",
                self.mlp.len()
            ))
        })?;
        let dims = patches.dims();
        if dims[1] != head.input_features || dims[0] == 0 {
            return Err(NnError::InvalidInput {
                network: "PatchSampleHeads",
                expected: format!(
                    "[N ≥ 1, {}] patch rows for tap {layer}",
                    head.input_features
                ),
                got: dims.to_vec(),
            });
        }
        Ok(l2_normalize(forward_all(&head.layers, patches)))
    }
}
