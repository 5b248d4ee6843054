//! Direct 2-D convolution for layers with few output channels (the generator's last 7×7
//! convolution to RGB, the discriminator's score map), where im2col would write
//! `C_in·kH·kW` copies of the input to feed a GEMM only `C_out` rows tall.
//!
//! Forward: every output row accumulates `C_in·kH·kW` shifted input rows (AXPYs). Weight
//! gradient: every tap is a dot product of the output gradient with a shifted input window.

use rayon::prelude::*;

use super::conv::Geometry;

/// Output channels up to which the direct kernels are used.
const MAX_OUT_CHANNELS: usize = 4;

/// Whether the geometry suits the direct kernels: few output channels, stride 1, no dilation.
pub(crate) fn applies(g: &Geometry) -> bool {
    g.output[1] <= MAX_OUT_CHANNELS && g.stride == [1, 1] && g.dilation == [1, 1]
}

/// The range of output columns whose tap `kw` lands inside the input, and the input offset.
fn valid_columns(kw: usize, pad: usize, w: usize, w_out: usize) -> (usize, usize, isize) {
    let off = kw as isize - pad as isize;
    let lo = if off < 0 { off.unsigned_abs() } else { 0 };
    let hi = ((w as isize - off).max(0) as usize).min(w_out);
    (lo.min(hi), hi, off)
}

/// Defines `$name`, which runs the `#[inline(always)]` generic `$generic::<FMA>` compiled for
/// AVX-512 or AVX2 + FMA when the processor has them (checked at run time), and for the
/// baseline target otherwise. The kernels contain no closures, so the whole body is compiled
/// with the enabled features.
macro_rules! multiversion {
    ($name:ident = $generic:ident($($arg:ident: $ty:ty),*)) => {
        fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                unsafe fn avx512($($arg: $ty),*) {
                    $generic::<true>($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) {
                    $generic::<true>($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the processor has the enabled features.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the processor has the enabled features.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $generic::<false>($($arg),*)
        }
    };
}

/// `out += tap · from`.
#[inline(always)]
fn axpy<const FMA: bool>(out: &mut [f32], from: &[f32], tap: f32) {
    for (o, &v) in out.iter_mut().zip(from) {
        *o = if FMA {
            tap.mul_add(v, *o)
        } else {
            *o + tap * v
        };
    }
}

/// `lanes += a·b` lane-wise over 16-element chunks (vectorisable); returns the product sum of
/// the tail that does not fill a chunk.
#[inline(always)]
fn dot_lanes<const FMA: bool>(lanes: &mut [f32; 16], a: &[f32], b: &[f32]) -> f32 {
    let (a_chunks, b_chunks) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (ca, cb) in a_chunks.zip(b_chunks) {
        for k in 0..16 {
            lanes[k] = if FMA {
                ca[k].mul_add(cb[k], lanes[k])
            } else {
                lanes[k] + ca[k] * cb[k]
            };
        }
    }
    tail
}

/// One output row `out` (image `b`, channel `co`, row `oy`): the bias, plus every input
/// channel's shifted rows times their taps.
#[inline(always)]
fn output_row<const FMA: bool>(
    out: &mut [f32],
    x: &[f32],
    weight: &[f32],
    g: &Geometry,
    [b, co, oy]: [usize; 3],
) {
    let [_, c_in, h, w] = g.input;
    let w_out = g.output[3];
    let [kh, kw] = g.kernel;
    let [ph, pw] = g.padding;
    for ci in 0..c_in {
        let plane = &x[(b * c_in + ci) * h * w..(b * c_in + ci + 1) * h * w];
        let taps = &weight[(co * c_in + ci) * kh * kw..(co * c_in + ci + 1) * kh * kw];
        for i in 0..kh {
            let iy = (oy + i) as isize - ph as isize;
            if iy < 0 || iy >= h as isize {
                continue;
            }
            let src = &plane[iy as usize * w..(iy as usize + 1) * w];
            for j in 0..kw {
                let (lo, hi, off) = valid_columns(j, pw, w, w_out);
                let from = &src[(lo as isize + off) as usize..(hi as isize + off) as usize];
                axpy::<FMA>(&mut out[lo..hi], from, taps[i * kw + j]);
            }
        }
    }
}

multiversion!(output_row_dispatch = output_row(
    out: &mut [f32],
    x: &[f32],
    weight: &[f32],
    g: &Geometry,
    position: [usize; 3]
));

/// The taps `[kH·kW]` of one (output, input) channel pair of the weight gradient: for every
/// output-gradient row, the dot products with the shifted input rows of all taps (the rows stay
/// in L1), in 16 lanes per tap added up in f64 at the end.
#[inline(always)]
fn weight_taps<const FMA: bool>(
    taps: &mut [f32],
    x: &[f32],
    grad: &[f32],
    g: &Geometry,
    [co, ci]: [usize; 2],
) {
    let [batch, c_in, h, w] = g.input;
    let [_, c_out, h_out, w_out] = g.output;
    let [kh, kw] = g.kernel;
    let [ph, pw] = g.padding;
    let mut lanes = vec![[0f32; 16]; kh * kw];
    let mut tails = vec![0f64; kh * kw];
    for b in 0..batch {
        let plane = &x[(b * c_in + ci) * h * w..(b * c_in + ci + 1) * h * w];
        let gplane = &grad[(b * c_out + co) * h_out * w_out..][..h_out * w_out];
        for oy in 0..h_out {
            let grow = &gplane[oy * w_out..(oy + 1) * w_out];
            for i in 0..kh {
                let iy = (oy + i) as isize - ph as isize;
                if iy < 0 || iy >= h as isize {
                    continue;
                }
                let src = &plane[iy as usize * w..(iy as usize + 1) * w];
                for j in 0..kw {
                    let (lo, hi, off) = valid_columns(j, pw, w, w_out);
                    let from = &src[(lo as isize + off) as usize..(hi as isize + off) as usize];
                    let t = i * kw + j;
                    tails[t] += f64::from(dot_lanes::<FMA>(&mut lanes[t], &grow[lo..hi], from));
                }
            }
        }
    }
    for ((tap, lane), tail) in taps.iter_mut().zip(&lanes).zip(&tails) {
        let sum: f64 = lane.iter().map(|&l| f64::from(l)).sum();
        *tap = (sum + tail) as f32;
    }
}

multiversion!(weight_taps_dispatch = weight_taps(
    taps: &mut [f32],
    x: &[f32],
    grad: &[f32],
    g: &Geometry,
    pair: [usize; 2]
));

/// `y [N, C_out, H', W']` of `y = conv(x, W) + bias`, one output row per task.
pub(crate) fn forward(x: &[f32], weight: &[f32], bias: Option<&[f32]>, g: &Geometry) -> Vec<f32> {
    let [batch, c_out, h_out, w_out] = g.output;
    let mut y = vec![0f32; batch * c_out * h_out * w_out];
    y.par_chunks_mut(w_out).enumerate().for_each(|(r, out)| {
        let oy = r % h_out;
        let co = (r / h_out) % c_out;
        let b = r / (h_out * c_out);
        out.fill(bias.map_or(0.0, |bias| bias[co]));
        output_row_dispatch(out, x, weight, g, [b, co, oy]);
    });
    y
}

/// `dW [C_out, C_in, kH, kW]` given `dY`, one (output, input) channel pair per task.
pub(crate) fn weight_grad(x: &[f32], grad: &[f32], g: &Geometry) -> Vec<f32> {
    let c_in = g.input[1];
    let [kh, kw] = g.kernel;
    let mut dw = vec![0f32; g.output[1] * c_in * kh * kw];
    dw.par_chunks_mut(kh * kw)
        .enumerate()
        .for_each(|(pair, taps)| {
            weight_taps_dispatch(taps, x, grad, g, [pair / c_in, pair % c_in])
        });
    dw
}
