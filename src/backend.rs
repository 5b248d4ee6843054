//! The backend chosen by Cargo features: `cuda` over `wgpu` over `ndarray` over `flex` when
//! several are enabled. The features are conveniences for programs that want one named backend
//! (the examples, benches and the `enco` command); the library itself is generic over any
//! [`EncoBackend`](crate::kernels::EncoBackend), and this module exists only when one of them is
//! enabled. `wgpu` and `cuda` come with Burn's kernel fusion and autotuning, as Burn builds
//! them by default.

#[cfg(feature = "cuda")]
mod selected {
    /// The inference backend selected by the enabled features.
    pub type Backend = burn::backend::Cuda;
    /// GPU `index` of the backend.
    pub fn device(index: usize) -> burn::tensor::Device<Backend> {
        burn::backend::cuda::CudaDevice::new(index)
    }
    /// Human-readable backend name.
    pub const NAME: &str = "cuda";
}

#[cfg(all(feature = "wgpu", not(feature = "cuda")))]
mod selected {
    /// The inference backend selected by the enabled features.
    pub type Backend = burn::backend::Wgpu;
    /// GPU `index` of the backend.
    pub fn device(index: usize) -> burn::tensor::Device<Backend> {
        burn::backend::wgpu::WgpuDevice::DiscreteGpu(index)
    }
    /// Human-readable backend name.
    pub const NAME: &str = "wgpu";
}

#[cfg(all(feature = "ndarray", not(any(feature = "cuda", feature = "wgpu"))))]
mod selected {
    /// The inference backend selected by the enabled features.
    pub type Backend = burn::backend::NdArray;
    /// The CPU, whatever `index` (replicas on the CPU share it).
    pub fn device(_index: usize) -> burn::tensor::Device<Backend> {
        Default::default()
    }
    /// Human-readable backend name.
    pub const NAME: &str = "ndarray";
}

#[cfg(all(
    feature = "flex",
    not(any(feature = "cuda", feature = "wgpu", feature = "ndarray"))
))]
mod selected {
    /// The inference backend selected by the enabled features.
    pub type Backend = burn::backend::Flex;
    /// The CPU, whatever `index` (replicas on the CPU share it).
    pub fn device(_index: usize) -> burn::tensor::Device<Backend> {
        Default::default()
    }
    /// Human-readable backend name.
    pub const NAME: &str = "flex";
}

/// The backend selected by the enabled features (inference).
pub type Backend = selected::Backend;

/// The selected backend with automatic differentiation (training).
pub type TrainBackend = burn::backend::Autodiff<Backend>;

/// Name of the selected backend.
pub const NAME: &str = selected::NAME;

/// Device `index` of the selected backend: GPU `index` for cuda and wgpu (a discrete adapter),
/// the CPU for flex and ndarray (where data-parallel replicas share it). What
/// [`TrainingRun::set_devices`](crate::train::TrainingRun::set_devices) takes, one per replica.
pub fn device(index: usize) -> burn::tensor::Device<Backend> {
    selected::device(index)
}

/// The default device of the selected backend.
pub fn default_device() -> burn::tensor::Device<Backend> {
    Default::default()
}
