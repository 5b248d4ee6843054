//! [`ConvPrelude`]: the parameter-free operations between a tensor and the convolution that
//! reads it, which a training step recomputes instead of keeping.

use burn::tensor::ops::FloatTensor;

use crate::EncoBackend;

/// The cheap operations of the generator that stand between a tensor and the convolution that
/// reads it, applied in this order: `nn.ReLU`, the ×2 `Upsample` (docs/reference.md §1.4),
/// `nn.ReflectionPad2d` (§1.1). The default does nothing.
///
/// [`EncoBackend::enco_conv2d_after`] runs them and the convolution as one operation. Under
/// autodiff it keeps the prelude's *input* for the backward pass and computes the
/// convolution's input again there, instead of keeping the convolution's input: the ResNet
/// blocks' `ReLU → ReflectPad → Conv`, the decoder's `Upsample → Conv` and the last
/// `ReflectPad → Conv` then keep tensors that are kept anyway (the instance norm's output, a
/// feature tap) or up to 4× smaller ones, which takes a fifth off a 256 px training step's
/// peak memory (docs/performance.md) for one more pass of these operations per step.
/// Gradients are the same as those of the three operations run one after the other.
///
/// ```
/// use enco_kernels::ConvPrelude;
///
/// let prelude = ConvPrelude { relu: true, reflect_pad: 1, ..ConvPrelude::default() };
/// assert!(!prelude.is_identity());
/// assert!(ConvPrelude::default().is_identity());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ConvPrelude {
    /// `nn.ReLU` first.
    pub relu: bool,
    /// Then the official `Upsample` ([`EncoBackend::upsample2x`]).
    pub upsample2x: bool,
    /// Then `nn.ReflectionPad2d(reflect_pad)` ([`EncoBackend::reflect_pad`]); 0 for none.
    pub reflect_pad: usize,
}

impl ConvPrelude {
    /// Whether the prelude leaves its input as it is.
    pub fn is_identity(&self) -> bool {
        !self.relu && !self.upsample2x && self.reflect_pad == 0
    }

    /// Whether the prelude is a ReLU then a reflection padding, which
    /// [`EncoBackend::relu_reflect_pad`] runs as one operation (the residual blocks' second
    /// convolution, the generator's last one).
    fn fuses_relu_and_pad(&self) -> bool {
        self.relu && !self.upsample2x && self.reflect_pad > 0
    }

    /// The convolution's input: the prelude's operations applied to `x`.
    ///
    /// Shapes: `x [N, C, H, W]` → `[N, C, s·H + 2p, s·W + 2p]` with `s = 2` when it upsamples
    /// (1 otherwise) and `p = reflect_pad` (`p < s·H, s·W`).
    pub fn apply<B: EncoBackend>(&self, x: FloatTensor<B>) -> FloatTensor<B> {
        if self.fuses_relu_and_pad() {
            return B::relu_reflect_pad(x, self.reflect_pad);
        }
        let mut h = x;
        if self.relu {
            h = B::relu(h);
        }
        if self.upsample2x {
            h = B::upsample2x(h);
        }
        if self.reflect_pad > 0 {
            h = B::reflect_pad(h, self.reflect_pad);
        }
        h
    }

    /// The gradient of the prelude's input `x` given the gradient of its output: the adjoints
    /// of the operations in reverse order (the ReLU's from `x` itself, as Burn's autodiff
    /// computes it).
    pub fn adjoint<B: EncoBackend>(
        &self,
        x: FloatTensor<B>,
        grad: FloatTensor<B>,
    ) -> FloatTensor<B> {
        if self.fuses_relu_and_pad() {
            return B::relu_reflect_pad_backward(x, grad, self.reflect_pad);
        }
        let mut g = grad;
        if self.reflect_pad > 0 {
            g = B::reflect_pad_backward(g, self.reflect_pad);
        }
        if self.upsample2x {
            g = B::upsample2x_backward(g);
        }
        if self.relu {
            g = B::relu_backward(x, g);
        }
        g
    }
}
