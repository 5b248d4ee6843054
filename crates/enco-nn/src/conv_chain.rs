//! Running a module list with each `ReLU / Upsample / ReflectPad → Conv` chain as one
//! convolution after a [`ConvPrelude`], and each other `InstanceNorm → ReLU` pair as one operation.

use burn::nn::conv::Conv2d;
use burn::prelude::*;
use enco_kernels::ops::conv2d_module_after;
use enco_kernels::{ConvPrelude, EncoBackend, ops};

/// A parameter-free layer a [`ConvPrelude`] can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PreludeStep {
    /// `nn.ReLU`.
    Relu,
    /// The official `Upsample`.
    Upsample,
    /// `nn.ReflectionPad2d(padding)`.
    ReflectPad(usize),
}

/// `prelude` followed by `step`, if a [`ConvPrelude`] can run them (ReLU, then Upsample, then
/// ReflectPad, each at most once).
fn then(prelude: ConvPrelude, step: PreludeStep) -> Option<ConvPrelude> {
    match step {
        PreludeStep::Relu if prelude.is_identity() => Some(ConvPrelude {
            relu: true,
            ..prelude
        }),
        PreludeStep::Upsample if !prelude.upsample2x && prelude.reflect_pad == 0 => {
            Some(ConvPrelude {
                upsample2x: true,
                ..prelude
            })
        }
        PreludeStep::ReflectPad(padding) if padding > 0 && prelude.reflect_pad == 0 => {
            Some(ConvPrelude {
                reflect_pad: padding,
                ..prelude
            })
        }
        _ => None,
    }
}

/// One entry of a module list, as [`forward_chained`] sees it.
pub(crate) trait ChainLayer<B: EncoBackend> {
    /// The prelude operation this layer is, if it is one.
    fn prelude_step(&self) -> Option<PreludeStep>;
    /// The convolution this layer is, if it is one that can end a chain.
    fn conv(&self) -> Option<&Conv2d<B>>;
    /// The epsilon of the instance norm this layer is, if it is one.
    fn instance_norm_epsilon(&self) -> Option<f64>;
    /// Applies the layer alone.
    fn forward_alone(&self, x: Tensor<B, 4>) -> Tensor<B, 4>;
}

/// The prelude and the index of the convolution that end the chain starting at `start`, when
/// the layers from `start` are prelude operations, none of whose outputs is `tapped`, followed
/// by a convolution.
fn chain_at<B: EncoBackend, L: ChainLayer<B>>(
    layers: &[L],
    start: usize,
    tapped: &impl Fn(usize) -> bool,
) -> Option<(ConvPrelude, usize)> {
    let mut prelude = ConvPrelude::default();
    for (index, layer) in layers.iter().enumerate().skip(start) {
        if layer.conv().is_some() {
            return (!prelude.is_identity()).then_some((prelude, index));
        }
        if tapped(index) {
            return None;
        }
        prelude = then(prelude, layer.prelude_step()?)?;
    }
    None
}

/// The epsilon of the instance norm at `start` when a ReLU follows it that no convolution's
/// prelude takes, and the norm's own output is not `tapped`: the pair then runs as one
/// operation ([`ops::instance_norm_relu`]).
fn norm_relu_at<B: EncoBackend, L: ChainLayer<B>>(
    layers: &[L],
    start: usize,
    tapped: &impl Fn(usize) -> bool,
) -> Option<f64> {
    let epsilon = layers[start].instance_norm_epsilon()?;
    let relu_next = layers.get(start + 1)?.prelude_step() == Some(PreludeStep::Relu);
    (relu_next && !tapped(start) && chain_at(layers, start + 1, tapped).is_none())
        .then_some(epsilon)
}

/// Applies `layers` in order, handing the output of every layer `i` with `tapped(i)` to `tap`
/// (in index order), and returns the last output.
///
/// Each run of ReLU, Upsample and ReflectPad layers (in that order, none of them tapped) that
/// ends in a convolution runs as one [`conv2d_module_after`]: the result is that of the layers
/// one by one, and a training step keeps the run's input instead of the convolution's
/// ([`ConvPrelude`]). An instance norm followed by a ReLU that no such run takes runs as one
/// operation with it ([`ops::instance_norm_relu`]).
pub(crate) fn forward_chained<B: EncoBackend, L: ChainLayer<B>>(
    layers: &[L],
    x: Tensor<B, 4>,
    tapped: impl Fn(usize) -> bool,
    mut tap: impl FnMut(Tensor<B, 4>),
) -> Tensor<B, 4> {
    let mut h = x;
    let mut index = 0;
    while index < layers.len() {
        match chain_at(layers, index, &tapped) {
            Some((prelude, conv_index)) => {
                let conv = layers[conv_index]
                    .conv()
                    .expect("a chain ends in a convolution");
                h = conv2d_module_after(prelude, conv, h);
                index = conv_index;
            }
            None => match norm_relu_at(layers, index, &tapped) {
                Some(epsilon) => {
                    h = ops::instance_norm_relu(h, epsilon);
                    index += 1;
                }
                None => h = layers[index].forward_alone(h),
            },
        }
        if tapped(index) {
            tap(h.clone());
        }
        index += 1;
    }
    h
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::tensor::Distribution;

    use super::*;
    use crate::ResnetGeneratorConfig;
    use crate::layer::Layer;

    type A = Autodiff<Flex>;

    /// The layers applied one at a time, residual blocks included, with the outputs at `taps`.
    fn one_by_one(layers: &[Layer<A>], x: Tensor<A, 4>, taps: &[usize]) -> Vec<Tensor<A, 4>> {
        let mut outputs = Vec::new();
        let mut h = x;
        for (index, layer) in layers.iter().enumerate() {
            h = match layer {
                Layer::ResnetBlock(block) => {
                    let body = block
                        .conv_block
                        .iter()
                        .fold(h.clone(), |h, layer| layer.forward(h));
                    h + body
                }
                _ => layer.forward(h),
            };
            if taps.contains(&index) {
                outputs.push(h.clone());
            }
        }
        outputs.push(h);
        outputs
    }

    #[test]
    fn chains_compute_what_the_layers_compute_one_by_one() {
        let device = Default::default();
        let generator = ResnetGeneratorConfig::new()
            .with_ngf(4)
            .with_n_blocks(2)
            .init::<A>(&device);
        let model = &generator.model;
        let x0 = Tensor::<A, 4>::random([2, 3, 16, 12], Distribution::Normal(0.0, 1.0), &device);
        // 0 pad, 1 conv, 2 norm, 3 relu, …, 14 upsample, 15 conv, …, 21 relu, 22 pad, 23 conv.
        for taps in [vec![], vec![3, 14, 21], (1..model.len()).collect()] {
            let tapped = |i: usize| taps.contains(&i);
            let first = ConvPrelude {
                reflect_pad: 3,
                ..ConvPrelude::default()
            };
            assert_eq!(chain_at(model, 0, &tapped), Some((first, 1)));
            let upsample = ConvPrelude {
                upsample2x: true,
                ..ConvPrelude::default()
            };
            let expected = (!tapped(14)).then_some((upsample, 15));
            assert_eq!(chain_at(model, 14, &tapped), expected, "taps {taps:?}");
            let relu_pad = ConvPrelude {
                relu: !tapped(21),
                ..first
            };
            let start = if tapped(21) { 22 } else { 21 };
            let expected = (!tapped(22)).then_some((relu_pad, 23));
            assert_eq!(chain_at(model, start, &tapped), expected, "taps {taps:?}");
            // 2 norm, 3 relu, 4 conv: a pair only when the ReLU's output is tapped, so that
            // conv 4's prelude cannot take it; 5 norm, 6 relu, 7 downsample: a pair unless the
            // norm's output is tapped.
            let pair = |fused: bool| fused.then_some(1e-5);
            assert_eq!(
                norm_relu_at(model, 2, &tapped),
                pair(tapped(3) && !tapped(2)),
                "taps {taps:?}"
            );
            assert_eq!(norm_relu_at(model, 5, &tapped), pair(!tapped(5)));
            assert_eq!(norm_relu_at(model, 6, &tapped), None, "not a norm");

            let run = |chained: bool| {
                let x = x0.clone().require_grad();
                let mut outputs = Vec::new();
                if chained {
                    let last = forward_chained(model, x.clone(), tapped, |h| outputs.push(h));
                    outputs.push(last);
                } else {
                    outputs = one_by_one(model, x.clone(), &taps);
                }
                let loss = outputs
                    .iter()
                    .enumerate()
                    .map(|(i, h)| (h.clone() * (i as f32 + 1.0)).sin().sum())
                    .reduce(|a, b| a + b)
                    .unwrap();
                let grads = loss.backward();
                let weight_grads: Vec<_> = model
                    .iter()
                    .filter_map(|layer| layer.conv())
                    .map(|conv| conv.weight.grad(&grads).unwrap().into_data())
                    .collect();
                let outputs: Vec<_> = outputs.into_iter().map(|h| h.into_data()).collect();
                (outputs, x.grad(&grads).unwrap().into_data(), weight_grads)
            };
            // The same kernels in the same order: the same bits.
            assert!(run(true) == run(false), "taps {taps:?}");
        }
    }

    #[test]
    fn preludes_follow_the_order_relu_upsample_pad() {
        let relu = then(ConvPrelude::default(), PreludeStep::Relu).unwrap();
        let relu_pad = then(relu, PreludeStep::ReflectPad(1)).unwrap();
        assert_eq!(
            relu_pad,
            ConvPrelude {
                relu: true,
                upsample2x: false,
                reflect_pad: 1
            }
        );
        // A ReLU after anything, a second pad, or an upsampling after the pad start no chain.
        assert_eq!(then(relu, PreludeStep::Relu), None);
        assert_eq!(then(relu_pad, PreludeStep::ReflectPad(1)), None);
        assert_eq!(then(relu_pad, PreludeStep::Upsample), None);
        assert_eq!(
            then(ConvPrelude::default(), PreludeStep::ReflectPad(0)),
            None
        );
    }
}
