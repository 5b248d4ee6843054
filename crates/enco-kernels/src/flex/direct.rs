//! Direct 2-D convolution for layers with few output channels (the generator's last 7×7
//! convolution to RGB, the discriminator's score map), where im2col would write
//! `C_in·kH·kW` copies of the input to feed a GEMM only `C_out` rows tall.
//!
//! Forward: every output row accumulates `C_in·kH·kW` shifted input rows (AXPYs). Weight
//! gradient: every tap is a dot product of the output gradient with a shifted input window.

use rayon::prelude::*;

use super::conv::{BalancedTasks, Geometry, SharedMut};
use super::simd::{Kernel, dispatch};

/// Output channels up to which the direct kernels are used.
const MAX_OUT_CHANNELS: usize = 4;

/// `$body` with the constant `$co` equal to `$c_out`, 1 to [`MAX_OUT_CHANNELS`]: the kernels
/// keep one register block per output channel.
macro_rules! with_out_channels {
    ($c_out:expr, $co:ident => $body:expr) => {
        match $c_out {
            1 => {
                const $co: usize = 1;
                $body
            }
            2 => {
                const $co: usize = 2;
                $body
            }
            3 => {
                const $co: usize = 3;
                $body
            }
            4 => {
                const $co: usize = 4;
                $body
            }
            _ => unreachable!("direct kernels take at most {MAX_OUT_CHANNELS} output channels"),
        }
    };
}

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

/// The taps `[kH·kW]` of input channel `in_channel` for each of the `CO` output channels of the
/// weight gradient, written through `dw`: for every output-gradient row, the dot products with
/// the shifted input rows of all taps (the rows stay in L1), in 16 lanes per tap added up in f64
/// at the end. Without horizontal padding a kernel row's taps and the `CO` channels accumulate
/// side by side, so that each input vector loaded feeds `CO` multiply-adds; every lane sees the
/// same additions in the same order either way.
struct WeightTaps<'a, const CO: usize> {
    dw: SharedMut,
    x: &'a [f32],
    grad: &'a [f32],
    g: &'a Geometry,
    in_channel: usize,
}

impl<const CO: usize> Kernel for WeightTaps<'_, CO> {
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let ci = self.in_channel;
        let (x, grad, g) = (self.x, self.grad, self.g);
        let [batch, c_in, h, w] = g.input;
        let [_, _, h_out, w_out] = g.output;
        let [kh, kw] = g.kernel;
        let [ph, pw] = g.padding;
        let taps = kh * kw;
        let mut lanes: [Vec<[f32; 16]>; CO] = std::array::from_fn(|_| vec![[0f32; 16]; taps]);
        let mut tails: [Vec<f64>; CO] = std::array::from_fn(|_| vec![0f64; taps]);
        let rest = w_out - w_out % 16;
        for b in 0..batch {
            let plane = &x[(b * c_in + ci) * h * w..(b * c_in + ci + 1) * h * w];
            for oy in 0..h_out {
                let grows: [&[f32]; CO] = std::array::from_fn(|co| {
                    &grad[((b * CO + co) * h_out + oy) * w_out..][..w_out]
                });
                for i in 0..kh {
                    let iy = (oy + i) as isize - ph as isize;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    let src = &plane[iy as usize * w..(iy as usize + 1) * w];
                    let row = i * kw..(i + 1) * kw;
                    if pw == 0 {
                        // Every tap of the row covers all output columns.
                        let mut row_lanes = lanes.each_mut().map(|l| &mut l[row.clone()]);
                        let done = match kw {
                            3 => taps_side_by_side::<FMA, CO, 3>(&mut row_lanes, &grows, src),
                            4 => taps_side_by_side::<FMA, CO, 4>(&mut row_lanes, &grows, src),
                            7 => taps_side_by_side::<FMA, CO, 7>(&mut row_lanes, &grows, src),
                            _ => false,
                        };
                        if done {
                            for (co, grow) in grows.iter().enumerate() {
                                for (j, tail) in tails[co][row.clone()].iter_mut().enumerate() {
                                    let sum: f32 = grow[rest..]
                                        .iter()
                                        .zip(&src[j + rest..j + w_out])
                                        .map(|(x, y)| x * y)
                                        .sum();
                                    *tail += f64::from(sum);
                                }
                            }
                            continue;
                        }
                    }
                    for (co, grow) in grows.iter().enumerate() {
                        for j in 0..kw {
                            let (lo, hi, off) = valid_columns(j, pw, w, w_out);
                            let from =
                                &src[(lo as isize + off) as usize..(hi as isize + off) as usize];
                            let t = i * kw + j;
                            let tail = dot_lanes::<FMA>(&mut lanes[co][t], &grow[lo..hi], from);
                            tails[co][t] += f64::from(tail);
                        }
                    }
                }
            }
        }
        for (co, (lanes, tails)) in lanes.iter().zip(&tails).enumerate() {
            for (t, (lane, tail)) in lanes.iter().zip(tails).enumerate() {
                let sum: f64 = lane.iter().map(|&l| f64::from(l)).sum();
                // SAFETY: tap t of (output channel co, input channel ci) in dW, which only
                // this task writes.
                unsafe {
                    self.dw
                        .0
                        .add((co * c_in + ci) * taps + t)
                        .write((sum + tail) as f32)
                };
            }
        }
    }
}

/// The output columns every tap of a row lands inside the input for: `[lo, hi)`.
fn interior_columns(g: &Geometry) -> (usize, usize) {
    let w = g.input[3];
    let w_out = g.output[3];
    let (kw, pw) = (g.kernel[1], g.padding[1]);
    let lo = pw.min(w_out);
    let hi = (w + pw + 1).saturating_sub(kw).clamp(lo, w_out);
    (lo, hi)
}

/// Output columns per register block of [`OutputRows`]: four vectors of 16.
const BLOCK: usize = 64;

/// Row `oy` of image `b` in all `CO` output planes, written through `y`: the bias plus every
/// input channel's shifted rows times their taps, in the same order as a per-sample loop over
/// (input channel, kernel row, kernel column), so the result does not depend on the blocking.
/// The columns where every tap lands inside the input go in register blocks of 64 (then 16)
/// outputs × `CO` channels, each input vector loaded feeding `CO` multiply-adds; the columns
/// near the edges in blocks of at most 16 whose taps outside the input read zero.
struct OutputRows<'a, const CO: usize> {
    y: SharedMut,
    x: &'a [f32],
    weight: &'a [f32],
    bias: Option<&'a [f32]>,
    g: &'a Geometry,
    position: [usize; 2],
}

impl<const CO: usize> OutputRows<'_, CO> {
    /// Columns `x0..x0 + n` of the `CO` channels in `V` vectors of 16 per channel: with `EDGE`
    /// false, `n` is `16·V` and every tap lands inside the input; with `EDGE` (and `V` 1),
    /// `n` ≤ 16 and the taps outside the input read zero.
    #[inline(always)]
    fn block<const FMA: bool, const V: usize, const EDGE: bool>(
        &self,
        x0: usize,
        n: usize,
        out: &mut [&mut [f32]; CO],
    ) {
        let [b, oy] = self.position;
        let [_, c_in, h, w] = self.g.input;
        let [kh, kw] = self.g.kernel;
        let [ph, pw] = self.g.padding;
        let mut acc = [[[0f32; 16]; V]; CO];
        for (co, lanes) in acc.iter_mut().enumerate() {
            let bias = self.bias.map_or(0.0, |bias| bias[co]);
            *lanes = [[bias; 16]; V];
        }
        for ci in 0..c_in {
            let plane = &self.x[(b * c_in + ci) * h * w..][..h * w];
            for i in 0..kh {
                let iy = (oy + i) as isize - ph as isize;
                if iy < 0 || iy >= h as isize {
                    continue;
                }
                let src = &plane[iy as usize * w..][..w];
                for j in 0..kw {
                    let mut input = [[0f32; 16]; V];
                    for (v, lanes) in input.iter_mut().enumerate() {
                        if EDGE {
                            *lanes = std::array::from_fn(|l| {
                                let ix = (x0 + l + j) as isize - pw as isize;
                                if l < n && ix >= 0 && ix < w as isize {
                                    src[ix as usize]
                                } else {
                                    0.0
                                }
                            });
                        } else {
                            lanes.copy_from_slice(&src[x0 + j - pw + 16 * v..][..16]);
                        }
                    }
                    for (co, lanes) in acc.iter_mut().enumerate() {
                        let tap = self.weight[((co * c_in + ci) * kh + i) * kw + j];
                        for (sum, from) in lanes.iter_mut().zip(&input) {
                            for (s, &v) in sum.iter_mut().zip(from) {
                                *s = if FMA {
                                    tap.mul_add(v, *s)
                                } else {
                                    *s + tap * v
                                };
                            }
                        }
                    }
                }
            }
        }
        for (row, lanes) in out.iter_mut().zip(&acc) {
            for (v, sum) in lanes.iter().enumerate() {
                let len = (n - 16 * v).min(16);
                row[x0 + 16 * v..][..len].copy_from_slice(&sum[..len]);
            }
        }
    }
}

impl<const CO: usize> Kernel for OutputRows<'_, CO> {
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let [b, oy] = self.position;
        let [_, _, h_out, w_out] = self.g.output;
        // SAFETY: row `oy` of image `b` in each of the CO planes, which only this task writes.
        let mut out: [&mut [f32]; CO] = std::array::from_fn(|co| unsafe {
            let start = ((b * CO + co) * h_out + oy) * w_out;
            std::slice::from_raw_parts_mut(self.y.get().add(start), w_out)
        });
        let (lo, hi) = interior_columns(self.g);
        let mut ox = 0;
        while ox < w_out {
            if ox >= lo && ox + BLOCK <= hi {
                self.block::<FMA, 4, false>(ox, BLOCK, &mut out);
                ox += BLOCK;
            } else if ox >= lo && ox + 16 <= hi {
                self.block::<FMA, 1, false>(ox, 16, &mut out);
                ox += 16;
            } else {
                // Up to the interior, or 16 columns past its end.
                let n = if ox < lo { lo - ox } else { w_out - ox }.min(16);
                self.block::<FMA, 1, true>(ox, n, &mut out);
                ox += n;
            }
        }
    }
}

/// `sum += a ⊙ b`, lane by lane.
#[inline(always)]
fn multiply_add<const FMA: bool>(sum: &mut [f32; 16], a: &[f32; 16], b: &[f32; 16]) {
    for l in 0..16 {
        sum[l] = if FMA {
            a[l].mul_add(b[l], sum[l])
        } else {
            sum[l] + a[l] * b[l]
        };
    }
}

/// `lanes[co][j] += grows[co] ⊙ src[j..]` over the 16-element chunks of the output-gradient
/// rows, for the `KW` taps `j` of one kernel row and the `CO` output channels (the same
/// additions, in the same order, as [`dot_lanes`] tap by tap); false, doing nothing, when the
/// row does not have `KW` taps.
#[inline(always)]
fn taps_side_by_side<const FMA: bool, const CO: usize, const KW: usize>(
    lanes: &mut [&mut [[f32; 16]]; CO],
    grows: &[&[f32]; CO],
    src: &[f32],
) -> bool {
    if lanes.iter().any(|l| l.len() != KW) {
        return false;
    }
    let mut acc = [[[0f32; 16]; KW]; CO];
    for (a, l) in acc.iter_mut().zip(lanes.iter()) {
        a.copy_from_slice(l);
    }
    let chunks = grows[0].len() / 16;
    for k in 0..chunks {
        let g: [[f32; 16]; CO] =
            std::array::from_fn(|co| grows[co][16 * k..][..16].try_into().unwrap());
        for j in 0..KW {
            let from: &[f32; 16] = src[16 * k + j..][..16].try_into().unwrap();
            for (sums, g) in acc.iter_mut().zip(&g) {
                multiply_add::<FMA>(&mut sums[j], g, from);
            }
        }
    }
    for (a, l) in acc.iter().zip(lanes.iter_mut()) {
        l.copy_from_slice(a);
    }
    true
}

/// `y [N, C_out, H', W']` of `y = conv(x, W) + bias`, one (image, output row) per task with
/// all `C_out` ≤ [`MAX_OUT_CHANNELS`] channels.
pub(crate) fn forward(x: &[f32], weight: &[f32], bias: Option<&[f32]>, g: &Geometry) -> Vec<f32> {
    let [batch, c_out, h_out, w_out] = g.output;
    let mut y = vec![0f32; batch * c_out * h_out * w_out];
    let rows = SharedMut(y.as_mut_ptr());
    (0..batch * h_out).into_par_iter().balanced().for_each(|r| {
        let position = [r / h_out, r % h_out];
        with_out_channels!(c_out, CO => dispatch(OutputRows::<CO> {
            y: rows,
            x,
            weight,
            bias,
            g,
            position,
        }));
    });
    y
}

/// `dW [C_out, C_in, kH, kW]` given `dY`, one input channel (all `C_out` ≤
/// [`MAX_OUT_CHANNELS`] output channels) per task.
pub(crate) fn weight_grad(x: &[f32], grad: &[f32], g: &Geometry) -> Vec<f32> {
    let c_in = g.input[1];
    let c_out = g.output[1];
    let [kh, kw] = g.kernel;
    let mut dw = vec![0f32; c_out * c_in * kh * kw];
    let taps = SharedMut(dw.as_mut_ptr());
    (0..c_in).into_par_iter().balanced().for_each(|in_channel| {
        let (dw, x, grad) = (taps, x, grad);
        with_out_channels!(c_out, CO => dispatch(WeightTaps::<CO> {
            dw,
            x,
            grad,
            g,
            in_channel,
        }));
    });
    dw
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `y` sample by sample: the bias, then every (input channel, kernel row, kernel column)
    /// inside the input in that order, without fused multiply-adds.
    fn per_sample(x: &[f32], weight: &[f32], bias: &[f32], g: &Geometry) -> Vec<f32> {
        let [batch, c_in, h, w] = g.input;
        let [_, c_out, h_out, w_out] = g.output;
        let [kh, kw] = g.kernel;
        let [ph, pw] = g.padding;
        let mut y = Vec::with_capacity(batch * c_out * h_out * w_out);
        for b in 0..batch {
            for co in 0..c_out {
                for oy in 0..h_out {
                    for ox in 0..w_out {
                        let mut sum = bias[co];
                        for ci in 0..c_in {
                            for i in 0..kh {
                                for j in 0..kw {
                                    let iy = (oy + i) as isize - ph as isize;
                                    let ix = (ox + j) as isize - pw as isize;
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                        continue;
                                    }
                                    let v =
                                        x[((b * c_in + ci) * h + iy as usize) * w + ix as usize];
                                    sum += weight[((co * c_in + ci) * kh + i) * kw + j] * v;
                                }
                            }
                        }
                        y.push(sum);
                    }
                }
            }
        }
        y
    }

    #[test]
    fn row_blocks_add_in_the_order_of_a_per_sample_loop() {
        // (input, output channels, kernel, padding): interior blocks of 64 and 16 columns with
        // edges on one or both sides, and rows narrower than a block.
        for (input, c_out, k, p) in [
            ([2, 3, 9, 90], 3, 7, 0),
            ([1, 4, 6, 100], 2, 7, 3),
            ([1, 5, 5, 37], 4, 3, 1),
            ([1, 2, 4, 9], 1, 4, 1),
        ] {
            let [batch, c_in, h, w] = input;
            let g = Geometry {
                input,
                output: [batch, c_out, h + 2 * p + 1 - k, w + 2 * p + 1 - k],
                kernel: [k, k],
                stride: [1, 1],
                padding: [p, p],
                dilation: [1, 1],
            };
            // Values whose products and sums round, so that another order would show.
            let wave = |n: usize, scale: f32| -> Vec<f32> {
                (0..n)
                    .map(|i| ((i as f32) * 0.7131).sin() * scale)
                    .collect()
            };
            let x = wave(batch * c_in * h * w, 1.3);
            let weight = wave(c_out * c_in * k * k, 0.37);
            let bias = wave(c_out, 0.11);
            let [_, _, h_out, w_out] = g.output;
            let mut y = vec![0f32; batch * c_out * h_out * w_out];
            let rows = SharedMut(y.as_mut_ptr());
            for r in 0..batch * h_out {
                let position = [r / h_out, r % h_out];
                let bias = Some(&bias[..]);
                let (x, weight, g) = (&x[..], &weight[..], &g);
                with_out_channels!(c_out, CO => OutputRows::<CO> {
                    y: rows,
                    x,
                    weight,
                    bias,
                    g,
                    position,
                }
                .run::<false>());
            }
            let expected = per_sample(&x, &weight, &bias, &g);
            let same = y
                .iter()
                .zip(&expected)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "input {input:?}, kernel {k}, padding {p}");
        }
    }
}
