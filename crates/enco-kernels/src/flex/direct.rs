//! Direct 2-D convolution for layers with few output channels (the generator's last 7×7
//! convolution to RGB, the discriminator's score map), where im2col would write
//! `C_in·kH·kW` copies of the input to feed a GEMM only `C_out` rows tall.
//!
//! Forward: every output row accumulates `C_in·kH·kW` shifted input rows (AXPYs). Weight
//! gradient: every tap is a dot product of the output gradient with a shifted input window.

use rayon::prelude::*;

use super::conv::Geometry;
use super::simd::{Kernel, dispatch};

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
struct OutputRow<'a> {
    out: &'a mut [f32],
    x: &'a [f32],
    weight: &'a [f32],
    g: &'a Geometry,
    position: [usize; 3],
}

impl Kernel for OutputRow<'_> {
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let [b, co, oy] = self.position;
        let (out, x, weight, g) = (self.out, self.x, self.weight, self.g);
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
}

/// The taps `[kH·kW]` of one (output, input) channel pair of the weight gradient: for every
/// output-gradient row, the dot products with the shifted input rows of all taps (the rows stay
/// in L1), in 16 lanes per tap added up in f64 at the end.
struct WeightTaps<'a> {
    taps: &'a mut [f32],
    x: &'a [f32],
    grad: &'a [f32],
    g: &'a Geometry,
    pair: [usize; 2],
}

impl Kernel for WeightTaps<'_> {
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let [co, ci] = self.pair;
        let (x, grad, g) = (self.x, self.grad, self.g);
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
        for ((tap, lane), tail) in self.taps.iter_mut().zip(&lanes).zip(&tails) {
            let sum: f64 = lane.iter().map(|&l| f64::from(l)).sum();
            *tap = (sum + tail) as f32;
        }
    }
}

/// `y [N, C_out, H', W']` of `y = conv(x, W) + bias`, one output row per task.
pub(crate) fn forward(x: &[f32], weight: &[f32], bias: Option<&[f32]>, g: &Geometry) -> Vec<f32> {
    let [batch, c_out, h_out, w_out] = g.output;
    let mut y = vec![0f32; batch * c_out * h_out * w_out];
    y.par_chunks_mut(w_out).enumerate().for_each(|(r, out)| {
        let oy = r % h_out;
        let co = (r / h_out) % c_out;
        let b = r / (h_out * c_out);
        out.fill(bias.map_or(0.0, |bias| bias[co]));
        dispatch(OutputRow {
            out,
            x,
            weight,
            g,
            position: [b, co, oy],
        });
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
            dispatch(WeightTaps {
                taps,
                x,
                grad,
                g,
                pair: [pair / c_in, pair % c_in],
            })
        });
    dw
}
