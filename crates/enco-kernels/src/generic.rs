//! The generic implementations of the EnCo operations, built on Burn's tensor operations: the
//! defaults of [`EncoBackend`](crate::EncoBackend) and the reference the specialised kernels are
//! tested against.

use burn::optim::{AdamConfig, AdamState, AdaptiveMomentumState, SimpleOptimizer};
use burn::prelude::*;
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions, FloatTensor, PadMode};
use burn::tensor::{Shape, TensorData, TensorMetadata, TensorPrimitive};

/// The blur taps `[1, 2, 1] / 4` of `Downsample` along one axis (docs/reference.md §1.3).
pub(crate) const BLUR_TAPS: [f32; 3] = [0.25, 0.5, 0.25];

fn tensor<B: Backend>(x: FloatTensor<B>) -> Tensor<B, 4> {
    Tensor::from_primitive(TensorPrimitive::Float(x))
}

fn primitive<B: Backend>(x: Tensor<B, 4>) -> FloatTensor<B> {
    x.into_primitive().tensor()
}

/// `rows` as the indices of Burn's `select`.
fn row_indices<B: Backend>(rows: &[usize], device: &B::Device) -> Tensor<B, 1, Int> {
    let rows: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
    let n = rows.len();
    Tensor::from_data(TensorData::new(rows, [n]), device)
}

/// [`EncoBackend::gather_patches`](crate::EncoBackend::gather_patches) by Burn's `select`: on
/// one image, the columns of its `[C, H·W]` plane (then transposed to `[K, C]`); on several,
/// the rows of `[B·H·W, C]`, the feature map transposed.
pub fn gather_patches<B: Backend>(features: FloatTensor<B>, rows: &[usize]) -> FloatTensor<B> {
    let x = tensor::<B>(features);
    let [b, c, h, w] = x.dims();
    let index = row_indices::<B>(rows, &x.device());
    let patches = if b == 1 {
        x.reshape([c, h * w]).select(1, index).swap_dims(0, 1)
    } else {
        x.reshape([b, c, h * w])
            .swap_dims(1, 2)
            .reshape([b * h * w, c])
            .select(0, index)
    };
    patches.into_primitive().tensor()
}

/// The adjoint of [`gather_patches`]: Burn's `select` gradient (zeros, then each row added at
/// its index in order), on the same layouts.
pub fn gather_patches_backward<B: Backend>(
    grad: FloatTensor<B>,
    shape: Shape,
    rows: &[usize],
) -> FloatTensor<B> {
    let grad = Tensor::<B, 2>::from_primitive(TensorPrimitive::Float(grad));
    let [b, c, h, w] = shape.dims();
    let device = grad.device();
    let index = row_indices::<B>(rows, &device);
    let add = burn::tensor::IndexingUpdateOp::Add;
    let dx = if b == 1 {
        Tensor::<B, 2>::zeros([c, h * w], &device)
            .select_assign(1, index, grad.swap_dims(0, 1), add)
            .reshape([1, c, h, w])
    } else {
        Tensor::<B, 2>::zeros([b * h * w, c], &device)
            .select_assign(0, index, grad, add)
            .reshape([b, h * w, c])
            .swap_dims(1, 2)
            .reshape([b, c, h, w])
    };
    primitive(dx)
}

/// Instance normalisation without affine parameters (docs/reference.md §1.2); returns the output and the
/// inverse standard deviations `[N, C]`.
pub fn instance_norm<B: Backend>(
    x: FloatTensor<B>,
    epsilon: f64,
) -> (FloatTensor<B>, FloatTensor<B>) {
    let x = tensor::<B>(x);
    let [n, c, h, w] = x.dims();
    let x = x.reshape([n, c, h * w]);
    let (var, mean) = x.clone().var_mean_bias(2);
    let inv_std = crate::ops::reciprocal((var + epsilon).sqrt());
    let y = (x - mean) * inv_std.clone();
    (
        y.reshape([n, c, h, w]).into_primitive().tensor(),
        inv_std.reshape([n, c]).into_primitive().tensor(),
    )
}

/// `relu(x · scale_c + shift_c)` per channel (`x [N, C, H, W]`, `scale` and `shift` `[C]`).
pub fn scale_shift_relu<B: Backend>(
    x: FloatTensor<B>,
    scale: FloatTensor<B>,
    shift: FloatTensor<B>,
) -> FloatTensor<B> {
    let x = tensor::<B>(x);
    let c = x.dims()[1];
    let per_channel = |v: FloatTensor<B>| {
        Tensor::<B, 1>::from_primitive(TensorPrimitive::Float(v)).reshape([1, c, 1, 1])
    };
    let y = x.mul(per_channel(scale)) + per_channel(shift);
    primitive(burn::tensor::activation::relu(y))
}

/// Adjoint of [`instance_norm`]: `dx = inv_std · (g − mean(g) − y · mean(g · y))` per plane.
pub fn instance_norm_backward<B: Backend>(
    output: FloatTensor<B>,
    inv_std: FloatTensor<B>,
    grad: FloatTensor<B>,
) -> FloatTensor<B> {
    let y = tensor::<B>(output);
    let g = tensor::<B>(grad);
    let [n, c, h, w] = y.dims();
    let y = y.reshape([n, c, h * w]);
    let g = g.reshape([n, c, h * w]);
    let inv_std =
        Tensor::<B, 2>::from_primitive(TensorPrimitive::Float(inv_std)).reshape([n, c, 1]);
    let mean_g = g.clone().mean_dim(2);
    let mean_gy = (g.clone() * y.clone()).mean_dim(2);
    let dx = (g - mean_g - y * mean_gy) * inv_std;
    primitive(dx.reshape([n, c, h, w]))
}

/// Reflect padding of H and W (docs/reference.md §1.1).
///
/// # Panics
/// If `padding` is not below H and W (a reflection cannot reach further), as Burn's `pad` does;
/// [`crate::ops::reflect_pad`] checks it with a clear message, and the networks check their
/// inputs and return errors before.
pub fn reflect_pad<B: Backend>(x: FloatTensor<B>, padding: usize) -> FloatTensor<B> {
    let p = padding;
    primitive(tensor::<B>(x).pad((p, p, p, p), PadMode::Reflect))
}

/// Adjoint of [`reflect_pad`]: along H, then along W.
pub fn reflect_pad_backward<B: Backend>(grad: FloatTensor<B>, padding: usize) -> FloatTensor<B> {
    let grad = tensor::<B>(grad);
    let [_, _, h, w] = grad.dims();
    let grad = fold_reflect(grad, 2, h - 2 * padding, padding);
    primitive(fold_reflect(grad, 3, w - 2 * padding, padding))
}

/// Adjoint of reflect padding by `p` along `axis` (interior length `n`): the interior
/// `[p, p + n)`, with padded sample `p − i` added onto interior `i` and `p + n − 1 + i` onto
/// interior `n − 1 − i`, for `i = 1..=p`.
fn fold_reflect<B: Backend>(padded: Tensor<B, 4>, axis: usize, n: usize, p: usize) -> Tensor<B, 4> {
    let mut interior = padded.clone().narrow(axis, p, n);
    for i in 1..=p {
        let before = padded.clone().narrow(axis, p - i, 1);
        let after = padded.clone().narrow(axis, p + n - 1 + i, 1);
        interior = add_at(interior, axis, i, before);
        interior = add_at(interior, axis, n - 1 - i, after);
    }
    interior
}

/// Adds `value` (extent 1 along `axis`) onto index `index` of `x` along `axis`.
fn add_at<B: Backend>(
    x: Tensor<B, 4>,
    axis: usize,
    index: usize,
    value: Tensor<B, 4>,
) -> Tensor<B, 4> {
    let dims = x.dims();
    let mut ranges = [0..dims[0], 0..dims[1], 0..dims[2], 0..dims[3]];
    ranges[axis] = index..index + 1;
    let updated = x.clone().slice(ranges.clone()) + value;
    x.slice_assign(ranges, updated)
}

/// The depthwise `[C, 1, 3, 3]` blur filter.
fn blur_filter<B: Backend>(channels: usize, device: &B::Device) -> Tensor<B, 4> {
    let taps: Vec<f32> = (0..channels)
        .flat_map(|_| {
            BLUR_TAPS
                .iter()
                .flat_map(|a| BLUR_TAPS.iter().map(move |b| a * b))
        })
        .collect();
    Tensor::from_data(TensorData::new(taps, [channels, 1, 3, 3]), device)
}

/// Reflect padding of 1, then the depthwise blur with stride 2 (docs/reference.md §1.3).
pub fn blur_downsample<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    let x = tensor::<B>(x);
    let channels = x.dims()[1];
    let filter = blur_filter::<B>(channels, &x.device());
    let x = x.pad((1, 1, 1, 1), PadMode::Reflect);
    primitive(burn::tensor::module::conv2d(
        x,
        filter,
        None,
        ConvOptions::new([2, 2], [0, 0], [1, 1], channels),
    ))
}

/// Adjoint of [`blur_downsample`]: the transposed depthwise convolution onto the padded plane,
/// then the reflected border rows and columns folded back onto the samples they mirror.
pub fn blur_downsample_backward<B: Backend>(
    grad: FloatTensor<B>,
    input_shape: Shape,
) -> FloatTensor<B> {
    let grad = tensor::<B>(grad);
    let [_, channels, height, width] = input_shape.dims();
    let [_, _, out_h, out_w] = grad.dims();
    let filter = blur_filter::<B>(channels, &grad.device());
    // Padded extent P = n + 2; a stride-2 3-tap window covers 2·(m − 1) + 3 of it.
    let padding_out = [height + 2 - (2 * out_h + 1), width + 2 - (2 * out_w + 1)];
    let padded = burn::tensor::module::conv_transpose2d(
        grad,
        filter,
        None,
        ConvTransposeOptions::new([2, 2], [0, 0], padding_out, [1, 1], channels),
    );
    let padded = fold_reflect(padded, 2, height, 1);
    primitive(fold_reflect(padded, 3, width, 1))
}

/// ×2 along W, then along H, with the two-tap polyphase filter (docs/reference.md §1.4).
pub fn upsample2x<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    let x = upsample_axis(tensor::<B>(x), 3);
    primitive(upsample_axis(x, 2))
}

/// Doubles one spatial axis (2 = H, 3 = W): `out[2m] = ¼·x[m−1] + ¾·x[m]`,
/// `out[2m+1] = ¾·x[m] + ¼·x[m+1]`, indices clamped to the edges.
fn upsample_axis<B: Backend>(x: Tensor<B, 4>, axis: usize) -> Tensor<B, 4> {
    let dims = x.dims();
    let n = dims[axis];
    let (prev, next) = if n == 1 {
        (x.clone(), x.clone())
    } else {
        let first = x.clone().narrow(axis, 0, 1);
        let last = x.clone().narrow(axis, n - 1, 1);
        let prev = Tensor::cat(vec![first, x.clone().narrow(axis, 0, n - 1)], axis);
        let next = Tensor::cat(vec![x.clone().narrow(axis, 1, n - 1), last], axis);
        (prev, next)
    };
    let even = prev * 0.25 + x.clone() * 0.75;
    let odd = x * 0.75 + next * 0.25;
    let stacked: Tensor<B, 5> = Tensor::stack(vec![even, odd], axis + 1);
    let mut out_dims = dims;
    out_dims[axis] = 2 * n;
    stacked.reshape(out_dims)
}

/// Adjoint of [`upsample2x`]: along H, then along W.
pub fn upsample2x_backward<B: Backend>(grad: FloatTensor<B>) -> FloatTensor<B> {
    let grad = upsample_axis_adjoint(tensor::<B>(grad), 2);
    primitive(upsample_axis_adjoint(grad, 3))
}

/// Adjoint of [`upsample_axis`]: with `e = g[2m]`, `o = g[2m+1]`,
/// `gx[m] = ¾·(e[m] + o[m]) + ¼·(e[m+1] + o[m−1])`, where the clamped edges turn `e[n]` into
/// `o[n−1]` and `o[−1]` into `e[0]`.
fn upsample_axis_adjoint<B: Backend>(grad: Tensor<B, 4>, axis: usize) -> Tensor<B, 4> {
    let dims = grad.dims();
    let n = dims[axis] / 2;
    let mut split: [usize; 5] = [0; 5];
    for (d, size) in split.iter_mut().enumerate() {
        *size = match d.cmp(&axis) {
            std::cmp::Ordering::Less => dims[d],
            std::cmp::Ordering::Equal => n,
            std::cmp::Ordering::Greater => {
                if d == axis + 1 {
                    2
                } else {
                    dims[d - 1]
                }
            }
        };
    }
    let pairs: Tensor<B, 5> = grad.reshape(split);
    let mut out_dims = dims;
    out_dims[axis] = n;
    let even: Tensor<B, 4> = pairs.clone().narrow(axis + 1, 0, 1).reshape(out_dims);
    let odd: Tensor<B, 4> = pairs.narrow(axis + 1, 1, 1).reshape(out_dims);
    let (next_even, prev_odd) = if n == 1 {
        (odd.clone(), even.clone())
    } else {
        let next_even = Tensor::cat(
            vec![
                even.clone().narrow(axis, 1, n - 1),
                odd.clone().narrow(axis, n - 1, 1),
            ],
            axis,
        );
        let prev_odd = Tensor::cat(
            vec![
                even.clone().narrow(axis, 0, 1),
                odd.clone().narrow(axis, 0, n - 1),
            ],
            axis,
        );
        (next_even, prev_odd)
    };
    (even + odd) * 0.75 + (next_even + prev_odd) * 0.25
}

/// One Adam update by Burn's own `Adam` ([`AdamStep`](crate::AdamStep)); `moments` `(m, v)` is
/// `None` before the first step.
///
/// Returns the updated parameter and moments, each of the parameter's shape.
pub fn adam_step<B: Backend>(
    param: FloatTensor<B>,
    grad: FloatTensor<B>,
    moments: Option<(FloatTensor<B>, FloatTensor<B>)>,
    step: &crate::AdamStep,
) -> (FloatTensor<B>, (FloatTensor<B>, FloatTensor<B>)) {
    let shape = param.shape();
    let flat = |x: FloatTensor<B>| {
        let len = x.shape().num_elements();
        Tensor::<B, 1>::from_primitive(TensorPrimitive::Float(B::float_reshape(
            x,
            Shape::new([len]),
        )))
    };
    let unflat = |x: Tensor<B, 1>| B::float_reshape(x.into_primitive().tensor(), shape.clone());
    let adam = AdamConfig::new()
        .with_beta_1(step.beta_1)
        .with_beta_2(step.beta_2)
        .with_epsilon(step.epsilon)
        .build();
    // Burn's state counts the steps taken so far; `step.time` is the count after this one.
    let state = moments.map(|(m, v)| {
        let previous = step.time.saturating_sub(1);
        AdamState::new(AdaptiveMomentumState::new(previous, flat(m), flat(v)))
    });
    let (param, state) = adam.step(step.learning_rate, flat(param), flat(grad), state);
    let AdamState { momentum } = state.expect("Burn's Adam always returns its state");
    (
        unflat(param),
        (unflat(momentum.moment_1), unflat(momentum.moment_2)),
    )
}

/// Adjoint of `nn.LeakyReLU` from its output `y`: `g` where `y > 0`, `negative_slope · g`
/// elsewhere (PyTorch's `leaky_relu_backward`).
pub fn leaky_relu_backward<B: Backend>(
    output: FloatTensor<B>,
    grad: FloatTensor<B>,
    negative_slope: f64,
) -> FloatTensor<B> {
    let y = tensor::<B>(output);
    let g = tensor::<B>(grad);
    let scaled = g.clone().mul_scalar(negative_slope);
    primitive(g.mask_where(y.lower_equal_elem(0.0), scaled))
}
