//! Average and max pooling of H and W (dilation 1, floor mode), one plane per task, each output
//! computed as PyTorch's CPU kernels compute it (`aten/src/ATen/native/cpu/AvgPoolKernel.cpp`,
//! `MaxPoolKernel.cpp`): the window's values in row order, the sum in f32 divided once. Outputs
//! whose window lies inside the plane's columns are computed [`LANES`] at a time in that same
//! order (the Inception's pools, `docs/fid.md`), the others one at a time.

use std::marker::PhantomData;
use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::conv::{BalancedTasks, filled_by};
use super::simd::{Kernel, LANES, Lanes, dispatch};

/// A pooling window: kernel, stride and zero padding of H and W.
#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

impl Window {
    /// The window of a kernel, a stride and a padding.
    pub fn new(kernel: [usize; 2], stride: [usize; 2], padding: [usize; 2]) -> Self {
        Self {
            kernel,
            stride,
            padding,
        }
    }

    /// The output side along `axis` for an input side `n` (floor mode), `None` where the window
    /// does not fit or the padding exceeds half the kernel (PyTorch refuses both).
    pub fn output_side(&self, n: usize, axis: usize) -> Option<usize> {
        let (k, s, p) = (self.kernel[axis], self.stride[axis], self.padding[axis]);
        if k == 0 || s == 0 || p > k / 2 || n + 2 * p < k {
            return None;
        }
        Some((n + 2 * p - k) / s + 1)
    }

    /// The input rows (or columns) `[start, end)` of output `o` along `axis`, clipped to
    /// `[0, n)`, and the window's extent clipped to the padded input (`count_include_pad`).
    #[inline]
    fn span(&self, o: usize, n: usize, axis: usize) -> (usize, usize, usize) {
        let (k, s, p) = (self.kernel[axis], self.stride[axis], self.padding[axis]);
        let start = (o * s) as isize - p as isize;
        let end_padded = (start + k as isize).min((n + p) as isize);
        let padded = (end_padded - start) as usize;
        let end = end_padded.min(n as isize) as usize;
        (start.max(0) as usize, end, padded)
    }
}

/// How a pooling reduces its window: the running value starts at [`Reduction::START`] and
/// takes each of the window's values in row order.
trait Reduction: Copy + Send + Sync {
    /// The value before the window's first.
    const START: f32;
    /// The output of a window with no values (none, with a padding of at most half the
    /// kernel, as [`Window::output_side`] requires).
    const EMPTY: f32;
    /// The running value after `value`.
    fn take(acc: f32, value: f32) -> f32;
    /// The output from the running value over `count` values (the window's values, or its
    /// padded size with `count_include_pad`).
    fn finish(acc: f32, count: usize) -> f32;
}

/// Average pooling: the sum in f32 from zero, divided once.
#[derive(Clone, Copy)]
struct Average;

impl Reduction for Average {
    const START: f32 = 0.0;
    const EMPTY: f32 = 0.0;
    #[inline(always)]
    fn take(acc: f32, value: f32) -> f32 {
        acc + value
    }
    #[inline(always)]
    fn finish(acc: f32, count: usize) -> f32 {
        acc / count as f32
    }
}

/// Max pooling: a NaN in the window gives NaN, as in PyTorch.
#[derive(Clone, Copy)]
struct Maximum;

impl Reduction for Maximum {
    const START: f32 = f32::NEG_INFINITY;
    const EMPTY: f32 = f32::NEG_INFINITY;
    #[inline(always)]
    fn take(acc: f32, value: f32) -> f32 {
        if value > acc || value.is_nan() {
            value
        } else {
            acc
        }
    }
    #[inline(always)]
    fn finish(acc: f32, _count: usize) -> f32 {
        acc
    }
}

/// Pools every `[H, W]` plane of `x [N, C, H, W]` into `[H', W']` by `R`, dividing averages by
/// the padded window size with `count_include_pad`.
fn pool<R: Reduction>(
    x: &[f32],
    [n, c, h, w]: [usize; 4],
    window: Window,
    [h_out, w_out]: [usize; 2],
    count_include_pad: bool,
) -> Vec<f32> {
    assert_eq!(x.len(), n * c * h * w, "input size and shape differ");
    let plane_out = h_out * w_out;
    let fill = |y: &mut [MaybeUninit<f32>]| {
        y.par_chunks_mut(plane_out.max(1))
            .zip(x.par_chunks((h * w).max(1)))
            .balanced()
            .for_each(|(out, plane)| {
                dispatch(PoolPlane::<R> {
                    plane,
                    out,
                    sides: [h, w, h_out, w_out],
                    window,
                    count_include_pad,
                    vector: true,
                    reduction: PhantomData,
                })
            });
    };
    // SAFETY: `PoolPlane` writes every element of its output plane once.
    unsafe { filled_by(n * c * plane_out, fill) }
}

/// One output plane of a pooling. Each output takes its window's values in row order, as
/// PyTorch's CPU kernels do; the outputs whose window lies inside the plane's columns (all but
/// the first and last few of a row) are computed [`LANES`] at a time, one per lane, in that same
/// order, for strides 1 and 2 (a stride-2 row is the even values of two vectors). With `vector`
/// false, every output one at a time (the reference the tests compare with).
struct PoolPlane<'a, R> {
    plane: &'a [f32],
    out: &'a mut [MaybeUninit<f32>],
    /// `[H, W, H', W']`.
    sides: [usize; 4],
    window: Window,
    count_include_pad: bool,
    vector: bool,
    reduction: PhantomData<R>,
}

/// Output `ow` of a row alone, over the input rows `[r0, r1)` of its window (`rows_padded` of
/// them in the padded input).
#[inline(always)]
fn one<R: Reduction>(
    plane: &[f32],
    w: usize,
    window: Window,
    count_include_pad: bool,
    (r0, r1, rows_padded): (usize, usize, usize),
    ow: usize,
) -> f32 {
    let (c0, c1, cols_padded) = window.span(ow, w, 1);
    if r0 >= r1 || c0 >= c1 {
        return R::EMPTY;
    }
    let mut acc = R::START;
    for r in r0..r1 {
        for &v in &plane[r * w + c0..r * w + c1] {
            acc = R::take(acc, v);
        }
    }
    let count = if count_include_pad {
        rows_padded * cols_padded
    } else {
        (r1 - r0) * (c1 - c0)
    };
    R::finish(acc, count)
}

impl<R: Reduction> Kernel for PoolPlane<'_, R> {
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let [h, w, _, w_out] = self.sides;
        let [k, s, p] = [
            self.window.kernel[1],
            self.window.stride[1],
            self.window.padding[1],
        ];
        // The outputs whose window lies inside the columns: `ow · s ≥ p` and
        // `ow · s − p + k ≤ w`.
        let inner = if self.vector && (s == 1 || s == 2) && w + p >= k {
            p.div_ceil(s)..((w + p - k) / s + 1).min(w_out)
        } else {
            0..0
        };
        let (plane, window, include) = (self.plane, self.window, self.count_include_pad);
        for (oh, row) in self.out.chunks_exact_mut(w_out.max(1)).enumerate() {
            let rows = window.span(oh, h, 0);
            let (r0, r1, rows_padded) = rows;
            let mut ow = 0;
            while ow < w_out {
                if !inner.contains(&ow) || r0 >= r1 {
                    let value = one::<R>(plane, w, window, include, rows, ow);
                    row[ow].write(value);
                    ow += 1;
                    continue;
                }
                let lanes = LANES.min(inner.end - ow);
                let c0 = ow * s - p;
                let mut acc = Lanes([R::START; LANES]);
                for r in r0..r1 {
                    for c in 0..k {
                        // Lanes past the row's outputs read on into the next row (or zeros
                        // past the plane); they are not stored.
                        let from = &plane[r * w + c0 + c..];
                        let values = if s == 1 {
                            Lanes::load_partial(from)
                        } else {
                            let low = Lanes::load_partial(from);
                            let high = Lanes::load_partial(from.get(LANES..).unwrap_or(&[]));
                            Lanes::deinterleave_pair(low, high)[0]
                        };
                        for j in 0..LANES {
                            acc.0[j] = R::take(acc.0[j], values.0[j]);
                        }
                    }
                }
                let count = if include {
                    rows_padded * k
                } else {
                    (r1 - r0) * k
                };
                for (d, &value) in row[ow..ow + lanes].iter_mut().zip(&acc.0) {
                    d.write(R::finish(value, count));
                }
                ow += lanes;
            }
        }
    }
}

/// `F.avg_pool2d(x, kernel, stride, padding, ceil_mode=False, count_include_pad)`.
pub(super) fn avg_pool2d(
    x: &[f32],
    dims: [usize; 4],
    window: Window,
    out: [usize; 2],
    count_include_pad: bool,
) -> Vec<f32> {
    pool::<Average>(x, dims, window, out, count_include_pad)
}

/// `F.max_pool2d(x, kernel, stride, padding)` (dilation 1, `ceil_mode=False`); a NaN in the
/// window gives NaN, as in PyTorch.
pub(super) fn max_pool2d(x: &[f32], dims: [usize; 4], window: Window, out: [usize; 2]) -> Vec<f32> {
    pool::<Maximum>(x, dims, window, out, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flex::simd::{SimdLevel, force_simd_level, simd_level};

    /// Every output of `x` pooled one at a time, as the kernels compute the edges.
    fn one_at_a_time<R: Reduction>(
        x: &[f32],
        [h, w]: [usize; 2],
        window: Window,
        count_include_pad: bool,
    ) -> Vec<f32> {
        let sides = [
            h,
            w,
            window.output_side(h, 0).unwrap(),
            window.output_side(w, 1).unwrap(),
        ];
        let mut out = vec![MaybeUninit::uninit(); sides[2] * sides[3]];
        PoolPlane::<R> {
            plane: x,
            out: &mut out,
            sides,
            window,
            count_include_pad,
            vector: false,
            reduction: PhantomData,
        }
        .run::<false>();
        // SAFETY: `run` wrote every output.
        out.into_iter()
            .map(|v| unsafe { v.assume_init() })
            .collect()
    }

    #[test]
    fn outputs_computed_side_by_side_have_the_bits_of_one_at_a_time() {
        // Rows wider than a vector (the Inception's 35 and 71), narrower, and at a vector's
        // width; windows of stride 1 and 2, padded or not; NaN, infinities and signed zeros.
        // The level in use before (the processor's best, or what ENCO_FLEX_SIMD chose) is
        // restored at the end.
        let start = simd_level();
        for (h, w) in [(9, 35), (5, 71), (4, 16), (3, 17), (6, 5)] {
            let mut x: Vec<f32> = (0..h * w)
                .map(|i| ((i * 7919 % 613) as f32 - 300.0) / 37.0)
                .collect();
            x[w + 3] = f32::NAN;
            x[2 * w - 1] = f32::INFINITY;
            x[w / 2] = -0.0;
            x[h * w - 2] = f32::NEG_INFINITY;
            for (kernel, stride, padding) in [
                ([3, 3], [1, 1], [1, 1]),
                ([3, 3], [2, 2], [0, 0]),
                ([3, 3], [2, 2], [1, 1]),
                ([2, 2], [2, 2], [0, 0]),
                ([3, 2], [1, 2], [1, 0]),
                ([3, 3], [3, 3], [1, 1]),
            ] {
                let window = Window::new(kernel, stride, padding);
                let (Some(h_out), Some(w_out)) =
                    (window.output_side(h, 0), window.output_side(w, 1))
                else {
                    continue;
                };
                let dims = [1, 1, h, w];
                let bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<_>>();
                for level in SimdLevel::supported() {
                    force_simd_level(Some(level)).unwrap();
                    for include in [false, true] {
                        assert_eq!(
                            bits(avg_pool2d(&x, dims, window, [h_out, w_out], include)),
                            bits(one_at_a_time::<Average>(&x, [h, w], window, include)),
                            "average {h}×{w} {window:?} {include} {level:?}"
                        );
                    }
                    assert_eq!(
                        bits(max_pool2d(&x, dims, window, [h_out, w_out])),
                        bits(one_at_a_time::<Maximum>(&x, [h, w], window, false)),
                        "max {h}×{w} {window:?} {level:?}"
                    );
                }
                force_simd_level(Some(start)).unwrap();
            }
        }
    }
}
