//! # enco
//!
//! EnCo (AAAI 2024) unpaired image-to-image translation on [Burn](https://burn.dev): a ResNet
//! generator split into encoder and decoder, a shared projection head and a prediction head on
//! matching encoder/decoder stages, a stop-gradient content loss on l2-normalised patch
//! embeddings, discriminator-guided (DAG) patch sampling, LSGAN and an identity loss, trained
//! with three Adam optimisers.
//!
//! This crate re-exports the workspace crates; its Cargo features (`flex`, the default, pure-Rust
//! CPU; `ndarray`; `wgpu`; `cuda`) select a backend for `enco::backend`. The networks, the
//! trainers and translation run on any [`kernels::EncoBackend`]: a Burn backend with EnCo's
//! backend extension, implemented for every `NdArray<E, I, Q>`, `CubeBackend<R, F, I, BT>`,
//! `Fusion<B>`, `Candle<F, I>` and `Flex` (with specialised CPU kernels) behind the matching
//! features of `enco-kernels`, and for `Autodiff` of each. With `default-features = false` no
//! backend is named and the crates stay generic (see `examples/downstream`).
//!
//! ```no_run
//! use enco::backend::{TrainBackend, default_device};
//! use enco::train::{EncoConfig, EncoTrainer};
//! use enco::burn::prelude::*;
//! use enco::burn::tensor::Distribution;
//!
//! let device = default_device();
//! let config = EncoConfig::new();
//! let model = config.init::<TrainBackend>(&device).unwrap();
//! let mut trainer = EncoTrainer::new(model, config);
//! let a = Tensor::<TrainBackend, 4>::random([1, 3, 64, 64], Distribution::Uniform(-1.0, 1.0), &device);
//! let b = Tensor::<TrainBackend, 4>::random([1, 3, 64, 64], Distribution::Uniform(-1.0, 1.0), &device);
//! let mut rng = <enco::train::ChaCha8Rng as enco::rand::SeedableRng>::seed_from_u64(0);
//! let losses = trainer.step(a, b, true, 1.0, None, &mut rng).unwrap();
//! println!("{losses:?}");
//! ```

#[cfg(any(
    feature = "flex",
    feature = "ndarray",
    feature = "wgpu",
    feature = "cuda"
))]
pub mod backend;

pub use burn;
pub use enco_data as data;
pub use enco_eval as eval;
pub use enco_kernels as kernels;
pub use enco_loss as loss;
pub use enco_nn as nn;
pub use enco_sampling as sampling;
pub use enco_train as train;
/// The `rand` the crates use (0.10, Burn's, with its `chacha` feature): `enco::rand::SeedableRng`
/// seeds the [`train::ChaCha8Rng`] a training step takes without a `rand` dependency of one's own.
pub use rand;

/// The README's code examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeExamples;

/// The data-parallel guide's code examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../docs/distributed.md")]
pub struct DistributedGuideExamples;

/// The FID guide's code examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../docs/fid.md")]
pub struct FidGuideExamples;
