//! EnCo's backend extension (Burn's "custom backend" mechanism).
//!
//! [`EncoBackend`] is a [`Backend`](burn::tensor::backend::Backend) with a few extra
//! operations the EnCo networks spend most of their time in: 2-D convolution with its input,
//! weight and bias gradients, instance normalisation (spec §1.2), reflection padding (§1.1),
//! and the two anti-aliasing resamplers of the official code (§1.3 `Downsample`, §1.4
//! `Upsample`), and the Adam update of a parameter tensor (§7.1). Every operation has a default implementation
//! built on Burn's own operations, so any backend can implement the trait with an empty `impl`
//! and compute exactly what the generic path computes. The CPU backend `flex` overrides them
//! with specialised kernels (convolution as tiled im2col + GEMM, Winograd F(2×2, 3×3)
//! and F(2×2, 4×4) for stride-1 kernels, direct kernels for layers with few output
//! channels, single-pass normalisation, padding, resampling and LeakyReLU adjoint, an in-place
//! Adam update); [`Autodiff`](burn::backend::Autodiff) wraps them in custom
//! backward nodes so that training uses them too.
//!
//! The networks (`enco-nn`) call these operations through the functions of [`ops`], which take
//! and return ordinary `Tensor`s.
//!
//! Why this crate names backends: Rust's orphan rule places the implementations of a trait for
//! foreign types (Burn's backends) in the crate that defines the trait. The implementations are
//! behind the features `flex`, `ndarray`, `wgpu` and `cuda`, which the `enco` facade enables.

mod adam;
mod autodiff;
mod backend;
pub mod generic;
pub mod ops;

#[cfg(feature = "flex")]
mod flex;

pub use adam::AdamStep;
pub use backend::{EncoAutodiffBackend, EncoBackend};

/// Backends that use the generic implementations as they are.
mod generic_impls {
    #[cfg(feature = "ndarray")]
    impl crate::EncoBackend for burn::backend::NdArray {}

    #[cfg(feature = "wgpu")]
    impl crate::EncoBackend for burn::backend::Wgpu {}

    #[cfg(feature = "cuda")]
    impl crate::EncoBackend for burn::backend::Cuda {}
}
