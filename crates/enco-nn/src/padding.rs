//! Reflection and replication padding (docs/reference.md §1.1).

use burn::prelude::*;
use burn::tensor::ops::PadMode;
use enco_kernels::{EncoBackend, ops};

/// `nn.ReflectionPad2d`: pads H and W by mirroring without repeating the edge sample
/// (`[1,2,3,4]`, p = 2 → `[3,2,1,2,3,4]`), docs/reference.md §1.1, as one operation of the backend
/// ([`EncoBackend::reflect_pad`]).
#[derive(Module, Clone, Debug)]
pub struct ReflectionPad2d {
    /// Padding on each of the four sides.
    pub padding: usize,
}

impl ReflectionPad2d {
    /// Creates the padding layer.
    pub fn new(padding: usize) -> Self {
        Self { padding }
    }

    /// # Shapes
    /// - input `[B, C, H, W]` with `H, W > padding`
    /// - output `[B, C, H + 2p, W + 2p]`
    pub fn forward<B: EncoBackend>(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        ops::reflect_pad(x, self.padding)
    }
}

/// `nn.ReplicationPad2d`: pads H and W by repeating the edge sample, docs/reference.md §1.1.
#[derive(Module, Clone, Debug)]
pub struct ReplicationPad2d {
    /// Padding on each of the four sides.
    pub padding: usize,
}

impl ReplicationPad2d {
    /// Creates the padding layer.
    pub fn new(padding: usize) -> Self {
        Self { padding }
    }

    /// # Shapes
    /// - input `[B, C, H, W]`
    /// - output `[B, C, H + 2p, W + 2p]`
    pub fn forward<B: Backend>(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let p = self.padding;
        x.pad((p, p, p, p), PadMode::Edge)
    }
}
