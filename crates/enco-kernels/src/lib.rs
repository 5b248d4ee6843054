//! EnCo's backend extension (Burn's "custom backend" mechanism).
//!
//! [`EncoBackend`] is a [`Backend`](burn::tensor::backend::Backend) with a few extra
//! operations the EnCo networks spend most of their time in: 2-D convolution with its input,
//! weight and bias gradients, instance normalisation (docs/reference.md §1.2), reflection padding (§1.1),
//! and the two anti-aliasing resamplers of the official code (§1.3 `Downsample`, §1.4
//! `Upsample`), and the Adam update of a parameter tensor (§7.1). Every operation has a default implementation
//! built on Burn's own operations, so any backend can implement the trait with an empty `impl`
//! and compute exactly what the generic path computes. The CPU backend `flex` overrides them
//! with specialised kernels (convolution as tiled im2col + GEMM, Winograd F(2×2, 3×3)
//! (forward, and gradients over few tiles), F(4×4, 3×3) (gradients) and F(2×2, 4×4) for
//! stride-1 kernels, direct kernels
//! for layers with few output channels, single-pass normalisation, padding, resampling and LeakyReLU adjoint, an in-place
//! Adam update); [`Autodiff`](burn::backend::Autodiff) wraps them in custom
//! backward nodes so that training uses them too.
//!
//! The networks (`enco-nn`) call these operations through the functions of [`ops`], which take
//! and return ordinary `Tensor`s.
//!
//! Why this crate names backends: Rust's orphan rule places the implementations of a trait for
//! foreign types (Burn's backends) in the crate that defines the trait. Each implementation is
//! generic over what Burn's type is generic over, and sits behind the feature that brings the
//! backend's crate in:
//!
//! | feature | implemented for |
//! |---|---|
//! | `flex` | `Flex` (with the specialised kernels) |
//! | `ndarray` | `NdArray<E, I, Q>` |
//! | `cubecl` | `CubeBackend<R, F, I, BT>`: every CubeCL runtime and element type |
//! | `fusion` | `Fusion<B>` for every `B: FusionBackend` |
//! | `wgpu`, `cuda` | `cubecl` + `fusion` and Burn's backend (what the `enco` facade enables) |
//! | `candle` | `Candle<F, I>` |
//!
//! and `Autodiff<B, C>` of any of them. Burn's LibTorch backend is left out: its build downloads
//! libtorch, which cannot be built or tested here.

mod adam;
mod allocator;
mod autodiff;
mod backend;
mod conv_prelude;
mod executor;
pub mod generic;
pub mod ops;

#[cfg(feature = "flex")]
mod flex;

pub use adam::AdamStep;
pub use allocator::keep_freed_memory;
pub use backend::{EncoAutodiffBackend, EncoBackend};
pub use conv_prelude::ConvPrelude;
pub use executor::Executor;
#[cfg(feature = "flex")]
pub use flex::{SIMD_LEVEL_ENV, SimdLevel, SimdLevelError, force_simd_level, simd_level};

/// Backends that use the generic implementations as they are, each implemented for every
/// element type and runtime Burn's type is generic over.
mod generic_impls {
    /// Every `NdArray<E, I, Q>` (f32, f64, any index and quantisation type).
    #[cfg(feature = "ndarray")]
    impl<E, I, Q> crate::EncoBackend for burn::backend::NdArray<E, I, Q>
    where
        E: burn::backend::ndarray::FloatNdArrayElement,
        I: burn::backend::ndarray::IntNdArrayElement,
        Q: burn::backend::ndarray::QuantElement,
        burn::backend::ndarray::NdArrayTensor: From<burn::backend::ndarray::SharedArray<E>>,
        burn::backend::ndarray::NdArrayTensor: From<burn::backend::ndarray::SharedArray<I>>,
    {
    }

    /// Every CubeCL backend without fusion: any runtime (wgpu, CUDA, ROCm, CPU), float type
    /// (f32, f16, bf16, flex32), int and bool type.
    #[cfg(feature = "cubecl")]
    impl<R, F, I, BT> crate::EncoBackend for burn_cubecl::CubeBackend<R, F, I, BT>
    where
        R: burn_cubecl::CubeRuntime,
        R::Server: burn_cubecl::cubecl::server::ComputeServer,
        R::Device: burn::tensor::backend::DeviceOps,
        F: burn_cubecl::FloatElement,
        I: burn_cubecl::IntElement,
        BT: burn_cubecl::BoolElement,
    {
    }

    /// Every fused backend (`Fusion<CubeBackend<..>>`: wgpu and CUDA as Burn builds them by
    /// default).
    #[cfg(feature = "fusion")]
    impl<B: burn_fusion::FusionBackend> crate::EncoBackend for burn_fusion::Fusion<B> {}

    /// Every `Candle<F, I>` (a backend Burn 0.21 marks as deprecated; kept for programs that
    /// still use it).
    #[cfg(feature = "candle")]
    #[allow(deprecated)]
    impl<F, I> crate::EncoBackend for burn::backend::Candle<F, I>
    where
        F: burn::backend::candle::FloatCandleElement,
        I: burn::backend::candle::IntCandleElement,
    {
    }
}
