//! The projection head h and prediction head g of every feature pair (docs/reference.md §4.1), i.e. the
//! official `PatchSampleWithDAGF` without its sampler.

use burn::nn::Relu;
use burn::prelude::*;
use enco_kernels::EncoBackend;

use crate::error::NnError;
use crate::head_layer::{HeadLayer, forward_all};
use crate::head_norm::{HeadNorm, l2_normalize};
use crate::init::{WeightInit, linear};

/// Configuration of the heads (`--netF mlp_sample_with_DAG`, docs/reference.md §4.1).
#[derive(Config, Debug)]
pub struct EncoHeadsConfig {
    /// Channel count of each feature pair, in pair order (decoder order: layers 28, 24, 18 →
    /// `[ngf, 2·ngf, 4·ngf]`).
    pub channels: Vec<usize>,
    /// Width of the projection (`--netF_nc`, 256).
    #[config(default = 256)]
    pub nc: usize,
    /// Normalisation inside the heads (`--prj_norm`; code default BN).
    #[config(default = "HeadNorm::BatchNorm")]
    pub norm: HeadNorm,
    /// Seed of the official initialisation (§4.2).
    #[config(default = 0)]
    pub seed: u64,
}

/// Projection head `mlp_i`: Linear(C→nc, no bias) → Norm → ReLU → Linear(nc→nc, no bias) →
/// Norm′ (BN without affine in BN mode, LN with affine in LN mode). Shared by the encoder and
/// decoder features of pair i.
#[derive(Module, Debug)]
pub struct ProjectionHead<B: Backend> {
    /// The five modules, at the official indices `mlp_i.0..=4`.
    pub layers: Vec<HeadLayer<B>>,
    /// Input feature width C_i.
    pub input_features: usize,
}

/// Prediction head `prj_i` (decoder branch only): Linear(nc→nc/2, no bias) → Norm → ReLU →
/// Linear(nc/2→nc, with bias).
#[derive(Module, Debug)]
pub struct PredictionHead<B: Backend> {
    /// The four modules, at the official indices `prj_i.0..=3`.
    pub layers: Vec<HeadLayer<B>>,
}

/// All heads of the EnCo model (the official network F): `mlp[i]` and `prj[i]` for every pair.
#[derive(Module, Debug)]
pub struct EncoHeads<B: Backend> {
    /// Projection heads, one per pair.
    pub mlp: Vec<ProjectionHead<B>>,
    /// Prediction heads, one per pair.
    pub prj: Vec<PredictionHead<B>>,
}

impl EncoHeadsConfig {
    /// Builds the heads with the official initialisation drawn from `self.seed`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> EncoHeads<B> {
        self.init_with(&mut WeightInit::official(self.seed), device)
    }

    /// Builds the heads drawing their weights from `weights`.
    pub fn init_with<B: Backend>(
        &self,
        weights: &mut WeightInit,
        device: &B::Device,
    ) -> EncoHeads<B> {
        let nc = self.nc;
        let half = nc / 2;
        let mlp = self
            .channels
            .iter()
            .map(|&c| ProjectionHead {
                layers: vec![
                    HeadLayer::Linear(linear(c, nc, false, weights, device)),
                    HeadLayer::norm(self.norm, nc, true, device),
                    HeadLayer::Relu(Relu),
                    HeadLayer::Linear(linear(nc, nc, false, weights, device)),
                    HeadLayer::norm(self.norm, nc, false, device),
                ],
                input_features: c,
            })
            .collect();
        let prj = self
            .channels
            .iter()
            .map(|_| PredictionHead {
                layers: vec![
                    HeadLayer::Linear(linear(nc, half, false, weights, device)),
                    HeadLayer::norm(self.norm, half, true, device),
                    HeadLayer::Relu(Relu),
                    HeadLayer::Linear(linear(half, nc, true, weights, device)),
                ],
            })
            .collect();
        EncoHeads { mlp, prj }
    }
}

impl<B: Backend> ProjectionHead<B> {
    /// # Shapes
    /// - input `[N, C_i]`, output `[N, nc]` (not normalised)
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        forward_all(&self.layers, x)
    }
}

impl<B: Backend> PredictionHead<B> {
    /// # Shapes
    /// - input `[N, nc]`, output `[N, nc]` (not normalised)
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        forward_all(&self.layers, x)
    }
}

impl<B: Backend> EncoHeads<B> {
    /// Number of feature pairs.
    pub fn num_pairs(&self) -> usize {
        self.mlp.len()
    }

    /// Decoder branch (docs/reference.md §4.4 step 5): `L2norm(prj_i(mlp_i(x)))`, or `L2norm(mlp_i(x))`
    /// without the prediction head (`--no_predictor`). One call is one BatchNorm batch.
    ///
    /// # Shapes
    /// - `patches` `[N, C_i]`, output `[N, nc]`
    pub fn project_decoder(
        &self,
        pair: usize,
        patches: Tensor<B, 2>,
        predictor: bool,
    ) -> Result<Tensor<B, 2>, NnError> {
        let z = self.projection(pair, patches)?;
        let z = if predictor {
            self.prj[pair].forward(z)
        } else {
            z
        };
        Ok(l2_normalize(z))
    }

    /// Encoder branch (docs/reference.md §4.5): `L2norm(mlp_i(x))`, no prediction head. A separate call from
    /// the decoder branch, so BatchNorm uses this call's own statistics.
    ///
    /// # Shapes
    /// - `patches` `[N, C_i]`, output `[N, nc]`
    pub fn project_encoder(
        &self,
        pair: usize,
        patches: Tensor<B, 2>,
    ) -> Result<Tensor<B, 2>, NnError> {
        Ok(l2_normalize(self.projection(pair, patches)?))
    }

    fn projection(&self, pair: usize, patches: Tensor<B, 2>) -> Result<Tensor<B, 2>, NnError> {
        let head = self.mlp.get(pair).ok_or_else(|| {
            NnError::InvalidConfig(format!(
                "pair {pair} has no head: the heads were built for {} pairs",
                self.mlp.len()
            ))
        })?;
        let dims = patches.dims();
        if dims[1] != head.input_features || dims[0] == 0 {
            return Err(NnError::InvalidInput {
                network: "ProjectionHead",
                expected: format!(
                    "[N ≥ 1, {}] patch rows for pair {pair}",
                    head.input_features
                ),
                got: dims.to_vec(),
            });
        }
        Ok(head.forward(patches))
    }
}

/// Gathers feature vectors at flat positions `p = y·W + x`, one id list per batch element, and
/// stacks them sample-major (docs/reference.md §4.4 steps 1, 3e and 4), through
/// [`EncoBackend::gather_patches`](enco_kernels::EncoBackend::gather_patches): one operation
/// whose gradient is one pass, reading a narrowed batch in place on the CPU.
///
/// # Shapes
/// - `features` `[B, C, H, W]`, `ids.len() == B`
/// - output `[Σ_b ids[b].len(), C]`
pub fn gather_patches<B: EncoBackend>(
    features: Tensor<B, 4>,
    ids: &[Vec<usize>],
) -> Result<Tensor<B, 2>, NnError> {
    let [b, c, h, w] = features.dims();
    if ids.len() != b {
        return Err(NnError::InvalidInput {
            network: "gather_patches",
            expected: format!("one id list per batch element ({} lists)", ids.len()),
            got: vec![b, c, h, w],
        });
    }
    if let Some(&bad) = ids.iter().flatten().find(|&&p| p >= h * w) {
        return Err(NnError::InvalidInput {
            network: "gather_patches",
            expected: format!("patch ids below H·W = {} (got id {bad})", h * w),
            got: vec![b, c, h, w],
        });
    }
    // Row of (b, p) = b·H·W + p.
    let rows: Vec<usize> = ids
        .iter()
        .enumerate()
        .flat_map(|(bi, list)| list.iter().map(move |&p| bi * h * w + p))
        .collect();
    Ok(enco_kernels::ops::gather_patches(features, &rows))
}
