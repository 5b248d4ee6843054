//! Bilinear resizing with half-pixel centres (docs/reference.md §1.5).

use burn::prelude::*;
use burn::tensor::TensorData;

/// `F.interpolate(x, size, mode='bilinear')` with `align_corners=False` (PyTorch's default), as
/// used to bring the discriminator's score map to each feature map (docs/reference.md §1.5, §5.2).
///
/// For output index d along an axis of input size I and output size O:
/// `src = max((d + 0.5)·I/O − 0.5, 0)`, `i0 = floor(src)`, `i1 = min(i0 + 1, I − 1)`,
/// `w = src − i0`, `out = (1 − w)·x[i0] + w·x[i1]`; separable (W, then H). Written with
/// gathers and weights so it is differentiable on every backend and does not depend on a
/// backend's `align_corners` handling.
///
/// # Shapes
/// - input `[B, C, H, W]`, output `[B, C, size[0], size[1]]`
///
/// # Panics
/// If H or W is 0 while the output size along that axis is not (there is nothing to
/// interpolate from); the discriminator's score map and the feature maps never are empty.
pub fn resize_bilinear<B: Backend>(x: Tensor<B, 4>, size: [usize; 2]) -> Tensor<B, 4> {
    let x = resize_axis(x, 3, size[1]);
    resize_axis(x, 2, size[0])
}

fn resize_axis<B: Backend>(x: Tensor<B, 4>, axis: usize, out: usize) -> Tensor<B, 4> {
    let input = x.dims()[axis];
    if input == out {
        return x;
    }
    let device = x.device();
    let scale = input as f32 / out as f32;
    let mut i0 = Vec::with_capacity(out);
    let mut i1 = Vec::with_capacity(out);
    let mut w1 = Vec::with_capacity(out);
    for d in 0..out {
        let src = ((d as f32 + 0.5) * scale - 0.5).max(0.0);
        let lo = (src.floor() as usize).min(input - 1);
        i0.push(lo as i64);
        i1.push((lo + 1).min(input - 1) as i64);
        w1.push(src - lo as f32);
    }
    let w0: Vec<f32> = w1.iter().map(|w| 1.0 - w).collect();
    let mut shape = [1usize; 4];
    shape[axis] = out;
    let weights = |w: Vec<f32>| Tensor::<B, 4>::from_data(TensorData::new(w, shape), &device);
    let index = |i: Vec<i64>| Tensor::<B, 1, Int>::from_data(TensorData::new(i, [out]), &device);
    let a = x.clone().select(axis, index(i0));
    let b = x.select(axis, index(i1));
    a * weights(w0) + b * weights(w1)
}

#[cfg(test)]
mod tests {
    use burn::backend::Flex;

    use super::*;

    #[test]
    fn doubling_matches_pytorch_half_pixel_bilinear() {
        // F.interpolate(torch.tensor([[[[0., 1.], [2., 3.]]]]), size=(4, 4), mode='bilinear')
        let x = Tensor::<Flex, 4>::from_data([[[[0.0f32, 1.0], [2.0, 3.0]]]], &Default::default());
        let y = resize_bilinear(x.clone(), [4, 4]);
        let first_row: Vec<f32> = y.clone().narrow(2, 0, 1).into_data().to_vec().unwrap();
        let first_col: Vec<f32> = y.narrow(3, 0, 1).into_data().to_vec().unwrap();
        assert_eq!(first_row, [0.0, 0.25, 0.75, 1.0]);
        assert_eq!(first_col, [0.0, 0.5, 1.5, 2.0]);
        let same = resize_bilinear(x.clone(), [2, 2]);
        assert_eq!(same.into_data(), x.into_data());
    }
}
