//! What a crate that depends on enco looks like: it enables no backend feature of enco's, picks
//! its own backend (here `Autodiff<NdArray<f64>>`, which enco never names), and trains EnCo
//! through the generic API.
//!
//! ```sh
//! cargo run -p enco-downstream        # one EnCo step in double precision on ndarray
//! ```

use burn::prelude::*;
use burn::tensor::Distribution;
use enco::kernels::EncoAutodiffBackend;
use enco::nn::{NLayerDiscriminatorConfig, ResnetGeneratorConfig};
use enco::sampling::DagSamplerConfig;
use enco::train::{EncoConfig, EncoTrainer, StepLosses, TrainError};
use rand::SeedableRng;

/// A small EnCo (ngf = ndf = 4, 2 residual blocks, heads of 16, 16 patches).
pub fn small_enco() -> EncoConfig {
    EncoConfig::new()
        .with_generator(ResnetGeneratorConfig::new().with_ngf(4).with_n_blocks(2))
        .with_discriminator(NLayerDiscriminatorConfig::new().with_ndf(4))
        .with_head_nc(16)
        .with_nce_layers(vec![3, 7, 12, 13, 17, 21])
        .with_sampler(DagSamplerConfig::new().with_num_patches(16))
        .with_seed(7)
}

/// Builds the small EnCo on `device` and trains it for `steps` iterations on random 32 px
/// images; returns the losses of each step.
pub fn train<B: EncoAutodiffBackend>(
    steps: usize,
    device: &B::Device,
) -> Result<Vec<StepLosses>, TrainError> {
    let config = small_enco();
    let model = config.init::<B>(device)?;
    let mut trainer = EncoTrainer::new(model, config);
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(0);
    B::seed(device, 0);
    (0..steps)
        .map(|_| {
            let image =
                || Tensor::<B, 4>::random([1, 3, 32, 32], Distribution::Uniform(-1.0, 1.0), device);
            trainer.step(image(), image(), true, 1.0, None, &mut rng)
        })
        .collect()
}

/// The backend of this crate's example and test: double precision on ndarray, with autodiff.
pub type DoubleBackend = burn::backend::Autodiff<burn::backend::NdArray<f64>>;

/// Training in half precision on wgpu with Burn's kernel fusion is possible as far as types go
/// (`Wgpu<f16, i32, u32>` is `Fusion<CubeBackend<WgpuRuntime, f16, i32, u32>>` in Burn 0.21).
#[cfg(feature = "wgpu")]
pub fn train_on_wgpu_in_half_precision(
    device: &burn::backend::wgpu::WgpuDevice,
) -> Result<Vec<StepLosses>, TrainError> {
    type HalfWgpu = burn::backend::Autodiff<burn::backend::Wgpu<burn::tensor::f16, i32, u32>>;
    train::<HalfWgpu>(1, device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trains_with_a_backend_enco_never_names() {
        let losses = train::<DoubleBackend>(2, &Default::default()).unwrap();
        assert_eq!(losses.len(), 2);
        for l in &losses {
            let all = [l.d, l.g, l.g_gan, l.content, l.identity];
            assert!(all.iter().all(|v| v.is_finite() && *v > 0.0), "{l:?}");
        }
        assert_ne!(
            losses[0], losses[1],
            "the second step sees updated networks"
        );
    }
}
