//! [`EncoBackend`] for [`Autodiff`]: each operation is one node of the graph whose backward
//! pass calls the inner backend's gradient kernels.

use burn::backend::Autodiff;
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::tensor::TensorMetadata;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::ops::{ConvOptions, FloatTensor};

use crate::{AdamStep, ConvPrelude, EncoBackend};

/// `enco_conv2d(prelude(x), weight, bias)` as one node that keeps `x` (not the convolution's
/// input) and applies the [`ConvPrelude`] again in its backward pass; with the identity prelude
/// it is the plain convolution node. `N` is 2 without a bias, 3 with one.
#[derive(Debug)]
struct Conv2dAfterPrelude;

/// What [`Conv2dAfterPrelude`] keeps: the states of `x`, `weight` and the bias (if any), the
/// options and the prelude.
type PreludeConvState = (NodeId, NodeId, Option<NodeId>, ConvOptions<2>, ConvPrelude);

impl<B: EncoBackend, const N: usize> Backward<B, N> for Conv2dAfterPrelude {
    type State = PreludeConvState;

    fn backward(
        self,
        ops: Ops<Self::State, N>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, weight_state, bias_state, options, prelude) = ops.state;
        let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x_state);
        let weight = checkpointer.retrieve_node_output::<FloatTensor<B>>(weight_state);
        let bias =
            bias_state.map(|state| checkpointer.retrieve_node_output::<FloatTensor<B>>(state));
        let parent = |i: usize| ops.parents.get(i).and_then(|p| p.as_ref()).map(|p| p.id);

        let input = prelude.apply::<B>(x.clone());
        if let (Some(bias), Some(id)) = (bias, parent(2)) {
            let g = B::enco_conv2d_bias_backward(input.clone(), bias, grad.clone());
            grads.register::<B>(id, g);
        }
        if let Some(id) = parent(1) {
            let g = B::enco_conv2d_weight_backward(
                input.clone(),
                weight.clone(),
                grad.clone(),
                options.clone(),
            );
            grads.register::<B>(id, g);
        }
        if let Some(id) = parent(0) {
            let input_grad = B::enco_conv2d_x_backward(input, weight, grad, options);
            grads.register::<B>(id, prelude.adjoint::<B>(x, input_grad));
        }
    }
}

/// Records [`Conv2dAfterPrelude`] over the `N` parents (`x`, `weight` and, when `N` is 3, the
/// bias), or computes the output alone when none of them is tracked.
fn prelude_conv<B, C, const N: usize>(
    parents: [&FloatTensor<Autodiff<B, C>>; N],
    prelude: ConvPrelude,
    options: ConvOptions<2>,
) -> FloatTensor<Autodiff<B, C>>
where
    B: EncoBackend,
    C: CheckpointStrategy,
{
    let forward = |parents: [&FloatTensor<Autodiff<B, C>>; N]| {
        let input = prelude.apply::<B>(parents[0].primitive.clone());
        let bias = parents.get(2).map(|b| b.primitive.clone());
        B::enco_conv2d(input, parents[1].primitive.clone(), bias, options.clone())
    };
    match Conv2dAfterPrelude
        .prepare::<C>(parents.map(|p| p.node.clone()))
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(mut prep) => {
            let x_state = prep.checkpoint(parents[0]);
            let weight_state = prep.checkpoint(parents[1]);
            let bias_state = parents.get(2).map(|b| prep.checkpoint(b));
            let output = forward(parents);
            prep.finish(
                (x_state, weight_state, bias_state, options.clone(), prelude),
                output,
            )
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(parents)),
    }
}

/// A one-input node whose backward pass is `adjoint(output gradient, state)`.
struct UnaryNode<B: Backend, S> {
    adjoint: fn(FloatTensor<B>, S) -> FloatTensor<B>,
}

impl<B: Backend, S> core::fmt::Debug for UnaryNode<B, S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("UnaryNode")
    }
}

impl<B, S> Backward<B, 1> for UnaryNode<B, S>
where
    B: Backend,
    S: Clone + Send + core::fmt::Debug + 'static,
{
    type State = S;

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        if let Some(node) = node_x {
            grads.register::<B>(node.id, (self.adjoint)(grad, ops.state));
        }
    }
}

/// Records `output`, computed from `x`, as a [`UnaryNode`] whose backward pass is
/// `adjoint(grad, state)` (the state is kept only when `x` is tracked).
fn unary<B, C, S>(
    x: &FloatTensor<Autodiff<B, C>>,
    output: FloatTensor<B>,
    state: S,
    adjoint: fn(FloatTensor<B>, S) -> FloatTensor<B>,
) -> FloatTensor<Autodiff<B, C>>
where
    B: Backend,
    C: CheckpointStrategy,
    S: Clone + Send + core::fmt::Debug + 'static,
{
    let node = UnaryNode { adjoint };
    match node
        .prepare::<C>([x.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(state, output),
        OpsKind::UnTracked(prep) => prep.finish(output),
    }
}

impl<B: EncoBackend, C: CheckpointStrategy> EncoBackend for Autodiff<B, C> {
    fn instance_norm(x: FloatTensor<Self>, epsilon: f64) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (output, inv_std) = B::instance_norm(x.primitive.clone(), epsilon);
        let output = unary::<B, C, _>(
            &x,
            output.clone(),
            (output, inv_std.clone()),
            |grad, (output, inv_std)| B::instance_norm_backward(output, inv_std, grad),
        );
        (output, <Self as AutodiffBackend>::from_inner(inv_std))
    }

    fn instance_norm_relu(
        x: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (output, normalised, inv_std) = B::instance_norm_relu(x.primitive.clone(), epsilon);
        let output = unary::<B, C, _>(
            &x,
            output,
            (normalised.clone(), inv_std.clone()),
            |grad, (normalised, inv_std)| B::instance_norm_relu_backward(normalised, inv_std, grad),
        );
        (
            output,
            <Self as AutodiffBackend>::from_inner(normalised),
            <Self as AutodiffBackend>::from_inner(inv_std),
        )
    }

    fn reflect_pad(x: FloatTensor<Self>, padding: usize) -> FloatTensor<Self> {
        let output = B::reflect_pad(x.primitive.clone(), padding);
        unary::<B, C, _>(&x, output, padding, |grad, padding| {
            B::reflect_pad_backward(grad, padding)
        })
    }

    fn enco_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::enco_conv2d_after(x, ConvPrelude::default(), weight, bias, options)
    }

    fn enco_conv2d_after(
        x: FloatTensor<Self>,
        prelude: ConvPrelude,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        match &bias {
            Some(bias) => prelude_conv::<B, C, 3>([&x, &weight, bias], prelude, options),
            None => prelude_conv::<B, C, 2>([&x, &weight], prelude, options),
        }
    }

    fn blur_downsample(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let shape = x.primitive.shape();
        let output = B::blur_downsample(x.primitive.clone());
        unary::<B, C, _>(&x, output, shape, |grad, shape| {
            B::blur_downsample_backward(grad, shape)
        })
    }

    fn upsample2x(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let output = B::upsample2x(x.primitive.clone());
        unary::<B, C, _>(&x, output, (), |grad, ()| B::upsample2x_backward(grad))
    }

    fn gather_patches(features: FloatTensor<Self>, rows: &[usize]) -> FloatTensor<Self> {
        let shape = features.primitive.shape();
        let output = B::gather_patches(features.primitive.clone(), rows);
        unary::<B, C, _>(
            &features,
            output,
            (shape, rows.to_vec()),
            |grad, (shape, rows)| B::gather_patches_backward(grad, shape, &rows),
        )
    }

    fn enco_leaky_relu(x: FloatTensor<Self>, negative_slope: f64) -> FloatTensor<Self> {
        let output = B::enco_leaky_relu(x.primitive.clone(), negative_slope);
        unary::<B, C, _>(
            &x,
            output.clone(),
            (output, negative_slope),
            |grad, (output, negative_slope)| B::leaky_relu_backward(output, grad, negative_slope),
        )
    }

    fn adam_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moments: Option<(FloatTensor<Self>, FloatTensor<Self>)>,
        step: &AdamStep,
    ) -> (FloatTensor<Self>, (FloatTensor<Self>, FloatTensor<Self>)) {
        let (param, (m, v)) = B::adam_step(
            param.primitive,
            grad.primitive,
            moments.map(|(m, v)| (m.primitive, v.primitive)),
            step,
        );
        let untracked = <Self as AutodiffBackend>::from_inner;
        (untracked(param), (untracked(m), untracked(v)))
    }
}
