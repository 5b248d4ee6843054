//! The EnCo operations on `Tensor`s, for any [`EncoBackend`].

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::TensorPrimitive;
use burn::tensor::ops::ConvOptions;

use crate::{ConvPrelude, EncoBackend};

fn float<B: Backend, const D: usize>(x: Tensor<B, D>) -> burn::tensor::ops::FloatTensor<B> {
    x.into_primitive().tensor()
}

/// 2-D convolution through [`EncoBackend::enco_conv2d`] (`nn.Conv2d`, docs/reference.md §1).
pub fn conv2d<B: EncoBackend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    bias: Option<Tensor<B, 1>>,
    options: ConvOptions<2>,
) -> Tensor<B, 4> {
    Tensor::from_primitive(TensorPrimitive::Float(B::enco_conv2d(
        float(x),
        float(weight),
        bias.map(float),
        options,
    )))
}

/// Burn's `Conv2d` module applied through [`EncoBackend::enco_conv2d`] (its weight, bias,
/// stride, dilation, groups and symmetric padding), so that its gradients, and on the CPU its
/// forward pass, use the backend's specialised kernels; any other padding configuration goes
/// through `Conv2d::forward`.
pub fn conv2d_module<B: EncoBackend>(conv: &Conv2d<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    conv2d_module_after(ConvPrelude::default(), conv, x)
}

/// [`conv2d_module`] of `prelude(x)`, through [`EncoBackend::enco_conv2d_after`]: a training
/// step keeps `x` for the backward pass instead of the convolution's input (see
/// [`ConvPrelude`]). With the identity prelude it is [`conv2d_module`].
///
/// # Panics
/// If the prelude's reflection padding is not below H and W of the plane it pads (after the
/// upsampling, if any), as [`reflect_pad`] does; the networks check their inputs and return
/// errors instead.
pub fn conv2d_module_after<B: EncoBackend>(
    prelude: ConvPrelude,
    conv: &Conv2d<B>,
    x: Tensor<B, 4>,
) -> Tensor<B, 4> {
    if prelude.reflect_pad > 0 {
        let dims = x.dims();
        let scale = if prelude.upsample2x { 2 } else { 1 };
        let padding = prelude.reflect_pad;
        assert!(
            padding < dims[2] * scale && padding < dims[3] * scale,
            "reflect padding {padding} needs H and W above it, got {dims:?}{}",
            if prelude.upsample2x {
                " before the ×2 upsampling"
            } else {
                ""
            }
        );
    }
    let padding = match conv.padding {
        PaddingConfig2d::Valid => [0, 0],
        PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => {
            [top, left]
        }
        _ => {
            let input =
                Tensor::from_primitive(TensorPrimitive::Float(prelude.apply::<B>(float(x))));
            return conv.forward(input);
        }
    };
    Tensor::from_primitive(TensorPrimitive::Float(B::enco_conv2d_after(
        float(x),
        prelude,
        float(conv.weight.val()),
        conv.bias.as_ref().map(|b| float(b.val())),
        ConvOptions::new(conv.stride, padding, conv.dilation, conv.groups),
    )))
}

/// `1 / x`, element-wise, by division (exactly rounded on the CPU backends, within the
/// backend's division accuracy on GPUs: 2.5 ulp in WGSL), with its gradient `−g / x²` by
/// division too.
///
/// Burn's `Tensor::recip` (and the input gradient of a tensor–tensor division, which Burn's
/// autodiff computes as `g · recip(rhs)`) is an approximation on some backends: burn-ndarray
/// 0.21 runs `recip` on f32 through the x86 `rcp` instructions, whose relative error reaches
/// 3.7·10⁻⁴ (AVX2) or 6·10⁻⁵ (AVX-512). Normalisations written as `(x − mean) · reciprocal(std)`
/// instead of `(x − mean) / std` stay within a few ulps on every backend, and match PyTorch's
/// CPU kernels, which multiply by an inverse standard deviation too.
pub fn reciprocal<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    x.ones_like().div(x)
}

/// The official `Downsample` (docs/reference.md §1.3) through [`EncoBackend::blur_downsample`].
///
/// # Panics
/// If H or W is below 2 (reflect padding of 1 needs two samples), like Burn's tensor operations
/// on shapes they do not accept; the networks check their inputs and return errors instead.
pub fn blur_downsample<B: EncoBackend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    let dims = x.dims();
    assert!(
        dims[2] >= 2 && dims[3] >= 2,
        "blur_downsample needs H and W of at least 2, got {dims:?}"
    );
    Tensor::from_primitive(TensorPrimitive::Float(B::blur_downsample(float(x))))
}

/// The feature vectors of `features [B, C, H, W]` at flat rows `rows[k] = b·H·W + p`, stacked
/// `[K, C]` (docs/reference.md §4.4), through [`EncoBackend::gather_patches`].
///
/// # Panics
/// If a row is not below `B·H·W`, like Burn's `select`; `enco_nn::gather_patches` checks its
/// ids and returns an error instead.
pub fn gather_patches<B: EncoBackend>(features: Tensor<B, 4>, rows: &[usize]) -> Tensor<B, 2> {
    let [b, _, h, w] = features.dims();
    if let Some(&bad) = rows.iter().find(|&&r| r >= b * h * w) {
        panic!(
            "gather_patches: row {bad} beyond the {} rows of the features",
            b * h * w
        );
    }
    Tensor::from_primitive(TensorPrimitive::Float(B::gather_patches(
        float(features),
        rows,
    )))
}

/// The official `Upsample` (docs/reference.md §1.4) through [`EncoBackend::upsample2x`].
pub fn upsample2x<B: EncoBackend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    Tensor::from_primitive(TensorPrimitive::Float(B::upsample2x(float(x))))
}

/// `nn.InstanceNorm2d` without affine parameters (docs/reference.md §1.2) through
/// [`EncoBackend::instance_norm`].
pub fn instance_norm<B: EncoBackend>(x: Tensor<B, 4>, epsilon: f64) -> Tensor<B, 4> {
    let (output, _inv_std) = B::instance_norm(float(x), epsilon);
    Tensor::from_primitive(TensorPrimitive::Float(output))
}

/// `relu(instance_norm(x))` (docs/reference.md §1.2, then `nn.ReLU`) as one operation,
/// [`EncoBackend::instance_norm_relu`]: the same values as [`instance_norm`] followed by Burn's
/// `relu`, and one node of the autodiff graph instead of two.
pub fn instance_norm_relu<B: EncoBackend>(x: Tensor<B, 4>, epsilon: f64) -> Tensor<B, 4> {
    let (output, _normalised, _inv_std) = B::instance_norm_relu(float(x), epsilon);
    Tensor::from_primitive(TensorPrimitive::Float(output))
}

/// `nn.ReflectionPad2d` (docs/reference.md §1.1) through [`EncoBackend::reflect_pad`].
///
/// # Panics
/// If `padding` is not below H and W (a reflection cannot reach further), as Burn's `pad` does;
/// the networks check their inputs and return errors instead.
pub fn reflect_pad<B: EncoBackend>(x: Tensor<B, 4>, padding: usize) -> Tensor<B, 4> {
    let dims = x.dims();
    assert!(
        padding < dims[2] && padding < dims[3],
        "reflect padding {padding} needs H and W above it, got {dims:?}"
    );
    Tensor::from_primitive(TensorPrimitive::Float(B::reflect_pad(float(x), padding)))
}

/// `relu(x · scale_c + shift_c)` per channel of `x [N, C, H, W]` (an eval-mode BatchNorm
/// folded to `scale`, `shift` `[C]`, then ReLU) through [`EncoBackend::scale_shift_relu`].
///
/// # Panics
/// If `scale` or `shift` does not hold one value per channel of `x`.
pub fn scale_shift_relu<B: EncoBackend>(
    x: Tensor<B, 4>,
    scale: Tensor<B, 1>,
    shift: Tensor<B, 1>,
) -> Tensor<B, 4> {
    Tensor::from_primitive(TensorPrimitive::Float(B::scale_shift_relu(
        float(x),
        float(scale),
        float(shift),
    )))
}

/// `F.avg_pool2d(x, kernel_size, stride, padding, count_include_pad=…)` (floor mode) through
/// [`EncoBackend::enco_avg_pool2d`].
///
/// # Panics
/// As Burn's `avg_pool2d`, on a window that does not fit the input or a padding beyond half
/// the kernel (Burn's kernels take those and report them).
pub fn avg_pool2d<B: EncoBackend>(
    x: Tensor<B, 4>,
    kernel_size: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    count_include_pad: bool,
) -> Tensor<B, 4> {
    Tensor::from_primitive(TensorPrimitive::Float(B::enco_avg_pool2d(
        float(x),
        kernel_size,
        stride,
        padding,
        count_include_pad,
    )))
}

/// `F.max_pool2d(x, kernel_size, stride, padding)` (dilation 1, floor mode) through
/// [`EncoBackend::enco_max_pool2d`].
///
/// # Panics
/// As Burn's `max_pool2d`, on a window that does not fit the input or a padding beyond half
/// the kernel.
pub fn max_pool2d<B: EncoBackend>(
    x: Tensor<B, 4>,
    kernel_size: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
) -> Tensor<B, 4> {
    Tensor::from_primitive(TensorPrimitive::Float(B::enco_max_pool2d(
        float(x),
        kernel_size,
        stride,
        padding,
    )))
}

/// `nn.LeakyReLU(negative_slope)` through [`EncoBackend::enco_leaky_relu`]: one node whose backward
/// pass is a single [`EncoBackend::leaky_relu_backward`].
pub fn leaky_relu<B: EncoBackend, const D: usize>(
    x: Tensor<B, D>,
    negative_slope: f64,
) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(B::enco_leaky_relu(
        float(x),
        negative_slope,
    )))
}
