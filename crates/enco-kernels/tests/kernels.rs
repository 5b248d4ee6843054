//! The flex kernels and the autodiff nodes against Burn's generic path.
#![cfg(feature = "flex")]

use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use burn::tensor::TensorMetadata;
use burn::tensor::ops::{ActivationOps, ConvOptions, FloatTensor, FloatTensorOps, ModuleOps};
use burn::tensor::{Distribution, TensorData, TensorPrimitive};
use enco_kernels::{ConvPrelude, EncoBackend, generic, ops};
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

type B = Flex;
type A = Autodiff<Flex>;

/// Standard normal values from a generator of the test's own (the backend's seeded generator is
/// one per process: a test seeding it while another draws from it would change both draws).
fn random<Be: Backend>(shape: [usize; 4], seed: u64) -> Tensor<Be, 4> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let data = TensorData::random::<f32, _, _>(shape, Distribution::Normal(0.0, 1.0), &mut rng);
    Tensor::from_data(data, &Default::default())
}

fn prim<Be: Backend>(x: Tensor<Be, 4>) -> FloatTensor<Be> {
    x.into_primitive().tensor()
}

fn tensor<Be: Backend, const D: usize>(x: FloatTensor<Be>) -> Tensor<Be, D> {
    Tensor::from_primitive(TensorPrimitive::Float(x))
}

/// Largest |a − b| relative to the largest |b| (at least 1).
fn max_rel_diff<const D: usize>(a: Tensor<B, D>, b: Tensor<B, D>) -> f32 {
    let scale = b.clone().abs().max().into_scalar().max(1.0);
    (a - b).abs().max().into_scalar() / scale
}

/// Whether two tensors of any rank hold the same floats bit for bit (signed zeros told apart).
fn same_bits(a: FloatTensor<B>, b: FloatTensor<B>) -> bool {
    let bits = |x: FloatTensor<B>| -> Vec<u32> {
        let flat = B::float_reshape(x.clone(), [x.shape().num_elements()].into());
        let values = tensor::<B, 1>(flat).into_data().to_vec::<f32>().unwrap();
        values.iter().map(|v| v.to_bits()).collect()
    };
    bits(a) == bits(b)
}

/// A convolution: `(x, weight, bias, options) → output`.
type ConvForward =
    fn(FloatTensor<B>, FloatTensor<B>, Option<FloatTensor<B>>, ConvOptions<2>) -> FloatTensor<B>;

/// A convolution gradient: `(x, weight, output gradient, options) → gradient`.
type ConvGrad =
    fn(FloatTensor<B>, FloatTensor<B>, FloatTensor<B>, ConvOptions<2>) -> FloatTensor<B>;

struct Case {
    input: [usize; 4],
    out_channels: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
}

const CASES: [Case; 18] = [
    // ResBlock 3×3 after an explicit reflect pad.
    Case {
        input: [2, 16, 10, 10],
        out_channels: 12,
        kernel: 3,
        stride: 1,
        padding: 0,
        dilation: 1,
    },
    // The last 7×7 convolution to 3 channels (the direct kernels).
    Case {
        input: [1, 8, 13, 11],
        out_channels: 3,
        kernel: 7,
        stride: 1,
        padding: 0,
        dilation: 1,
    },
    // The PatchGAN's 4×4 with zero padding 1.
    Case {
        input: [2, 3, 9, 12],
        out_channels: 5,
        kernel: 4,
        stride: 1,
        padding: 1,
        dilation: 1,
    },
    // The PatchGAN's inner 4×4 layers: Winograd F(2×2, 4×4) forward, input gradient and
    // weight gradient (≥ 64 channels each way, ≥ 256 tiles), odd output sizes.
    Case {
        input: [1, 128, 34, 33],
        out_channels: 128,
        kernel: 4,
        stride: 1,
        padding: 1,
        dilation: 1,
    },
    // The PatchGAN's second 4×4 layer (64 → 128): F(2×2, 4×4) from 64 input channels, 272
    // tiles.
    Case {
        input: [1, 64, 33, 34],
        out_channels: 128,
        kernel: 4,
        stride: 1,
        padding: 1,
        dilation: 1,
    },
    // The PatchGAN's 256 → 512 layer at 128 px, narrower: F(2×2, 4×4) over few tiles (8 × 8,
    // the least that takes it) from 64 input channels, a partial run in every tile row.
    Case {
        input: [1, 64, 17, 16],
        out_channels: 80,
        kernel: 4,
        stride: 1,
        padding: 1,
        dilation: 1,
    },
    // Stride 2 (the non-anti-aliased option).
    Case {
        input: [2, 6, 11, 9],
        out_channels: 4,
        kernel: 3,
        stride: 2,
        padding: 1,
        dilation: 1,
    },
    // Dilation 2 (falls back to Burn for the input gradient).
    Case {
        input: [1, 3, 12, 10],
        out_channels: 2,
        kernel: 3,
        stride: 1,
        padding: 2,
        dilation: 2,
    },
    // 1×1 to 2 channels (the direct kernels).
    Case {
        input: [1, 4, 7, 7],
        out_channels: 2,
        kernel: 1,
        stride: 1,
        padding: 0,
        dilation: 1,
    },
    // 1×1 to 8 channels: GEMMs straight on the images, without a column matrix.
    Case {
        input: [2, 6, 5, 7],
        out_channels: 8,
        kernel: 1,
        stride: 1,
        padding: 0,
        dilation: 1,
    },
    // Stride 2 over small planes, three images (the FID Inception's reductions).
    Case {
        input: [3, 6, 7, 6],
        out_channels: 8,
        kernel: 3,
        stride: 2,
        padding: 1,
        dilation: 1,
    },
    // The direct kernels over wide rows: blocks of 64 and 16 columns, then the edge; the weight
    // gradient's taps side by side (no horizontal padding, 7 taps per row, 3 channels).
    Case {
        input: [2, 5, 12, 90],
        out_channels: 3,
        kernel: 7,
        stride: 1,
        padding: 0,
        dilation: 1,
    },
    // The direct kernels with padding: edge blocks on both sides of the interior columns, the
    // weight gradient tap by tap.
    Case {
        input: [1, 4, 9, 100],
        out_channels: 2,
        kernel: 7,
        stride: 1,
        padding: 3,
        dilation: 1,
    },
    // The direct kernels with four output channels and 3 taps per row.
    Case {
        input: [1, 6, 8, 37],
        out_channels: 4,
        kernel: 3,
        stride: 1,
        padding: 0,
        dilation: 1,
    },
    // The discriminator's score map: 4×4 with zero padding 1 to one channel.
    Case {
        input: [1, 16, 20, 21],
        out_channels: 1,
        kernel: 4,
        stride: 1,
        padding: 1,
        dilation: 1,
    },
    // 3×3 with zero padding 1 over few tiles: the input gradient by the adjoint of the forward
    // pass, with windows across the plane's edges and runs shorter than the lanes.
    Case {
        input: [1, 24, 7, 9],
        out_channels: 20,
        kernel: 3,
        stride: 1,
        padding: 1,
        dilation: 1,
    },
    // 3×3 without padding over rows of 18 tiles: the adjoint's windows added a whole run of
    // lanes at a time, then a partial run at the end of every row.
    Case {
        input: [1, 8, 40, 38],
        out_channels: 8,
        kernel: 3,
        stride: 1,
        padding: 0,
        dilation: 1,
    },
    // 5×5 through im2col, four images.
    Case {
        input: [4, 2, 40, 25],
        out_channels: 7,
        kernel: 5,
        stride: 1,
        padding: 2,
        dilation: 1,
    },
];

/// Asserts that `enco_conv2d` matches Burn's `conv2d` (shape and values).
fn assert_forward_matches(
    x: &Tensor<B, 4>,
    weight: &Tensor<B, 4>,
    bias: Option<&Tensor<B, 1>>,
    options: &ConvOptions<2>,
    what: &str,
) {
    let run = |f: ConvForward| -> Tensor<B, 4> {
        tensor(f(
            prim(x.clone()),
            prim(weight.clone()),
            bias.map(|b| b.clone().into_primitive().tensor()),
            options.clone(),
        ))
    };
    let (y, y_ref) = (run(B::enco_conv2d), run(B::conv2d));
    assert_eq!(y.dims(), y_ref.dims(), "{what}");
    let d = max_rel_diff(y, y_ref);
    assert!(d < 1e-5, "{what}: output differs by {d}");
}

/// Asserts that the gradient `enco` computes (`B::enco_conv2d_weight_backward`,
/// `B::enco_conv2d_x_backward`) matches the one `burn` computes.
fn assert_grad_matches(
    x: &Tensor<B, 4>,
    weight: &Tensor<B, 4>,
    grad: &Tensor<B, 4>,
    options: &ConvOptions<2>,
    (enco, burn): (ConvGrad, ConvGrad),
    what: &str,
) {
    let run = |f: ConvGrad| -> Tensor<B, 4> {
        tensor(f(
            prim(x.clone()),
            prim(weight.clone()),
            prim(grad.clone()),
            options.clone(),
        ))
    };
    let d = max_rel_diff(run(enco), run(burn));
    assert!(d < 1e-5, "{what} gradient differs by {d}");
}

#[test]
fn conv_forward_matches_burns_conv() {
    for (i, case) in CASES.iter().enumerate() {
        let x = random::<B>(case.input, 90 + i as u64);
        let weight = random::<B>(
            [case.out_channels, case.input[1], case.kernel, case.kernel],
            91 + i as u64,
        );
        let bias = random::<B>([1, 1, 1, case.out_channels], 92).reshape([case.out_channels]);
        let options = ConvOptions::new([case.stride; 2], [case.padding; 2], [case.dilation; 2], 1);
        for bias in [None, Some(&bias)] {
            assert_forward_matches(&x, &weight, bias, &options, &format!("case {i}"));
        }
    }
}

#[test]
fn conv_gradients_match_burns_generic_kernels() {
    for (i, case) in CASES.iter().enumerate() {
        let x = random::<B>(case.input, 10 + i as u64);
        let weight = random::<B>(
            [case.out_channels, case.input[1], case.kernel, case.kernel],
            20 + i as u64,
        );
        let options = ConvOptions::new([case.stride; 2], [case.padding; 2], [case.dilation; 2], 1);
        let y: Tensor<B, 4> = tensor(B::conv2d(
            prim(x.clone()),
            prim(weight.clone()),
            None,
            options.clone(),
        ));
        let grad = random::<B>(y.dims(), 30 + i as u64);

        let compare = |what: &str, enco: ConvGrad, burn: ConvGrad| {
            let run = |f: ConvGrad| -> Tensor<B, 4> {
                tensor(f(
                    prim(x.clone()),
                    prim(weight.clone()),
                    prim(grad.clone()),
                    options.clone(),
                ))
            };
            let d = max_rel_diff(run(enco), run(burn));
            assert!(d < 1e-5, "case {i}: {what} gradient differs by {d}");
        };
        compare("input", B::enco_conv2d_x_backward, B::conv2d_x_backward);
        compare(
            "weight",
            B::enco_conv2d_weight_backward,
            B::conv2d_weight_backward,
        );

        let bias = Tensor::<B, 1>::zeros([case.out_channels], &Default::default());
        let db: Tensor<B, 1> = tensor(B::enco_conv2d_bias_backward(
            prim(x.clone()),
            bias.clone().into_primitive().tensor(),
            prim(grad.clone()),
        ));
        let db_ref = grad
            .sum_dim(0)
            .sum_dim(2)
            .sum_dim(3)
            .reshape([case.out_channels]);
        let d = max_rel_diff(db, db_ref);
        assert!(d < 1e-5, "case {i}: bias gradient differs by {d}");
    }
}

#[test]
fn im2col_tiles_large_planes() {
    // 3136 column rows × 128 columns: several column tiles per image, for the forward pass
    // and the weight gradient (8 output channels: the im2col path, not the direct one).
    let x = random::<B>([1, 64, 134, 134], 1);
    let weight = random::<B>([8, 64, 7, 7], 2);
    let grad = random::<B>([1, 8, 128, 128], 3);
    let options = ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
    assert_forward_matches(&x, &weight, None, &options, "tiled");
    let pair = (
        B::enco_conv2d_weight_backward as ConvGrad,
        B::conv2d_weight_backward as ConvGrad,
    );
    assert_grad_matches(&x, &weight, &grad, &options, pair, "tiled: weight");
}

#[test]
fn pointwise_convolutions_take_planes_beyond_a_column_tile() {
    // 80 × 240 × 240 values, more than one column tile: a 1×1 convolution multiplies each
    // whole image at once.
    let x = random::<B>([2, 80, 240, 240], 4);
    let weight = random::<B>([8, 80, 1, 1], 5);
    let grad = random::<B>([2, 8, 240, 240], 6);
    let options = ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
    assert_forward_matches(&x, &weight, None, &options, "pointwise");
    // A sum of 115 200 products per weight: against the exact (f64) sums, not against another
    // f32 order of summation.
    let dw: Vec<f32> = tensor::<B, 4>(B::enco_conv2d_weight_backward(
        prim(x.clone()),
        prim(weight),
        prim(grad.clone()),
        options,
    ))
    .into_data()
    .to_vec()
    .unwrap();
    let xs: Vec<f32> = x.into_data().to_vec().unwrap();
    let gs: Vec<f32> = grad.into_data().to_vec().unwrap();
    let plane = 240 * 240;
    let mut worst = 0f64;
    let mut scale = 1f64;
    for co in 0..8 {
        for ci in 0..80 {
            let mut exact = 0f64;
            for b in 0..2 {
                let g = &gs[(b * 8 + co) * plane..][..plane];
                let x = &xs[(b * 80 + ci) * plane..][..plane];
                exact += g
                    .iter()
                    .zip(x)
                    .map(|(&g, &x)| f64::from(g) * f64::from(x))
                    .sum::<f64>();
            }
            worst = worst.max((f64::from(dw[co * 80 + ci]) - exact).abs());
            scale = scale.max(exact.abs());
        }
    }
    assert!(
        worst / scale < 1e-5,
        "pointwise weight gradient: {:e}",
        worst / scale
    );
}

/// Pooling windows: kernel, stride, padding.
const WINDOWS: [([usize; 2], [usize; 2], [usize; 2]); 5] = [
    ([3, 3], [1, 1], [1, 1]),
    ([3, 3], [2, 2], [0, 0]),
    ([3, 3], [2, 2], [1, 1]),
    ([2, 2], [2, 2], [0, 0]),
    ([3, 2], [1, 2], [1, 0]),
];

#[test]
fn pools_match_burns_pooling() {
    use burn::tensor::module::{avg_pool2d, max_pool2d};
    for (i, shape) in [[2, 3, 9, 11], [1, 4, 8, 8], [1, 2, 3, 5]]
        .into_iter()
        .enumerate()
    {
        let x = random::<B>(shape, 40 + i as u64);
        for (kernel, stride, padding) in WINDOWS {
            let what = format!("{shape:?} kernel {kernel:?} stride {stride:?} padding {padding:?}");
            let max = ops::max_pool2d(x.clone(), kernel, stride, padding);
            let max_ref = max_pool2d(x.clone(), kernel, stride, padding, [1, 1], false);
            assert_eq!(max.dims(), max_ref.dims(), "max pool {what}");
            assert_eq!(max_rel_diff(max, max_ref), 0.0, "max pool {what}");
            for count_include_pad in [false, true] {
                let avg = ops::avg_pool2d(x.clone(), kernel, stride, padding, count_include_pad);
                let avg_ref =
                    avg_pool2d(x.clone(), kernel, stride, padding, count_include_pad, false);
                assert_eq!(avg.dims(), avg_ref.dims(), "avg pool {what}");
                let d = max_rel_diff(avg, avg_ref);
                assert!(d < 1e-6, "avg pool {what} ({count_include_pad}): {d}");
            }
        }
    }
}

#[test]
fn max_pool_propagates_nan_and_odd_windows_fall_back() {
    let mut values = vec![1.0f32; 25];
    values[12] = f32::NAN; // the centre of a 5×5 plane
    let x = Tensor::<B, 4>::from_data(TensorData::new(values, [1, 1, 5, 5]), &Default::default());
    let y = ops::max_pool2d(x.clone(), [3, 3], [2, 2], [0, 0]);
    let y: Vec<f32> = y.into_data().to_vec().unwrap();
    assert!(
        y.iter().all(|v| v.is_nan()),
        "every window holds the NaN: {y:?}"
    );
    let y = ops::max_pool2d(x, [2, 2], [3, 3], [0, 0]);
    let y: Vec<f32> = y.into_data().to_vec().unwrap();
    assert_eq!(y, vec![1.0; 4], "no window holds the NaN");
    // Padding beyond half the kernel is not a pooling the kernels take: Burn's answer (or its
    // error) stands.
    let x = random::<B>([1, 1, 6, 6], 7);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ops::avg_pool2d(x.clone(), [2, 2], [1, 1], [2, 2], false)
    }));
    let reference = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        burn::tensor::module::avg_pool2d(x.clone(), [2, 2], [1, 1], [2, 2], false, false)
    }));
    assert_eq!(result.is_ok(), reference.is_ok());
}

#[test]
fn scale_shift_relu_matches_the_generic_path_bit_for_bit() {
    let x = random::<B>([2, 5, 7, 9], 50);
    let scale = random::<B>([1, 1, 1, 5], 51).reshape([5]);
    let shift = random::<B>([1, 1, 1, 5], 52).reshape([5]);
    let y = ops::scale_shift_relu(x.clone(), scale.clone(), shift.clone());
    let y_ref: Tensor<B, 4> = tensor(generic::scale_shift_relu::<B>(
        prim(x),
        scale.into_primitive().tensor(),
        shift.into_primitive().tensor(),
    ));
    let (y, y_ref): (Vec<f32>, Vec<f32>) = (
        y.into_data().to_vec().unwrap(),
        y_ref.into_data().to_vec().unwrap(),
    );
    assert!(y.contains(&0.0) && y.iter().any(|&v| v > 0.0));
    assert_eq!(y, y_ref);
}

/// A convolution's input, weight and bias as the leaves of a fresh graph: the input tracked,
/// the weight when `train_weight`, the bias (tracked) when `with_bias`.
fn conv_leaves(
    x0: &Tensor<A, 4>,
    w0: &Tensor<A, 4>,
    b0: &Tensor<A, 1>,
    with_bias: bool,
    train_weight: bool,
) -> (Tensor<A, 4>, Tensor<A, 4>, Option<Tensor<A, 1>>) {
    let w = if train_weight {
        w0.clone().require_grad()
    } else {
        w0.clone()
    };
    let b = with_bias.then(|| b0.clone().require_grad());
    (x0.clone().require_grad(), w, b)
}

#[test]
fn autodiff_conv_node_matches_burns_conv() {
    let device = Default::default();
    let x0 = random::<A>([2, 5, 9, 8], 4);
    let w0 = random::<A>([7, 5, 3, 3], 5);
    let b0 = Tensor::<A, 1>::from_floats([0.1, -0.2, 0.3, 0.0, 0.5, -0.1, 0.2], &device);
    let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    let target = random::<A>([2, 7, 9, 8], 6);

    // With a bias and trained weights, then without a bias and with a frozen weight (the
    // discriminator during the generator step).
    for (with_bias, train_weight) in [(true, true), (false, false)] {
        let run = |enco: bool| {
            let (x, w, b) = conv_leaves(&x0, &w0, &b0, with_bias, train_weight);
            let y = if enco {
                ops::conv2d(x.clone(), w.clone(), b.clone(), options.clone())
            } else {
                burn::tensor::module::conv2d(x.clone(), w.clone(), b.clone(), options.clone())
            };
            let grads = (y.clone() * target.clone()).sum().backward();
            (
                y.inner(),
                x.grad(&grads).unwrap(),
                w.grad(&grads),
                b.and_then(|b| b.grad(&grads)),
            )
        };
        let (y, dx, dw, db) = run(true);
        let (y_ref, dx_ref, dw_ref, db_ref) = run(false);
        let d = max_rel_diff(y, y_ref);
        assert!(d < 1e-6, "output differs by {d}");
        assert!(max_rel_diff(dx, dx_ref) < 1e-5);
        assert_eq!(dw.is_some(), train_weight);
        assert_eq!(db.is_some(), with_bias);
        if let (Some(dw), Some(dw_ref)) = (dw, dw_ref) {
            assert!(max_rel_diff(dw, dw_ref) < 1e-5);
        }
        if let (Some(db), Some(db_ref)) = (db, db_ref) {
            assert!(max_rel_diff(db, db_ref) < 1e-5);
        }
    }
}

#[test]
fn autodiff_conv_after_prelude_matches_the_operations_one_by_one() {
    let device = Default::default();
    let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    let preludes = [
        ConvPrelude {
            relu: true,
            reflect_pad: 1,
            ..ConvPrelude::default()
        },
        ConvPrelude {
            upsample2x: true,
            ..ConvPrelude::default()
        },
        ConvPrelude {
            reflect_pad: 3,
            ..ConvPrelude::default()
        },
        ConvPrelude {
            relu: true,
            upsample2x: true,
            reflect_pad: 2,
        },
    ];
    let x0 = random::<A>([2, 5, 6, 7], 7);
    let w0 = random::<A>([4, 5, 3, 3], 8);
    let b0 = Tensor::<A, 1>::from_floats([0.1, -0.2, 0.3, 0.0], &device);
    for prelude in preludes {
        // With a bias and trained weights, then without a bias and with a frozen weight.
        for (with_bias, train_weight) in [(true, true), (false, false)] {
            let run = |fused: bool| {
                let (x, w, b) = conv_leaves(&x0, &w0, &b0, with_bias, train_weight);
                let y: Tensor<A, 4> = if fused {
                    tensor(A::enco_conv2d_after(
                        prim(x.clone()),
                        prelude,
                        prim(w.clone()),
                        b.clone().map(|b| b.into_primitive().tensor()),
                        options.clone(),
                    ))
                } else {
                    let mut h = x.clone();
                    if prelude.relu {
                        h = burn::tensor::activation::relu(h);
                    }
                    if prelude.upsample2x {
                        h = ops::upsample2x(h);
                    }
                    if prelude.reflect_pad > 0 {
                        h = ops::reflect_pad(h, prelude.reflect_pad);
                    }
                    ops::conv2d(h, w.clone(), b.clone(), options.clone())
                };
                let target = random::<A>(y.dims(), 9);
                let grads = (y.clone() * target).sum().backward();
                (
                    y.inner().into_data(),
                    x.grad(&grads).unwrap().into_data(),
                    w.grad(&grads).map(|g| g.into_data()),
                    b.and_then(|b| b.grad(&grads)).map(|g| g.into_data()),
                )
            };
            let (fused, reference) = (run(true), run(false));
            assert_eq!(fused.2.is_some(), train_weight);
            assert_eq!(fused.3.is_some(), with_bias);
            // The same kernels in the same order: the same bits.
            assert_eq!(fused, reference, "{prelude:?}, bias {with_bias}");
        }
    }
}

/// The gradient of `⟨f(x), g⟩` with respect to `x`, by Burn's autodiff of `f`.
fn autodiff_grad(
    f: fn(FloatTensor<A>) -> FloatTensor<A>,
    x: &Tensor<B, 4>,
    g: &Tensor<B, 4>,
) -> Tensor<B, 4> {
    let xa = Tensor::<A, 4>::from_data(x.to_data(), &Default::default()).require_grad();
    let ya: Tensor<A, 4> = tensor(f(prim(xa.clone())));
    let grads = (ya * Tensor::<A, 4>::from_data(g.to_data(), &Default::default()))
        .sum()
        .backward();
    xa.grad(&grads).unwrap()
}

const PLANES: [[usize; 4]; 7] = [
    [2, 3, 8, 8],
    [1, 2, 9, 7],
    [1, 1, 2, 2],
    [1, 2, 3, 5],
    [2, 4, 16, 13],
    // Rows long enough for runs of 16 samples: one run and a last sample, two runs and a tail.
    [1, 1, 4, 18],
    [1, 2, 5, 41],
];

#[test]
fn blur_downsample_matches_the_generic_path_and_its_adjoint() {
    for (i, shape) in PLANES.iter().enumerate() {
        let x = random::<B>(*shape, 40 + i as u64);
        let y: Tensor<B, 4> = tensor(B::blur_downsample(prim(x.clone())));
        let y_ref: Tensor<B, 4> = tensor(generic::blur_downsample::<B>(prim(x.clone())));
        assert_eq!(y.dims(), y_ref.dims());
        assert!(max_rel_diff(y.clone(), y_ref) < 1e-6, "shape {shape:?}");

        // Backward: the flex adjoint, the generic adjoint and autodiff of the generic forward.
        let g = random::<B>(y.dims(), 50 + i as u64);
        let shape_x = x.shape();
        let gx: Tensor<B, 4> = tensor(B::blur_downsample_backward(
            prim(g.clone()),
            shape_x.clone(),
        ));
        let gx_generic: Tensor<B, 4> = tensor(generic::blur_downsample_backward::<B>(
            prim(g.clone()),
            shape_x,
        ));
        let gx_auto = autodiff_grad(generic::blur_downsample::<A>, &x, &g);
        assert!(
            max_rel_diff(gx.clone(), gx_auto.clone()) < 1e-6,
            "shape {shape:?}"
        );
        assert!(max_rel_diff(gx_generic, gx_auto) < 1e-6, "shape {shape:?}");
    }
}

#[test]
fn upsample_matches_the_generic_path_bit_for_bit_and_its_adjoint() {
    for (i, shape) in PLANES.iter().chain([[1, 2, 1, 3]].iter()).enumerate() {
        let x = random::<B>(*shape, 60 + i as u64);
        let y: Tensor<B, 4> = tensor(B::upsample2x(prim(x.clone())));
        let y_ref: Tensor<B, 4> = tensor(generic::upsample2x::<B>(prim(x.clone())));
        y.to_data().assert_eq(&y_ref.to_data(), true);

        let g = random::<B>(y.dims(), 70 + i as u64);
        let gx: Tensor<B, 4> = tensor(B::upsample2x_backward(prim(g.clone())));
        let gx_generic: Tensor<B, 4> = tensor(generic::upsample2x_backward::<B>(prim(g.clone())));
        gx.to_data().assert_eq(&gx_generic.to_data(), true);
        let gx_auto = autodiff_grad(generic::upsample2x::<A>, &x, &g);
        assert!(max_rel_diff(gx, gx_auto) < 1e-6, "shape {shape:?}");
    }
}

#[test]
fn autodiff_resampler_nodes_use_the_adjoints() {
    let x = random::<A>([1, 3, 9, 10], 80).require_grad();
    let y = ops::upsample2x(ops::blur_downsample(x.clone()));
    let target = random::<A>(y.dims(), 81);
    let grads = (y * target.clone()).sum().backward();
    let gx = x.grad(&grads).unwrap();

    let xr = x.clone().inner();
    let xr = Tensor::<A, 4>::from_data(xr.to_data(), &Default::default()).require_grad();
    let yr: Tensor<A, 4> = tensor(generic::upsample2x::<A>(generic::blur_downsample::<A>(
        prim(xr.clone()),
    )));
    let grads = (yr * target).sum().backward();
    let gx_ref = xr.grad(&grads).unwrap();
    assert!(max_rel_diff(gx, gx_ref) < 1e-6);
}

/// Asserts that the forward pass (with a bias), the weight gradient and the input gradient of
/// a stride-1 `k × k` convolution of a random `x [input]` to `out_channels` channels with zero
/// padding `padding` match Burn's.
fn assert_stride1_conv_matches(
    input: [usize; 4],
    out_channels: usize,
    [k, padding]: [usize; 2],
    seed: u64,
    what: &str,
) {
    let x = random::<B>(input, seed);
    let weight = random::<B>([out_channels, input[1], k, k], seed + 1);
    let bias = random::<B>([1, 1, 1, out_channels], seed + 2).reshape([out_channels]);
    let options = ConvOptions::new([1, 1], [padding; 2], [1, 1], 1);
    assert_forward_matches(&x, &weight, Some(&bias), &options, what);
    let out = |n: usize| n + 2 * padding + 1 - k;
    let grad_shape = [input[0], out_channels, out(input[2]), out(input[3])];
    let grad = random::<B>(grad_shape, seed + 3);
    let weight_grad = (
        B::enco_conv2d_weight_backward as ConvGrad,
        B::conv2d_weight_backward as ConvGrad,
    );
    assert_grad_matches(
        &x,
        &weight,
        &grad,
        &options,
        weight_grad,
        &format!("{what}: weight"),
    );
    let input_grad = (
        B::enco_conv2d_x_backward as ConvGrad,
        B::conv2d_x_backward as ConvGrad,
    );
    assert_grad_matches(
        &x,
        &weight,
        &grad,
        &options,
        input_grad,
        &format!("{what}: input"),
    );
}

#[test]
fn winograd_chunks_cross_images_and_odd_edges() {
    // 24 × 23 output tiles per image, 512 tiles per chunk at 256 + 256 channels: the second
    // chunk starts inside the first image's tiles and ends in the second image's (the weight
    // gradient accumulates over the chunks).
    assert_stride1_conv_matches([2, 256, 47, 45], 256, [3, 1], 7, "chunked");
    // F(2×2, 4×4): 16 × 15 tiles per image, 327 tiles per chunk.
    assert_stride1_conv_matches([2, 256, 33, 31], 256, [4, 1], 11, "chunked 4×4");
}

#[test]
fn winograd_tile_runs_inside_and_across_plane_edges() {
    // 3×3 without padding, 68 × 66 outputs: 33 tiles per row, in runs of 16 tiles whose input
    // windows lie inside the plane, then one tile at the edge; 24 output channels (a partial
    // group of 16 in the kernel and kernel-gradient transforms). The input gradient (padding
    // 2) starts every row with a run across the edge.
    assert_stride1_conv_matches([1, 32, 70, 68], 24, [3, 0], 15, "3×3 runs");
    // F(2×2, 4×4) without padding: 37 × 37 outputs, 19 tiles per row.
    assert_stride1_conv_matches([1, 128, 40, 40], 128, [4, 0], 19, "4×4 runs");
}

#[test]
fn winograd_gradients_over_few_tiles() {
    // Few output tiles for many kernels (a ResNet block at 128 px on one image, scaled down):
    // F(2×2, 3×3) for both gradients instead of F(4×4, 3×3). 9 × 7 outputs, 6 tiles of 4×4
    // for 48 × 40 kernels; the input gradient 11 × 9, 9 tiles; partial runs at every edge.
    assert_stride1_conv_matches([1, 48, 11, 9], 40, [3, 0], 35, "3×3 gradients, few tiles");
    // The same with zero padding 1 and two images (the input gradient's padding 1).
    assert_stride1_conv_matches(
        [2, 64, 7, 8],
        64,
        [3, 1],
        39,
        "3×3 gradients, few tiles, padded",
    );
}

#[test]
fn winograd_blocks_of_tiles() {
    // From 1 024 output tiles the forward pass and the input gradient go block by block with
    // AVX-512 (32 tiles, 12 output channels at a time): 13 output channels leave a partial group
    // of channels, and the tile counts a partial block. F(2×2, 3×3) forward over 1 058 tiles of
    // two images (their blocks straddle the images).
    assert_stride1_conv_matches([2, 16, 46, 45], 13, [3, 1], 23, "blocked 3×3");
    // F(4×4, 3×3) input gradient over 33 × 32 tiles (rows of 32 tiles, plane edges in every
    // block), F(2×2, 3×3) forward over 65 × 64.
    assert_stride1_conv_matches([1, 8, 130, 127], 13, [3, 1], 27, "blocked 3×3 gradient");
    // F(2×2, 4×4) forward over 32 × 33 tiles from 64 input channels.
    assert_stride1_conv_matches([1, 64, 65, 66], 13, [4, 1], 31, "blocked 4×4");
}

#[test]
fn instance_norm_matches_the_generic_path_and_its_adjoint() {
    for (i, shape) in [[2, 3, 8, 8], [1, 2, 5, 7], [1, 4, 1, 3]]
        .iter()
        .enumerate()
    {
        // An offset and a scale per call, as after a convolution.
        let x = random::<B>(*shape, 100 + i as u64) * 3.0 + 1.5;
        let (y, inv_std) = B::instance_norm(prim(x.clone()), 1e-5);
        let (y_ref, inv_std_ref) = generic::instance_norm::<B>(prim(x.clone()), 1e-5);
        let d = max_rel_diff::<4>(tensor(y.clone()), tensor(y_ref));
        assert!(d < 1e-5, "shape {shape:?}: output differs by {d}");
        let d = max_rel_diff::<2>(tensor(inv_std.clone()), tensor(inv_std_ref));
        assert!(d < 1e-5, "shape {shape:?}: inverse std differs by {d}");

        let g = random::<B>(*shape, 110 + i as u64);
        let gx: Tensor<B, 4> = tensor(B::instance_norm_backward(
            y.clone(),
            inv_std.clone(),
            prim(g.clone()),
        ));
        let gx_generic: Tensor<B, 4> = tensor(generic::instance_norm_backward::<B>(
            y,
            inv_std,
            prim(g.clone()),
        ));
        let gx_auto = autodiff_grad(|x| generic::instance_norm::<A>(x, 1e-5).0, &x, &g);
        assert!(
            max_rel_diff(gx.clone(), gx_auto.clone()) < 1e-4,
            "shape {shape:?}"
        );
        assert!(max_rel_diff(gx_generic, gx_auto) < 1e-4, "shape {shape:?}");
    }
}

#[test]
fn reflect_pad_matches_burns_pad_and_its_adjoint() {
    for (i, (shape, p)) in [([2, 3, 8, 9], 1), ([1, 2, 7, 5], 3), ([1, 1, 2, 2], 1)]
        .iter()
        .enumerate()
    {
        let x = random::<B>(*shape, 120 + i as u64);
        let y: Tensor<B, 4> = tensor(B::reflect_pad(prim(x.clone()), *p));
        let y_ref: Tensor<B, 4> = tensor(generic::reflect_pad::<B>(prim(x.clone()), *p));
        y.to_data().assert_eq(&y_ref.to_data(), true);

        let g = random::<B>(y.dims(), 130 + i as u64);
        let gx: Tensor<B, 4> = tensor(B::reflect_pad_backward(prim(g.clone()), *p));
        let gx_generic: Tensor<B, 4> =
            tensor(generic::reflect_pad_backward::<B>(prim(g.clone()), *p));
        let pad = *p;
        let gx_auto = match pad {
            1 => autodiff_grad(|x| generic::reflect_pad::<A>(x, 1), &x, &g),
            _ => autodiff_grad(|x| generic::reflect_pad::<A>(x, 3), &x, &g),
        };
        assert!(
            max_rel_diff(gx.clone(), gx_auto.clone()) < 1e-6,
            "shape {shape:?}"
        );
        assert!(max_rel_diff(gx_generic, gx_auto) < 1e-6, "shape {shape:?}");
    }
}

#[test]
fn autodiff_norm_and_pad_nodes_use_the_adjoints() {
    let x = random::<A>([2, 3, 6, 7], 140).require_grad();
    let y = ops::instance_norm(ops::reflect_pad(x.clone(), 2), 1e-5);
    let target = random::<A>(y.dims(), 141);
    let grads = (y * target.clone()).sum().backward();
    let gx = x.grad(&grads).unwrap();

    let xr =
        Tensor::<A, 4>::from_data(x.clone().inner().to_data(), &Default::default()).require_grad();
    let padded = generic::reflect_pad::<A>(prim(xr.clone()), 2);
    let yr: Tensor<A, 4> = tensor(generic::instance_norm::<A>(padded, 1e-5).0);
    let grads = (yr * target).sum().backward();
    let gx_ref = xr.grad(&grads).unwrap();
    assert!(max_rel_diff(gx, gx_ref) < 1e-4);
}

#[test]
fn convolutions_run_concurrently_inside_rayon_tasks() {
    use rayon::prelude::*;
    // Each task runs a whole convolution; waiting threads pick up other tasks' convolutions
    // while their own column buffer is in use.
    let x = random::<B>([2, 16, 20, 20], 150);
    let weight = random::<B>([12, 16, 4, 4], 151);
    let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    let expected: Tensor<B, 4> = tensor(B::conv2d(
        prim(x.clone()),
        prim(weight.clone()),
        None,
        options.clone(),
    ));
    let results: Vec<Tensor<B, 4>> = (0..8)
        .into_par_iter()
        .map(|_| {
            tensor(B::enco_conv2d(
                prim(x.clone()),
                prim(weight.clone()),
                None,
                options.clone(),
            ))
        })
        .collect();
    for y in results {
        assert!(max_rel_diff(y, expected.clone()) < 1e-5);
    }
}

#[test]
fn kernels_on_the_caller_pool_give_the_bits_of_a_plain_call() {
    use enco_kernels::Executor;
    // The pool's other thread keeps looking for work while thread 0 runs kernels, and takes
    // over tasks of their parallel loops: every task writes its own part of the output, so who
    // runs it does not change a bit. A thread of its own, so that it is the pool's thread 0.
    let passes = || {
        let x = prim(random::<B>([2, 32, 18, 18], 160));
        let weight = prim(random::<B>([48, 32, 3, 3], 161));
        let g = prim(random::<B>([2, 48, 18, 18], 162));
        let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        let y = B::enco_conv2d(x.clone(), weight.clone(), None, options.clone());
        let dx = B::enco_conv2d_x_backward(x.clone(), weight.clone(), g.clone(), options.clone());
        let dw = B::enco_conv2d_weight_backward(x, weight, g, options);
        let mut bits = element_wise_kernel_bits();
        for t in [y, dx, dw] {
            bits.push(
                tensor::<B, 4>(t)
                    .into_data()
                    .to_vec::<f32>()
                    .unwrap()
                    .iter()
                    .map(|v| v.to_bits())
                    .collect(),
            );
        }
        bits
    };
    let (plain, pooled, index) = std::thread::spawn(move || {
        let plain = Executor::Inline.run(passes);
        let (pooled, index) = Executor::CallerPool.run(|| {
            (
                (0..3).map(|_| passes()).collect::<Vec<_>>(),
                rayon::current_thread_index(),
            )
        });
        (plain, pooled, index)
    })
    .join()
    .unwrap();
    assert_eq!(index, Some(0), "the caller pool's thread 0 ran the kernels");
    for bits in pooled {
        assert!(bits == plain);
    }
}

#[test]
fn patch_gather_matches_the_generic_path_bit_for_bit_and_its_adjoint() {
    // One image, two images, and each image of two as a narrowed view (read in place, the
    // second at an offset into the batch's buffer); repeated rows add their gradients.
    let batch = random::<B>([2, 6, 5, 7], 170);
    let cases = [
        (random::<B>([1, 6, 5, 7], 171), vec![34, 0, 12, 12, 7]),
        (batch.clone(), vec![69, 3, 35, 3, 40, 0]),
        (batch.clone().narrow(0, 0, 1), vec![1, 33, 1, 20]),
        (batch.narrow(0, 1, 1), vec![7, 0, 34]),
    ];
    for (i, (features, rows)) in cases.into_iter().enumerate() {
        let shape = features.shape();
        let c = shape.dims::<4>()[1];
        let patches = B::gather_patches(prim(features.clone()), &rows);
        let expected = generic::gather_patches::<B>(prim(features), &rows);
        assert_eq!(patches.shape().dims::<2>(), [rows.len(), c], "case {i}");
        assert!(same_bits(patches, expected), "case {i}");
        let grad =
            Tensor::<B, 2>::random([rows.len(), c], Distribution::Default, &Default::default());
        let dx = B::gather_patches_backward(
            grad.clone().into_primitive().tensor(),
            shape.clone(),
            &rows,
        );
        let expected =
            generic::gather_patches_backward::<B>(grad.into_primitive().tensor(), shape, &rows);
        assert!(same_bits(dx, expected), "case {i}");
    }
}

#[test]
fn autodiff_patch_gather_is_one_node_with_burns_select_gradient() {
    let features = random::<A>([2, 4, 3, 5], 175).require_grad();
    let rows = [16, 2, 29, 2];
    let weights = Tensor::<A, 2>::random([4, 4], Distribution::Default, &Default::default());
    let patches = ops::gather_patches(features.clone(), &rows);
    let gx = features
        .grad(&(patches.clone() * weights.clone()).sum().backward())
        .unwrap();
    // Burn's own select on the transposed map, as the heads gathered before.
    let index = Tensor::<A, 1, Int>::from_data(
        TensorData::new(rows.map(|r| r as i64).to_vec(), [4]),
        &Default::default(),
    );
    let reference = features
        .clone()
        .reshape([2, 4, 15])
        .swap_dims(1, 2)
        .reshape([30, 4])
        .select(0, index);
    assert!(same_bits(
        patches.inner().into_primitive().tensor(),
        reference.clone().inner().into_primitive().tensor()
    ));
    let gx_ref = features
        .grad(&(reference * weights).sum().backward())
        .unwrap();
    assert!(same_bits(prim(gx), prim(gx_ref)));
}

#[test]
fn relu_then_reflect_pad_in_one_pass_matches_the_two_operations_bit_for_bit() {
    for (i, (shape, p)) in [([2, 3, 8, 9], 1), ([1, 2, 7, 5], 3), ([1, 1, 2, 2], 1)]
        .iter()
        .enumerate()
    {
        // Exact zeros and negative zeros too, on the ReLU's kink.
        let x = random::<B>(*shape, 170 + i as u64)
            .mask_fill(random::<B>(*shape, 180 + i as u64).lower_elem(-0.8), 0.0);
        let x = x.clone().mask_fill(x.clone().greater_elem(1.2), -0.0);
        let fused = B::relu_reflect_pad(prim(x.clone()), *p);
        let apart = B::reflect_pad(B::relu(prim(x.clone())), *p);
        assert!(same_bits(fused, apart), "shape {shape:?}: forward");

        let g = random::<B>(
            [shape[0], shape[1], shape[2] + 2 * p, shape[3] + 2 * p],
            190,
        );
        let fused = B::relu_reflect_pad_backward(prim(x.clone()), prim(g.clone()), *p);
        let apart = B::relu_backward(prim(x.clone()), B::reflect_pad_backward(prim(g), *p));
        assert!(same_bits(fused, apart), "shape {shape:?}: adjoint");
    }
}

#[test]
fn instance_norm_then_relu_in_one_pass_matches_the_two_operations_bit_for_bit() {
    // Planes shorter and longer than the statistics' 8 partial sums, with a tail; a constant
    // plane (all zeros after the norm) too.
    for (i, shape) in [[2, 3, 8, 9], [1, 2, 33, 5], [1, 1, 2, 2]]
        .iter()
        .enumerate()
    {
        let x = random::<B>(*shape, 200 + i as u64);
        let x = x.clone().slice_assign(
            [0..1, 0..1, 0..shape[2], 0..shape[3]],
            Tensor::full([1, 1, shape[2], shape[3]], 0.25, &Default::default()),
        );
        let (fused, normalised, inv_std) = B::instance_norm_relu(prim(x.clone()), 1e-5);
        let (y, inv_std_apart) = B::instance_norm(prim(x.clone()), 1e-5);
        assert!(same_bits(normalised.clone(), y.clone()), "{shape:?}: y");
        assert!(
            same_bits(inv_std.clone(), inv_std_apart),
            "{shape:?}: inv_std"
        );
        assert!(same_bits(fused, B::relu(y.clone())), "{shape:?}: forward");

        // Exact zeros and negative zeros in the gradient, on and off the ReLU's kink.
        let g = random::<B>(*shape, 210 + i as u64);
        let g = g
            .clone()
            .mask_fill(random::<B>(*shape, 220).lower_elem(-0.8), 0.0)
            .mask_fill(g.greater_elem(1.2), -0.0);
        let fused = B::instance_norm_relu_backward(normalised, inv_std.clone(), prim(g.clone()));
        let masked = B::relu_backward(B::relu(y.clone()), prim(g));
        let apart = B::instance_norm_backward(y, inv_std, masked);
        assert!(same_bits(fused, apart), "{shape:?}: adjoint");
    }
}

#[test]
fn autodiff_instance_norm_relu_is_one_node_with_the_pairs_gradient() {
    let shape = [2, 4, 9, 11];
    let x = random::<A>(shape, 230).require_grad();
    let target = random::<A>(shape, 231);
    let fused = ops::instance_norm_relu(x.clone(), 1e-5);
    let apart = burn::tensor::activation::relu(ops::instance_norm(x.clone(), 1e-5));
    assert_eq!(
        max_rel_diff(fused.clone().inner(), apart.clone().inner()),
        0.0
    );
    let gx = x.grad(&(fused * target.clone()).sum().backward()).unwrap();
    let gx_ref = x.grad(&(apart * target).sum().backward()).unwrap();
    assert_eq!(max_rel_diff(gx.clone(), gx_ref), 0.0);
    // The ReLU's mask reached the input: the gradient is not that of the norm alone.
    let gx_norm = x
        .grad(
            &(ops::instance_norm(x.clone(), 1e-5) * random::<A>(shape, 231))
                .sum()
                .backward(),
        )
        .unwrap();
    assert!(max_rel_diff(gx, gx_norm) > 1e-3);
}

#[test]
#[should_panic(expected = "reflect padding 3 needs H and W above it")]
fn reflect_pad_beyond_the_plane_names_the_problem() {
    let _ = ops::reflect_pad(random::<B>([1, 1, 3, 5], 160), 3);
}

#[test]
#[should_panic(expected = "reflect padding 3 needs H and W above it, got [1, 2, 3, 8]")]
fn a_prelude_padding_beyond_the_plane_names_the_problem() {
    use burn::nn::conv::Conv2dConfig;
    let conv = Conv2dConfig::new([2, 4], [3, 3]).init::<B>(&Default::default());
    let prelude = enco_kernels::ConvPrelude {
        relu: true,
        reflect_pad: 3,
        ..Default::default()
    };
    let _ = ops::conv2d_module_after(prelude, &conv, random::<B>([1, 2, 3, 8], 161));
}

#[test]
fn adam_step_matches_the_generic_update_over_steps() {
    let adam = |time| enco_kernels::AdamStep {
        learning_rate: 2e-4,
        beta_1: 0.5,
        beta_2: 0.999,
        epsilon: 1e-8,
        time,
    };
    // More elements than one parallel chunk, and not a multiple of it.
    let shape = [3, 7, 61, 73];
    let initial = random::<B>(shape, 40);
    let mut fused = (prim(initial.clone()), None);
    let mut reference = (prim(initial.clone()), None);
    for time in 1..=3 {
        let grad = random::<B>(shape, 40 + time as u64);
        let (param, moments) = B::adam_step(fused.0, prim(grad.clone()), fused.1, &adam(time));
        fused = (param, Some(moments));
        let (param, moments) =
            generic::adam_step::<B>(reference.0, prim(grad), reference.1, &adam(time));
        reference = (param, Some(moments));
        let (m, v) = fused.1.clone().unwrap();
        let (m_ref, v_ref) = reference.1.clone().unwrap();
        assert_eq!(max_rel_diff::<4>(tensor(m), tensor(m_ref)), 0.0);
        assert_eq!(max_rel_diff::<4>(tensor(v), tensor(v_ref)), 0.0);
        let step = max_rel_diff::<4>(tensor(fused.0.clone()), tensor(reference.0.clone()));
        assert!(step <= 1e-7, "step {time}: parameters differ by {step}");
    }
    // The parameters moved: each step changes them by about the learning rate.
    let moved = max_rel_diff::<4>(tensor(fused.0), initial);
    assert!(moved > 1e-4, "parameters did not move ({moved})");
}

#[test]
fn autodiff_adam_step_is_untracked() {
    let shape = [2, 3, 4, 5];
    let adam = enco_kernels::AdamStep {
        learning_rate: 0.1,
        beta_1: 0.9,
        beta_2: 0.99,
        epsilon: 1e-8,
        time: 1,
    };
    let param = random::<A>(shape, 7).require_grad();
    let grad = random::<A>(shape, 8);
    let (updated, _) = A::adam_step(prim(param.clone()), prim(grad.clone()), None, &adam);
    let updated: Tensor<A, 4> = tensor(updated);
    assert!(!updated.is_require_grad());
    // First step: θ − lr·sign(g) up to ε (m/√v = g·(1 − β₁)/(|g|·√(1 − β₂)) · c = sign(g)).
    let expected = param.inner() - grad.inner().sign() * 0.1;
    let diff = max_rel_diff::<4>(updated.inner(), expected);
    assert!(diff < 1e-5, "first Adam step off by {diff}");
}

#[test]
fn leaky_relu_node_matches_burns_activation_and_its_gradient() {
    let shape = [2, 5, 33, 47];
    let x = random::<A>(shape, 50).require_grad();
    let target = random::<A>(shape, 51);
    let y = ops::leaky_relu(x.clone(), 0.2);
    let y_ref = burn::tensor::activation::leaky_relu(x.clone(), 0.2);
    assert_eq!(max_rel_diff(y.clone().inner(), y_ref.clone().inner()), 0.0);
    let gx = x.grad(&(y * target.clone()).sum().backward()).unwrap();
    let gx_ref = x.grad(&(y_ref * target).sum().backward()).unwrap();
    assert_eq!(max_rel_diff(gx, gx_ref), 0.0);

    // The flex kernel against flex's own activation, bit for bit, with zeros of both signs,
    // NaN and infinities among the inputs.
    let mut values = random::<B>(shape, 54).into_data().to_vec::<f32>().unwrap();
    values[..6].copy_from_slice(&[
        0.0,
        -0.0,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        -1e-40,
    ]);
    let x = prim(Tensor::<B, 4>::from_data(
        TensorData::new(values, shape),
        &Default::default(),
    ));
    assert!(same_bits(
        B::enco_leaky_relu(x.clone(), 0.2),
        B::leaky_relu(x, 0.2.into())
    ));

    // The flex adjoint against the generic one, on an output with zeros.
    let output = prim(burn::tensor::activation::relu(random::<B>(shape, 52)));
    let grad = random::<B>(shape, 53);
    let dx: Tensor<B, 4> = tensor(B::leaky_relu_backward(
        output.clone(),
        prim(grad.clone()),
        0.2,
    ));
    let dx_ref: Tensor<B, 4> = tensor(generic::leaky_relu_backward::<B>(output, prim(grad), 0.2));
    assert_eq!(max_rel_diff(dx, dx_ref), 0.0);
}

/// The kernels compiled for each instruction set this processor runs (scalar, AVX2 + FMA,
/// AVX-512) match Burn's convolutions: the direct kernels and Winograd F(2×2, 3×3) and
/// F(2×2, 4×4) with their gradients (the kernels `SimdLevel` covers). With `ENCO_FLEX_SIMD` set
/// (CI reruns this file under `scalar` and `avx2`), the level in effect is the one it asks for
/// and nothing else is forced, so every test of the file runs at that level.
/// The bits of every element-wise kernel's output (instance norm and its adjoint, alone and
/// with the ReLU, reflect pad,
/// the resamplers, the LeakyReLU and its adjoint, the per-channel affine map + ReLU, the bias
/// gradient) on planes of odd sizes with rows long enough for the 16-lane runs, at the SIMD level
/// in use.
fn element_wise_kernel_bits() -> Vec<Vec<u32>> {
    let bits = |x: FloatTensor<B>| -> Vec<u32> {
        tensor::<B, 1>(B::float_reshape(
            x.clone(),
            [x.shape().num_elements()].into(),
        ))
        .into_data()
        .to_vec::<f32>()
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect()
    };
    let x = prim(random::<B>([2, 5, 13, 41], 71));
    let g = prim(random::<B>([2, 5, 13, 41], 72));
    let (y, inv_std) = B::instance_norm(x.clone(), 1e-5);
    let norm_grad = B::instance_norm_backward(y.clone(), inv_std.clone(), g.clone());
    let padded = B::reflect_pad(x.clone(), 2);
    let pad_grad = B::reflect_pad_backward(prim(random::<B>([2, 5, 17, 45], 73)), 2);
    let (norm_relu, _, _) = B::instance_norm_relu(x.clone(), 1e-5);
    let norm_relu_grad = B::instance_norm_relu_backward(y.clone(), inv_std.clone(), g.clone());
    let relu_padded = B::relu_reflect_pad(x.clone(), 2);
    let relu_pad_grad =
        B::relu_reflect_pad_backward(x.clone(), prim(random::<B>([2, 5, 17, 45], 79)), 2);
    let down = B::blur_downsample(x.clone());
    let down_grad =
        B::blur_downsample_backward(prim(random::<B>([2, 5, 7, 6], 74)), [2, 5, 13, 11].into());
    let up = B::upsample2x(x.clone());
    let up_grad = B::upsample2x_backward(prim(random::<B>([2, 5, 26, 82], 75)));
    let leaky = B::enco_leaky_relu(x.clone(), 0.2);
    let leaky_grad = B::leaky_relu_backward(x.clone(), g.clone(), 0.2);
    let channel = |seed| tensor::<B, 1>(prim(random::<B>([1, 1, 1, 5], seed))).reshape([5]);
    let affine = B::scale_shift_relu(
        x.clone(),
        channel(76).into_primitive().tensor(),
        channel(77).into_primitive().tensor(),
    );
    let bias = channel(78).into_primitive().tensor();
    let bias_grad = B::enco_conv2d_bias_backward(x, bias, g);
    [
        y,
        inv_std,
        norm_grad,
        norm_relu,
        norm_relu_grad,
        padded,
        pad_grad,
        relu_padded,
        relu_pad_grad,
        down,
        down_grad,
        up,
        up_grad,
        leaky,
        leaky_grad,
        affine,
        bias_grad,
    ]
    .into_iter()
    .map(bits)
    .collect()
}

#[test]
fn every_simd_level_matches_the_generic_path() {
    use enco_kernels::{SIMD_LEVEL_ENV, SimdLevel, force_simd_level, simd_level};
    let start = simd_level();
    if let Ok(wanted) = std::env::var(SIMD_LEVEL_ENV) {
        let wanted: SimdLevel = wanted.parse().unwrap();
        assert_eq!(start, wanted, "{SIMD_LEVEL_ENV} chooses the level");
        return;
    }
    let mut first_level_bits = None;
    for level in SimdLevel::supported() {
        force_simd_level(Some(level)).unwrap();
        assert_eq!(simd_level(), level);
        // The element-wise kernels use no fused multiply-add and sum in one order: the same
        // bits at every level.
        let bits = element_wise_kernel_bits();
        let first = first_level_bits.get_or_insert_with(|| bits.clone());
        assert!(
            *first == bits,
            "element-wise kernels differ at {}",
            level.name()
        );
        conv_forward_matches_burns_conv();
        conv_gradients_match_burns_generic_kernels();
        winograd_tile_runs_inside_and_across_plane_edges();
        winograd_gradients_over_few_tiles();
        winograd_blocks_of_tiles();
    }
    let beyond = SimdLevel::ALL
        .into_iter()
        .find(|l| *l > SimdLevel::detected());
    if let Some(beyond) = beyond {
        assert!(force_simd_level(Some(beyond)).is_err());
    }
    force_simd_level(Some(start)).unwrap();
}
