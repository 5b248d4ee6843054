//! The extension traits.

use burn::tensor::Shape;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::ops::{ConvOptions, FloatTensor};

use crate::{AdamStep, ConvPrelude, generic};

/// A Burn backend with the operations EnCo's networks spend their time in.
///
/// Each method has a default built on Burn's generic operations (the result every backend
/// computes without the extension); a backend overrides the ones it has faster kernels for.
/// [`Autodiff`](burn::backend::Autodiff) over an `EncoBackend` records each operation as one
/// node whose backward pass calls the `*_backward` methods of the inner backend.
///
/// Tensors are Burn's float primitives ([`FloatTensor`]); [`crate::ops`] has the same
/// operations on `Tensor`s.
pub trait EncoBackend: Backend {
    /// 2-D convolution, `nn.Conv2d` (docs/reference.md §1): `y = conv(x, weight) + bias`.
    ///
    /// Shapes: `x [N, C_in, H, W]`, `weight [C_out, C_in / groups, kH, kW]`, `bias [C_out]`.
    fn enco_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d(x, weight, bias, options)
    }

    /// `enco_conv2d(prelude(x), weight, bias)`: the [`ConvPrelude`]'s operations and the
    /// convolution as one operation. Under [`Autodiff`](burn::backend::Autodiff) the node keeps
    /// `x` rather than the convolution's input and applies the prelude again in its backward
    /// pass; elsewhere it is the operations one after the other.
    ///
    /// Shapes: `x` as [`ConvPrelude::apply`] takes it, the rest as for
    /// [`enco_conv2d`](Self::enco_conv2d).
    fn enco_conv2d_after(
        x: FloatTensor<Self>,
        prelude: ConvPrelude,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::enco_conv2d(prelude.apply::<Self>(x), weight, bias, options)
    }

    /// Gradient of [`enco_conv2d`](Self::enco_conv2d) with respect to `x`, given the gradient of
    /// its output.
    fn enco_conv2d_x_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d_x_backward(x, weight, output_grad, options)
    }

    /// Gradient of [`enco_conv2d`](Self::enco_conv2d) with respect to `weight`.
    fn enco_conv2d_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d_weight_backward(x, weight, output_grad, options)
    }

    /// Gradient of [`enco_conv2d`](Self::enco_conv2d) with respect to `bias`: the output
    /// gradient summed over batch and space.
    fn enco_conv2d_bias_backward(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::conv2d_bias_backward(x, bias, output_grad)
    }

    /// `nn.InstanceNorm2d` without affine parameters (docs/reference.md §1.2): per sample and channel,
    /// `y = (x − mean) / sqrt(var_biased + epsilon)` over H×W.
    ///
    /// Returns `y [N, C, H, W]` and the inverse standard deviations `[N, C]`, which the backward
    /// pass needs.
    fn instance_norm(x: FloatTensor<Self>, epsilon: f64) -> (FloatTensor<Self>, FloatTensor<Self>) {
        generic::instance_norm::<Self>(x, epsilon)
    }

    /// The gradient of [`instance_norm`](Self::instance_norm)'s input from its output `y`, its
    /// inverse standard deviations and the output gradient `g`:
    /// `dx = inv_std · (g − mean(g) − y · mean(g · y))` per plane.
    fn instance_norm_backward(
        output: FloatTensor<Self>,
        inv_std: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        generic::instance_norm_backward::<Self>(output, inv_std, grad)
    }

    /// `relu(instance_norm(x))`, the generator's `InstanceNorm2d` + `ReLU` pairs
    /// (docs/reference.md §1.2), in one pass where the backend has a kernel for it, the two
    /// operations one after the other otherwise (the same values either way).
    ///
    /// Returns the ReLU's output, the normalised `y` before it and the inverse standard
    /// deviations `[N, C]`: the last two are what
    /// [`instance_norm_relu_backward`](Self::instance_norm_relu_backward) needs, and on an
    /// autodiff backend they are not tracked (only the first output is).
    fn instance_norm_relu(
        x: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (normalised, inv_std) = Self::instance_norm(x, epsilon);
        (Self::relu(normalised.clone()), normalised, inv_std)
    }

    /// The adjoint of [`instance_norm_relu`](Self::instance_norm_relu) at its input, from the
    /// normalised `y` before the ReLU and the inverse standard deviations:
    /// `instance_norm_backward(y, inv_std, relu_backward(y, grad))`, the ReLU's mask taken from
    /// `y` itself (`relu(y) > 0` exactly where `y > 0`).
    fn instance_norm_relu_backward(
        normalised: FloatTensor<Self>,
        inv_std: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let masked = Self::relu_backward(normalised.clone(), grad);
        Self::instance_norm_backward(normalised, inv_std, masked)
    }

    /// `nn.ReflectionPad2d(padding)` (docs/reference.md §1.1): mirror padding of H and W without repeating
    /// the edge sample, `padding < H, W`.
    fn reflect_pad(x: FloatTensor<Self>, padding: usize) -> FloatTensor<Self> {
        generic::reflect_pad::<Self>(x, padding)
    }

    /// The adjoint of [`reflect_pad`](Self::reflect_pad): each padded sample's gradient added
    /// onto the sample it mirrors.
    fn reflect_pad_backward(grad: FloatTensor<Self>, padding: usize) -> FloatTensor<Self> {
        generic::reflect_pad_backward::<Self>(grad, padding)
    }

    /// `reflect_pad(relu(x), padding)`: the ReLU and the reflection padding of a
    /// [`ConvPrelude`](crate::ConvPrelude) in one pass where the backend has a kernel for it, the
    /// two operations one after the other otherwise (the same values either way).
    fn relu_reflect_pad(x: FloatTensor<Self>, padding: usize) -> FloatTensor<Self> {
        Self::reflect_pad(Self::relu(x), padding)
    }

    /// The adjoint of [`relu_reflect_pad`](Self::relu_reflect_pad) at its input `x`:
    /// `relu_backward(x, reflect_pad_backward(grad))`, the ReLU's mask taken from `x` itself.
    fn relu_reflect_pad_backward(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        padding: usize,
    ) -> FloatTensor<Self> {
        Self::relu_backward(x, Self::reflect_pad_backward(grad, padding))
    }

    /// The official `Downsample` (docs/reference.md §1.3): reflect padding of 1, then the depthwise 3×3 blur
    /// `[1,2,1]ᵀ[1,2,1] / 16` with stride 2.
    ///
    /// Shapes: `x [N, C, H, W]` with `H, W ≥ 2` → `[N, C, ⌊(H − 1)/2⌋ + 1, ⌊(W − 1)/2⌋ + 1]`.
    fn blur_downsample(x: FloatTensor<Self>) -> FloatTensor<Self> {
        generic::blur_downsample::<Self>(x)
    }

    /// The adjoint of [`blur_downsample`](Self::blur_downsample): the gradient of its input
    /// (of shape `input_shape`) given the gradient of its output.
    fn blur_downsample_backward(grad: FloatTensor<Self>, input_shape: Shape) -> FloatTensor<Self> {
        generic::blur_downsample_backward::<Self>(grad, input_shape)
    }

    /// The official `Upsample` (docs/reference.md §1.4) in its separable polyphase form: ×2 along W, then
    /// along H, each output sample `¼·x[m∓1] + ¾·x[m]` with edge clamping.
    ///
    /// Shapes: `x [N, C, H, W]` → `[N, C, 2H, 2W]`.
    fn upsample2x(x: FloatTensor<Self>) -> FloatTensor<Self> {
        generic::upsample2x::<Self>(x)
    }

    /// The adjoint of [`upsample2x`](Self::upsample2x): the gradient of its input given the
    /// gradient of its output `[N, C, 2H, 2W]`.
    fn upsample2x_backward(grad: FloatTensor<Self>) -> FloatTensor<Self> {
        generic::upsample2x_backward::<Self>(grad)
    }

    /// The feature vectors of `features [B, C, H, W]` at flat rows `rows[k] = b·H·W + p`
    /// (image `b`, position `p = y·W + x`), stacked as `[K, C]` in the order of `rows`: the
    /// patch gather of the contrastive heads (docs/reference.md §4.4). Rows may repeat.
    ///
    /// Every row must lie below `B·H·W` (the callers check; Burn's `select` panics otherwise).
    fn gather_patches(features: FloatTensor<Self>, rows: &[usize]) -> FloatTensor<Self> {
        generic::gather_patches::<Self>(features, rows)
    }

    /// The adjoint of [`gather_patches`](Self::gather_patches): the gradient `[B, C, H, W]`
    /// (`shape`) of its input given the gradient `[K, C]` of its output, each row's gradient
    /// added at its position in the order of `rows`, zero elsewhere.
    fn gather_patches_backward(
        grad: FloatTensor<Self>,
        shape: Shape,
        rows: &[usize],
    ) -> FloatTensor<Self> {
        generic::gather_patches_backward::<Self>(grad, shape, rows)
    }

    /// `nn.LeakyReLU(negative_slope)`: `x` where `x ≥ 0`, `negative_slope · x` elsewhere.
    fn enco_leaky_relu(x: FloatTensor<Self>, negative_slope: f64) -> FloatTensor<Self> {
        <Self as burn::tensor::ops::ActivationOps<Self>>::leaky_relu(x, negative_slope.into())
    }

    /// The gradient of [`enco_leaky_relu`](Self::enco_leaky_relu)'s input from its output `y` and the
    /// output gradient `g`, as PyTorch's `leaky_relu_backward`: `g` where `y > 0`,
    /// `negative_slope · g` elsewhere (`negative_slope > 0`, so `y` has the sign of `x`).
    fn leaky_relu_backward(
        output: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        negative_slope: f64,
    ) -> FloatTensor<Self> {
        generic::leaky_relu_backward::<Self>(output, grad, negative_slope)
    }

    /// `relu(x · scale_c + shift_c)` per channel `c` of `x [N, C, H, W]`, with `scale` and
    /// `shift` of shape `[C]`: an eval-mode BatchNorm written as a per-channel affine map
    /// (`scale = γ / √(var + ε)`, `shift = β − mean · scale`, as PyTorch's CPU kernel folds
    /// it), then ReLU. Each output is rounded as that kernel rounds it: the product, then the
    /// sum, then the clamp (NaN stays NaN).
    fn scale_shift_relu(
        x: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        generic::scale_shift_relu::<Self>(x, scale, shift)
    }

    /// `F.avg_pool2d(x, kernel_size, stride, padding, ceil_mode=False, count_include_pad)`
    /// on `x [N, C, H, W]` (the FID Inception's pool branches).
    fn enco_avg_pool2d(
        x: FloatTensor<Self>,
        kernel_size: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        count_include_pad: bool,
    ) -> FloatTensor<Self> {
        Self::avg_pool2d(x, kernel_size, stride, padding, count_include_pad, false)
    }

    /// `F.max_pool2d(x, kernel_size, stride, padding)` (dilation 1, `ceil_mode=False`) on
    /// `x [N, C, H, W]` (the FID Inception's downsampling pools).
    fn enco_max_pool2d(
        x: FloatTensor<Self>,
        kernel_size: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> FloatTensor<Self> {
        Self::max_pool2d(x, kernel_size, stride, padding, [1, 1], false)
    }

    /// One Adam update of a parameter tensor ([`AdamStep`], docs/reference.md §7.1): the parameter `param`,
    /// its gradient `grad` and the moments `(m, v)` of the previous step (`None` before the
    /// first) give the updated parameter and moments, each of `param`'s shape.
    ///
    /// Parameters and optimiser state are not tracked by autodiff; the optimiser calls this on
    /// the inner backend.
    fn adam_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moments: Option<(FloatTensor<Self>, FloatTensor<Self>)>,
        step: &AdamStep,
    ) -> (FloatTensor<Self>, (FloatTensor<Self>, FloatTensor<Self>)) {
        generic::adam_step::<Self>(param, grad, moments, step)
    }
}

/// An autodiff backend whose forward and inner backends both have the EnCo operations, which is
/// what training needs (the networks run on `Self`, evaluation on `Self::InnerBackend`).
pub trait EncoAutodiffBackend: AutodiffBackend<InnerBackend: EncoBackend> + EncoBackend {}

impl<B> EncoAutodiffBackend for B where B: AutodiffBackend<InnerBackend: EncoBackend> + EncoBackend {}
