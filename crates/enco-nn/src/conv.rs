//! `nn.Conv2d` forward through the backend's EnCo convolution.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::ops::ConvOptions;
use enco_kernels::{EncoBackend, ops};

/// Applies `conv` (its weight, bias, stride, dilation, groups and symmetric padding) through
/// [`EncoBackend::enco_conv2d`], whose gradients use the backend's specialised kernels; any other
/// padding configuration goes through Burn's `Conv2d::forward`.
pub(crate) fn conv2d_forward<B: EncoBackend>(conv: &Conv2d<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    let padding = match conv.padding {
        PaddingConfig2d::Valid => [0, 0],
        PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => {
            [top, left]
        }
        _ => return conv.forward(x),
    };
    ops::conv2d(
        x,
        conv.weight.val(),
        conv.bias.as_ref().map(|b| b.val()),
        ConvOptions::new(conv.stride, padding, conv.dilation, conv.groups),
    )
}
