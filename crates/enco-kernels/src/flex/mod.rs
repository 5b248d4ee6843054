//! [`EncoBackend`] for the `flex` CPU backend. Convolutions go to direct kernels for ≤ 4 output
//! channels, to Winograd F(2×2, 3×3) for 3×3 stride-1 kernels and F(2×2, 4×4) for the wide 4×4
//! stride-1 ones (see `winograd::applies`), and to
//! tiled im2col + GEMM otherwise; the input gradient of a stride-1 convolution is the convolution
//! of the output gradient with the flipped kernel. Instance norm, reflect padding, the resamplers
//! and the LeakyReLU adjoint are single passes over each plane; the Adam update is one pass, in
//! place. Other dtypes and geometries fall back to Burn's flex operations.

mod activation;
mod adam;
mod conv;
mod direct;
mod gather;
mod norm;
mod pad;
mod pool;
mod resample;
mod simd;
mod winograd;

pub use simd::{SIMD_LEVEL_ENV, SimdLevel, SimdLevelError, force_simd_level, simd_level};

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::tensor::ops::{ActivationOps, ConvOptions, FloatTensor, FloatTensorOps, ModuleOps};
use burn::tensor::{DType, Shape, TensorData, TensorMetadata};

use crate::{AdamStep, EncoBackend};

/// A contiguous f32 copy (or view) of a flex tensor's data, with its shape.
fn f32_data(tensor: &FlexTensor) -> (FlexTensor, [usize; 4]) {
    crate::executor::keep_helpers_awake();
    let tensor = tensor.to_contiguous();
    let dims: [usize; 4] = tensor.shape().dims();
    (tensor, dims)
}

/// Runs `f` on the f32 values of `tensor` in row-major order: read in place when its layout is
/// contiguous, a narrowed view of a batch included (where [`f32_data`] copies whatever does not
/// cover its whole buffer), from a contiguous copy otherwise.
fn with_f32_values<T>(tensor: &FlexTensor, f: impl FnOnce(&[f32]) -> T) -> T {
    crate::executor::keep_helpers_awake();
    match tensor.as_slice::<f32>() {
        Some(values) => f(values),
        None => f(tensor.to_contiguous().storage::<f32>()),
    }
}

/// `tensor` in a contiguous layout, owning its storage alone when nothing else shares it (so that
/// [`FlexTensor::storage_mut`] updates it in place instead of copying).
fn into_contiguous(tensor: FlexTensor) -> FlexTensor {
    crate::executor::keep_helpers_awake();
    tensor.to_contiguous()
}

fn from_vec(data: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(data, shape.into()))
}

/// Output extent of a convolution along one axis.
fn conv_out(n: usize, k: usize, stride: usize, padding: usize, dilation: usize) -> Option<usize> {
    let span = dilation * (k - 1) + 1;
    (n + 2 * padding)
        .checked_sub(span)
        .map(|rest| rest / stride + 1)
}

/// `x` pooled by `pool(values, input dims, output side)` when the flex kernels take the window
/// (f32 `[N, C, H, W]`, a window that fits); `None` sends the pooling to Burn's kernels, which
/// report any problem.
fn pool_with(
    x: &FlexTensor,
    window: pool::Window,
    pool: impl FnOnce(&[f32], [usize; 4], [usize; 2]) -> Vec<f32>,
) -> Option<FlexTensor> {
    if x.dtype() != DType::F32 || x.shape().num_dims() != 4 {
        return None;
    }
    let (x, dims) = f32_data(x);
    let out = [
        window.output_side(dims[2], 0)?,
        window.output_side(dims[3], 1)?,
    ];
    Some(from_vec(
        pool(x.storage::<f32>(), dims, out),
        [dims[0], dims[1], out[0], out[1]],
    ))
}

/// [`norm::norm_adjoint`] on float32 tensors: the instance norm's adjoint, after the ReLU's
/// with `RELU`.
fn norm_adjoint<const RELU: bool>(
    normalised: FlexTensor,
    inv_std: FlexTensor,
    grad: FlexTensor,
) -> FlexTensor {
    let (normalised, [n, c, h, w]) = f32_data(&normalised);
    let (grad, _) = f32_data(&grad);
    let inv_std = inv_std.to_contiguous();
    from_vec(
        norm::norm_adjoint::<RELU>(
            normalised.storage::<f32>(),
            inv_std.storage::<f32>(),
            grad.storage::<f32>(),
            h * w,
        ),
        [n, c, h, w],
    )
}

impl EncoBackend for Flex {
    fn enco_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let [c_out, c_in_w, kh, kw] = weight.shape().dims();
        let [n, c_in, h, w] = x.shape().dims();
        let out = [
            conv_out(
                h,
                kh,
                options.stride[0],
                options.padding[0],
                options.dilation[0],
            ),
            conv_out(
                w,
                kw,
                options.stride[1],
                options.padding[1],
                options.dilation[1],
            ),
        ];
        let applies = options.groups == 1
            && c_in == c_in_w
            && x.dtype() == DType::F32
            && weight.dtype() == DType::F32
            && bias.as_ref().is_none_or(|b| b.dtype() == DType::F32);
        let (true, [Some(h_out), Some(w_out)]) = (applies, out) else {
            return Self::conv2d(x, weight, bias, options);
        };
        let (x, x_dims) = f32_data(&x);
        let weight = weight.to_contiguous();
        let bias = bias.map(|b| b.to_contiguous());
        let geometry = conv::Geometry {
            input: x_dims,
            output: [n, c_out, h_out, w_out],
            kernel: [kh, kw],
            stride: options.stride,
            padding: options.padding,
            dilation: options.dilation,
        };
        let kernel = if direct::applies(&geometry) {
            direct::forward
        } else if winograd::applies(&geometry, winograd::Pass::Forward) {
            winograd::forward
        } else {
            conv::forward
        };
        let y = kernel(
            x.storage::<f32>(),
            weight.storage::<f32>(),
            bias.as_ref().map(|b| b.storage::<f32>()),
            &geometry,
        );
        from_vec(y, geometry.output)
    }

    fn enco_conv2d_x_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let [_, _, kh, kw] = weight.shape().dims();
        let flipped_applies = options.stride == [1, 1]
            && options.dilation == [1, 1]
            && options.groups == 1
            && options.padding[0] < kh
            && options.padding[1] < kw;
        if !flipped_applies {
            return Self::conv2d_x_backward(x, weight, output_grad, options);
        }
        // For a stride-1 convolution, the input gradient is the "full" correlation of the
        // output gradient with the kernel flipped in space and transposed in channels.
        let padding = [kh - 1 - options.padding[0], kw - 1 - options.padding[1]];
        if weight.dtype() == DType::F32 && output_grad.dtype() == DType::F32 {
            // A stride-1 convolution's "full" correlation gives back the input size.
            let [n, c_in, h, w]: [usize; 4] = x.shape().dims();
            let [c_out_w, c_in_w, _, _]: [usize; 4] = weight.shape().dims();
            let (grad, grad_dims) = f32_data(&output_grad);
            // Mismatched shapes go on to Burn's path, which reports them.
            let shapes_match = grad_dims[..2] == [n, c_out_w]
                && c_in_w == c_in
                && grad_dims[2] + kh == h + 2 * options.padding[0] + 1
                && grad_dims[3] + kw == w + 2 * options.padding[1] + 1;
            let geometry = conv::Geometry {
                input: grad_dims,
                output: [n, c_in, h, w],
                kernel: [kh, kw],
                stride: [1, 1],
                padding,
                dilation: [1, 1],
            };
            if shapes_match
                && !direct::applies(&geometry)
                && winograd::applies(&geometry, winograd::Pass::InputGrad)
            {
                let weight = weight.to_contiguous();
                let forward = conv::Geometry {
                    input: geometry.output,
                    output: grad_dims,
                    kernel: [kh, kw],
                    stride: [1, 1],
                    padding: options.padding,
                    dilation: [1, 1],
                };
                let dx = if winograd::adjoint_pays(&forward, &geometry) {
                    winograd::input_grad_adjoint(
                        grad.storage::<f32>(),
                        weight.storage::<f32>(),
                        &forward,
                    )
                } else {
                    winograd::input_grad(grad.storage::<f32>(), weight.storage::<f32>(), &geometry)
                };
                return from_vec(dx, geometry.output);
            }
        }
        let flipped = if weight.dtype() == DType::F32 {
            let (weight, dims) = f32_data(&weight);
            let [c_out, c_in, kh, kw] = dims;
            from_vec(
                conv::flip_transpose(weight.storage::<f32>(), dims),
                [c_in, c_out, kh, kw],
            )
        } else {
            Self::float_flip(Self::float_swap_dims(weight, 0, 1), &[2, 3])
        };
        Self::enco_conv2d(
            output_grad,
            flipped,
            None,
            ConvOptions::new([1, 1], padding, [1, 1], 1),
        )
    }

    fn enco_conv2d_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        if options.groups != 1 || x.dtype() != DType::F32 {
            return Self::conv2d_weight_backward(x, weight, output_grad, options);
        }
        let weight_shape: [usize; 4] = weight.shape().dims();
        let (x, x_dims) = f32_data(&x);
        let (grad, grad_dims) = f32_data(&output_grad);
        let geometry = conv::Geometry {
            input: x_dims,
            output: grad_dims,
            kernel: [weight_shape[2], weight_shape[3]],
            stride: options.stride,
            padding: options.padding,
            dilation: options.dilation,
        };
        let kernel = if direct::applies(&geometry) {
            direct::weight_grad
        } else if winograd::applies(&geometry, winograd::Pass::WeightGrad) {
            winograd::weight_grad
        } else {
            conv::weight_grad
        };
        let dw = kernel(x.storage::<f32>(), grad.storage::<f32>(), &geometry);
        from_vec(dw, weight_shape)
    }

    fn enco_conv2d_bias_backward(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        if output_grad.dtype() != DType::F32 {
            return Self::conv2d_bias_backward(x, bias, output_grad);
        }
        let (grad, dims) = f32_data(&output_grad);
        from_vec(conv::bias_grad(grad.storage::<f32>(), dims), [dims[1]])
    }

    fn instance_norm(x: FloatTensor<Self>, epsilon: f64) -> (FloatTensor<Self>, FloatTensor<Self>) {
        if x.dtype() != DType::F32 {
            return crate::generic::instance_norm::<Self>(x, epsilon);
        }
        let (x, [n, c, h, w]) = f32_data(&x);
        let (y, inv_std) = norm::instance_norm(x.storage::<f32>(), h * w, epsilon);
        (from_vec(y, [n, c, h, w]), from_vec(inv_std, [n, c]))
    }

    fn instance_norm_backward(
        output: FloatTensor<Self>,
        inv_std: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        if grad.dtype() != DType::F32 {
            return crate::generic::instance_norm_backward::<Self>(output, inv_std, grad);
        }
        norm_adjoint::<false>(output, inv_std, grad)
    }

    fn instance_norm_relu(
        x: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        if x.dtype() != DType::F32 {
            let (y, inv_std) = crate::generic::instance_norm::<Self>(x, epsilon);
            return (Self::relu(y.clone()), y, inv_std);
        }
        let (x, [n, c, h, w]) = f32_data(&x);
        let (r, y, inv_std) = norm::instance_norm_relu(x.storage::<f32>(), h * w, epsilon);
        (
            from_vec(r, [n, c, h, w]),
            from_vec(y, [n, c, h, w]),
            from_vec(inv_std, [n, c]),
        )
    }

    fn instance_norm_relu_backward(
        normalised: FloatTensor<Self>,
        inv_std: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        if grad.dtype() != DType::F32 {
            let masked = Self::relu_backward(normalised.clone(), grad);
            return crate::generic::instance_norm_backward::<Self>(normalised, inv_std, masked);
        }
        norm_adjoint::<true>(normalised, inv_std, grad)
    }

    fn reflect_pad(x: FloatTensor<Self>, padding: usize) -> FloatTensor<Self> {
        if x.dtype() != DType::F32 {
            return crate::generic::reflect_pad::<Self>(x, padding);
        }
        let (x, [n, c, h, w]) = f32_data(&x);
        from_vec(
            pad::reflect_pad(x.storage::<f32>(), [n, c, h, w], padding),
            [n, c, h + 2 * padding, w + 2 * padding],
        )
    }

    fn reflect_pad_backward(grad: FloatTensor<Self>, padding: usize) -> FloatTensor<Self> {
        if grad.dtype() != DType::F32 {
            return crate::generic::reflect_pad_backward::<Self>(grad, padding);
        }
        let (grad, [n, c, h, w]) = f32_data(&grad);
        from_vec(
            pad::reflect_pad_backward(grad.storage::<f32>(), [n, c, h, w], padding),
            [n, c, h - 2 * padding, w - 2 * padding],
        )
    }

    fn relu_reflect_pad(x: FloatTensor<Self>, padding: usize) -> FloatTensor<Self> {
        if x.dtype() != DType::F32 {
            return Self::reflect_pad(Self::relu(x), padding);
        }
        let (x, [n, c, h, w]) = f32_data(&x);
        from_vec(
            pad::relu_reflect_pad(x.storage::<f32>(), [n, c, h, w], padding),
            [n, c, h + 2 * padding, w + 2 * padding],
        )
    }

    fn relu_reflect_pad_backward(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        padding: usize,
    ) -> FloatTensor<Self> {
        let (dims, grad_dims): ([usize; 4], [usize; 4]) = (x.shape().dims(), grad.shape().dims());
        let shapes_match = dims[..2] == grad_dims[..2]
            && dims[2] + 2 * padding == grad_dims[2]
            && dims[3] + 2 * padding == grad_dims[3];
        if x.dtype() != DType::F32 || grad.dtype() != DType::F32 || !shapes_match {
            return Self::relu_backward(x, Self::reflect_pad_backward(grad, padding));
        }
        let (x, _) = f32_data(&x);
        let (grad, grad_dims) = f32_data(&grad);
        from_vec(
            pad::relu_reflect_pad_backward(
                x.storage::<f32>(),
                grad.storage::<f32>(),
                grad_dims,
                padding,
            ),
            dims,
        )
    }

    fn blur_downsample(x: FloatTensor<Self>) -> FloatTensor<Self> {
        if x.dtype() != DType::F32 {
            return crate::generic::blur_downsample::<Self>(x);
        }
        let (x, dims) = f32_data(&x);
        let (out, out_dims) = resample::blur_downsample(x.storage::<f32>(), dims);
        from_vec(out, out_dims)
    }

    fn blur_downsample_backward(grad: FloatTensor<Self>, input_shape: Shape) -> FloatTensor<Self> {
        if grad.dtype() != DType::F32 {
            return crate::generic::blur_downsample_backward::<Self>(grad, input_shape);
        }
        let (grad, dims) = f32_data(&grad);
        let input: [usize; 4] = input_shape.dims();
        from_vec(
            resample::blur_downsample_backward(grad.storage::<f32>(), dims, input),
            input,
        )
    }

    fn upsample2x(x: FloatTensor<Self>) -> FloatTensor<Self> {
        if x.dtype() != DType::F32 {
            return crate::generic::upsample2x::<Self>(x);
        }
        let (x, [n, c, h, w]) = f32_data(&x);
        from_vec(
            resample::upsample2x(x.storage::<f32>(), [n, c, h, w]),
            [n, c, 2 * h, 2 * w],
        )
    }

    fn upsample2x_backward(grad: FloatTensor<Self>) -> FloatTensor<Self> {
        if grad.dtype() != DType::F32 {
            return crate::generic::upsample2x_backward::<Self>(grad);
        }
        let (grad, [n, c, h, w]) = f32_data(&grad);
        from_vec(
            resample::upsample2x_backward(grad.storage::<f32>(), [n, c, h, w]),
            [n, c, h / 2, w / 2],
        )
    }

    fn gather_patches(features: FloatTensor<Self>, rows: &[usize]) -> FloatTensor<Self> {
        if features.dtype() != DType::F32 {
            return crate::generic::gather_patches::<Self>(features, rows);
        }
        let dims: [usize; 4] = features.shape().dims();
        let patches = with_f32_values(&features, |x| gather::gather_patches(x, dims, rows));
        from_vec(patches, [rows.len(), dims[1]])
    }

    fn gather_patches_backward(
        grad: FloatTensor<Self>,
        shape: Shape,
        rows: &[usize],
    ) -> FloatTensor<Self> {
        if grad.dtype() != DType::F32 {
            return crate::generic::gather_patches_backward::<Self>(grad, shape, rows);
        }
        let dims: [usize; 4] = shape.dims();
        let dx = with_f32_values(&grad, |g| gather::gather_patches_backward(g, dims, rows));
        from_vec(dx, shape)
    }

    fn enco_leaky_relu(x: FloatTensor<Self>, negative_slope: f64) -> FloatTensor<Self> {
        if x.dtype() != DType::F32 {
            return Self::leaky_relu(x, negative_slope.into());
        }
        let shape = x.shape();
        let y = with_f32_values(&x, |x| activation::leaky_relu(x, negative_slope as f32));
        from_vec(y, shape)
    }

    fn leaky_relu_backward(
        output: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        negative_slope: f64,
    ) -> FloatTensor<Self> {
        if output.dtype() != DType::F32 || grad.dtype() != DType::F32 {
            return crate::generic::leaky_relu_backward::<Self>(output, grad, negative_slope);
        }
        let shape = output.shape();
        let output = output.to_contiguous();
        let grad = grad.to_contiguous();
        from_vec(
            activation::leaky_relu_backward(
                output.storage::<f32>(),
                grad.storage::<f32>(),
                negative_slope as f32,
            ),
            shape,
        )
    }

    fn scale_shift_relu(
        x: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let all_f32 = [&x, &scale, &shift].iter().all(|t| t.dtype() == DType::F32);
        if !all_f32 || x.shape().num_dims() != 4 {
            return crate::generic::scale_shift_relu::<Self>(x, scale, shift);
        }
        let (x, dims) = f32_data(&x);
        let scale = scale.to_contiguous();
        let shift = shift.to_contiguous();
        from_vec(
            activation::scale_shift_relu(
                x.storage::<f32>(),
                scale.storage::<f32>(),
                shift.storage::<f32>(),
                dims,
            ),
            dims,
        )
    }

    fn enco_avg_pool2d(
        x: FloatTensor<Self>,
        kernel_size: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        count_include_pad: bool,
    ) -> FloatTensor<Self> {
        let window = pool::Window::new(kernel_size, stride, padding);
        pool_with(&x, window, |x, dims, out| {
            pool::avg_pool2d(x, dims, window, out, count_include_pad)
        })
        .unwrap_or_else(|| {
            Self::avg_pool2d(x, kernel_size, stride, padding, count_include_pad, false)
        })
    }

    fn enco_max_pool2d(
        x: FloatTensor<Self>,
        kernel_size: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> FloatTensor<Self> {
        let window = pool::Window::new(kernel_size, stride, padding);
        pool_with(&x, window, |x, dims, out| {
            pool::max_pool2d(x, dims, window, out)
        })
        .unwrap_or_else(|| Self::max_pool2d(x, kernel_size, stride, padding, [1, 1], false))
    }

    fn adam_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moments: Option<(FloatTensor<Self>, FloatTensor<Self>)>,
        step: &AdamStep,
    ) -> (FloatTensor<Self>, (FloatTensor<Self>, FloatTensor<Self>)) {
        let moments_f32 = moments
            .as_ref()
            .is_none_or(|(m, v)| m.dtype() == DType::F32 && v.dtype() == DType::F32);
        let all_f32 = param.dtype() == DType::F32 && grad.dtype() == DType::F32 && moments_f32;
        if !all_f32 {
            return crate::generic::adam_step::<Self>(param, grad, moments, step);
        }
        let shape = param.shape();
        let mut param = into_contiguous(param);
        let grad = into_contiguous(grad);
        let (mut m, mut v) = match moments {
            Some((m, v)) => (into_contiguous(m), into_contiguous(v)),
            None => (
                FlexTensor::zeros(shape.clone(), DType::F32),
                FlexTensor::zeros(shape, DType::F32),
            ),
        };
        adam::adam_step(
            param.storage_mut::<f32>(),
            grad.storage::<f32>(),
            m.storage_mut::<f32>(),
            v.storage_mut::<f32>(),
            step,
        );
        (param, (m, v))
    }
}
