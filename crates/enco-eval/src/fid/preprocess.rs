//! pytorch-fid's input transform (`resize_input`, `normalize_input`) on the host, bit-exact
//! with PyTorch's CPU kernel.

/// Source indices and weights of one output axis.
struct Axis {
    i0: Vec<usize>,
    i1: Vec<usize>,
    l0: Vec<f32>,
    l1: Vec<f32>,
}

/// PyTorch's `compute_source_index_and_lambda` with `align_corners=False` in f32: an axis
/// that keeps its size is copied; otherwise `scale = I / O`,
/// `src = max(fma(scale, d + 0.5, −0.5), 0)`, `i0 = min(⌊src⌋, I − 1)`,
/// `i1 = i0 + 1` (`i0` on the last row), `λ1 = clamp(src − i0, 0, 1)`, `λ0 = 1 − λ1`.
fn axis(input: usize, output: usize) -> Axis {
    let mut a = Axis {
        i0: Vec::with_capacity(output),
        i1: Vec::with_capacity(output),
        l0: Vec::with_capacity(output),
        l1: Vec::with_capacity(output),
    };
    let scale = input as f32 / output as f32;
    for d in 0..output {
        let (i0, i1, l1) = if input == output {
            (d, d, 0.0f32)
        } else {
            let real = scale.mul_add(d as f32 + 0.5, -0.5).max(0.0);
            let i0 = (real.floor() as usize).min(input - 1);
            let l1 = (real - i0 as f32).clamp(0.0, 1.0);
            (i0, if i0 < input - 1 { i0 + 1 } else { i0 }, l1)
        };
        a.i0.push(i0);
        a.i1.push(i1);
        a.l0.push(1.0 - l1);
        a.l1.push(l1);
    }
    a
}

/// `F.interpolate(x, size, mode='bilinear', align_corners=False)` (no antialiasing) of
/// `values` (`[N, C, H, W]` row-major), computed as PyTorch's CPU kernel does for 3-channel
/// images with one thread (`cpu_upsample_linear_channels_last`): weights `w_ab = λh_a·λw_b`
/// and `out = fma(x11, w11, fma(x10, w10, fma(x00, w00, x01·w01)))` in f32. This reproduces
/// the fixture's `net_input_299` tensors bit for bit; PyTorch's other CPU paths (several
/// threads) and CUDA kernel differ from it by a few ulps.
pub(crate) fn resize_bilinear(values: &[f32], shape: [usize; 4], size: [usize; 2]) -> Vec<f32> {
    let [n, c, h, w] = shape;
    let [oh, ow] = size;
    let ax_h = axis(h, oh);
    let ax_w = axis(w, ow);
    let mut out = vec![0.0f32; n * c * oh * ow];
    for (plane, dst) in values
        .chunks_exact(h * w)
        .zip(out.chunks_exact_mut(oh * ow))
    {
        for y in 0..oh {
            let (r0, r1) = (ax_h.i0[y] * w, ax_h.i1[y] * w);
            let (h0, h1) = (ax_h.l0[y], ax_h.l1[y]);
            let row = &mut dst[y * ow..(y + 1) * ow];
            for (x, o) in row.iter_mut().enumerate() {
                let (c0, c1) = (ax_w.i0[x], ax_w.i1[x]);
                let (w0, w1) = (ax_w.l0[x], ax_w.l1[x]);
                let (w00, w01, w10, w11) = (h0 * w0, h0 * w1, h1 * w0, h1 * w1);
                let (x00, x01) = (plane[r0 + c0], plane[r0 + c1]);
                let (x10, x11) = (plane[r1 + c0], plane[r1 + c1]);
                *o = x11.mul_add(w11, x10.mul_add(w10, x00.mul_add(w00, x01 * w01)));
            }
        }
    }
    out
}

/// `x = 2 * x - 1` (two f32 roundings, as PyTorch).
pub(crate) fn normalize(values: &mut [f32]) {
    values.iter_mut().for_each(|v| *v = 2.0 * *v - 1.0);
}
