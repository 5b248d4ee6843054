//! 2-D convolution, its weight gradient and its bias gradient on contiguous f32 NCHW data.
//!
//! The forward pass is `Y_n = W · col_n` (`[C_out × C_in·kH·kW] · [C_in·kH·kW × HW']`); the
//! weight gradient is `dW = Σ_n dY_n · colᵀ_n` (`[C_out × HW'] · [HW' × C_in·kH·kW]`), with
//! the column matrix built tile by tile over output rows so that its buffer stays a few MiB
//! whatever the image size, each tile accumulated into `dW` by one GEMM.

use std::cell::RefCell;
use std::mem::MaybeUninit;

use rayon::prelude::*;

/// Floats in one column tile (16 MiB).
const COLUMN_TILE: usize = 1 << 22;

thread_local! {
    /// The column buffer of the calling thread, reused across calls (every element is written
    /// before it is read, so it is never cleared).
    static COLUMNS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with a column buffer of `len` floats: the calling thread's reusable buffer, or a
/// fresh one when that buffer is in use further up the stack (a rayon thread that picked up
/// another convolution while waiting inside this one).
pub(crate) fn with_columns<T>(len: usize, f: impl FnOnce(&mut [f32]) -> T) -> T {
    COLUMNS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut col) => {
            if col.len() < len {
                col.resize(len, 0.0);
            }
            f(&mut col[..len])
        }
        Err(_) => f(&mut vec![0f32; len]),
    })
}

/// Parallel loops in tasks of at most `⌈n / (8 · threads)⌉` of their `n` items: about eight
/// tasks per thread. Left to itself, rayon splits a loop into a few tasks per thread and splits
/// further only what another thread steals, so the last task of a loop could run alone while
/// the other cores wait; with tasks this small, a thread done early takes over the rest of a
/// slower one's share.
pub(crate) trait BalancedTasks: IndexedParallelIterator {
    /// This loop in tasks of at most `⌈len / (8 · threads)⌉` items.
    fn balanced(self) -> rayon::iter::MaxLen<Self> {
        let len = self.len().div_ceil(8 * rayon::current_num_threads()).max(1);
        self.with_max_len(len)
    }
}

impl<I: IndexedParallelIterator> BalancedTasks for I {}

/// A pointer into a buffer whose disjoint parts several tasks write.
#[derive(Clone, Copy)]
pub(crate) struct SharedMut(pub(crate) *mut f32);

impl SharedMut {
    /// The pointer (a method, so that closures capture the whole `Sync` wrapper).
    pub(crate) fn get(self) -> *mut f32 {
        self.0
    }
}

// SAFETY: the tasks that share it write disjoint elements (as each use says).
unsafe impl Send for SharedMut {}
// SAFETY: as above.
unsafe impl Sync for SharedMut {}

/// A vector of `len` floats written by `fill`, without zero-filling it first.
///
/// # Safety
///
/// `fill` must initialise every element of the slice it is given.
pub(crate) unsafe fn filled_by(len: usize, fill: impl FnOnce(&mut [MaybeUninit<f32>])) -> Vec<f32> {
    let mut out = Vec::with_capacity(len);
    fill(&mut out.spare_capacity_mut()[..len]);
    // SAFETY: `fill` initialised the first `len` elements (the caller's obligation).
    unsafe { out.set_len(len) };
    out
}

/// `plane` set to zeros, as initialised floats: the start of a sum that a task accumulates into
/// its own part of an output [`filled_by`] allocates, so that the zeros are written by the
/// pool's threads (`vec![0.0; len]` has the calling thread write them all first).
pub(crate) fn zeroed(plane: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    plane.fill(MaybeUninit::new(0.0));
    // SAFETY: every element was just written.
    unsafe { assume_written(plane) }
}

/// `plane` as initialised floats.
///
/// # Safety
/// Every element of `plane` has been written.
pub(crate) unsafe fn assume_written(plane: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    // SAFETY: `MaybeUninit<f32>` has `f32`'s layout, and the caller's: every element written.
    unsafe { &mut *(std::ptr::from_mut(plane) as *mut [f32]) }
}

/// The geometry of a convolution: input `[N, C_in, H, W]`, output `[N, C_out, H', W']`.
pub(crate) struct Geometry {
    pub input: [usize; 4],
    pub output: [usize; 4],
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
}

impl Geometry {
    /// Output rows per column tile: the tiles of one image are as even as the budget allows.
    fn tile_rows(&self) -> usize {
        let rows = self.column_rows();
        let [_, _, h_out, w_out] = self.output;
        let max_tile_rows = (COLUMN_TILE / (rows * w_out).max(1)).clamp(1, h_out.max(1));
        let tiles = h_out.div_ceil(max_tile_rows).max(1);
        h_out.div_ceil(tiles).max(1)
    }
}

impl Geometry {
    /// Column rows: `C_in·kH·kW`.
    fn column_rows(&self) -> usize {
        self.input[1] * self.kernel[0] * self.kernel[1]
    }

    /// Columns in the longest tile [`for_each_column_tile`](Self::for_each_column_tile) hands on.
    fn max_tile_len(&self) -> usize {
        let [_, _, h_out, w_out] = self.output;
        if self.is_pointwise() {
            h_out * w_out
        } else {
            self.tile_rows() * w_out
        }
    }

    /// A 1×1 convolution with stride 1 and no padding, whose column matrix is the image itself.
    fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.stride == [1, 1] && self.padding == [0, 0]
    }

    /// Builds the column tiles image by image and hands each to `f` as
    /// `(image, first output row, column tile [column_rows × len])`; a pointwise convolution
    /// hands each image `[C_in × H·W]` as it is.
    fn for_each_column_tile(&self, x: &[f32], mut f: impl FnMut(usize, usize, &[f32])) {
        let [batch, c_in, h, w] = self.input;
        let [_, _, h_out, w_out] = self.output;
        if self.is_pointwise() {
            for (b, xb) in x.chunks_exact(c_in * h * w).enumerate() {
                f(b, 0, xb);
            }
            return;
        }
        let rows = self.column_rows();
        let tile_rows = self.tile_rows();
        with_columns(rows * tile_rows * w_out, |col| {
            for b in 0..batch {
                let xb = &x[b * c_in * h * w..(b + 1) * c_in * h * w];
                let mut r0 = 0;
                while r0 < h_out {
                    let r1 = (r0 + tile_rows).min(h_out);
                    let col = &mut col[..rows * (r1 - r0) * w_out];
                    im2col(xb, self, r0, r1, col);
                    f(b, r0, col);
                    r0 = r1;
                }
            }
        });
    }
}

/// `y [N, C_out, H', W']` of `y = conv(x, W) + bias` (groups 1).
pub(crate) fn forward(x: &[f32], weight: &[f32], bias: Option<&[f32]>, g: &Geometry) -> Vec<f32> {
    let [batch, _, _, _] = g.input;
    let [_, c_out, h_out, w_out] = g.output;
    let rows = g.column_rows();
    let plane_out = h_out * w_out;
    let total = batch * c_out * plane_out;
    let mut y: Vec<f32> = Vec::with_capacity(total);
    if let Some(bias) = bias {
        for _ in 0..batch {
            for &value in bias {
                y.extend(std::iter::repeat_n(value, plane_out));
            }
        }
    }
    // Without a bias the GEMMs write every output element without reading it (`read_dst` is
    // false), so the buffer starts uninitialised.
    let y_ptr = y.spare_capacity_mut().as_mut_ptr().cast::<f32>();
    let y_ptr = if bias.is_some() {
        y.as_mut_ptr()
    } else {
        y_ptr
    };
    g.for_each_column_tile(x, |b, r0, col| {
        let len = col.len() / rows;
        // SAFETY: dst is the `c_out × len` block of Y_b starting at output row r0 (row stride
        // plane_out) inside the `total`-element allocation, lhs is W (`c_out × rows`
        // row-major), rhs is the column tile (`rows × len` row-major).
        unsafe {
            gemm::gemm(
                c_out,
                len,
                rows,
                y_ptr.add(b * c_out * plane_out + r0 * w_out),
                1,
                plane_out as isize,
                bias.is_some(),
                weight.as_ptr(),
                1,
                rows as isize,
                col.as_ptr(),
                1,
                len as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::Rayon(0),
            );
        }
    });
    // SAFETY: the bias fill or the GEMMs initialised all `total` elements.
    unsafe { y.set_len(total) };
    y
}

/// `dW [C_out, C_in, kH, kW]` of `y = conv(x, W)` given `dY`.
///
/// Both factors of `dY · colᵀ` have the reduction index contiguous, a layout GEMM packs slowly;
/// the output-gradient tile is transposed to `[len × C_out]` first, so that the product runs
/// with the same operand layouts as the forward pass, into `dWᵀ`.
pub(crate) fn weight_grad(x: &[f32], grad: &[f32], g: &Geometry) -> Vec<f32> {
    let [_, c_out, h_out, w_out] = g.output;
    let rows = g.column_rows();
    let plane_out = h_out * w_out;
    let mut dw_t = vec![0f32; rows * c_out];
    let mut grad_t = vec![0f32; g.max_tile_len() * c_out];
    let mut first = true;
    g.for_each_column_tile(x, |b, r0, col| {
        let len = col.len() / rows;
        let gb = &grad[b * c_out * plane_out..(b + 1) * c_out * plane_out];
        let grad_t = &mut grad_t[..len * c_out];
        transpose_block(gb, r0 * w_out, plane_out, c_out, grad_t);
        // SAFETY: dst is dWᵀ (`rows × c_out` row-major, seen as the column-major
        // `c_out × rows`), lhs is dY_bᵀ's tile (`len × c_out` row-major, seen as the
        // column-major `c_out × len`), rhs is colᵀ (`len × rows`, column stride len); all
        // pointers stay inside their slices.
        unsafe {
            gemm::gemm(
                c_out,
                rows,
                len,
                dw_t.as_mut_ptr(),
                c_out as isize,
                1,
                !first,
                grad_t.as_ptr(),
                c_out as isize,
                1,
                col.as_ptr(),
                len as isize,
                1,
                1.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::Rayon(0),
            );
        }
        first = false;
    });
    let mut dw = vec![0f32; c_out * rows];
    dw.par_chunks_mut(rows)
        .balanced()
        .enumerate()
        .for_each(|(co, row)| {
            for (j, value) in row.iter_mut().enumerate() {
                *value = dw_t[j * c_out + co];
            }
        });
    dw
}

/// `dst [len × channels] = src[c][offset + l]` for `c < channels`, `l < len = dst.len() /
/// channels`, where channel `c`
/// of `src` starts at `c · stride`; blocked over `l` for cache locality.
fn transpose_block(src: &[f32], offset: usize, stride: usize, channels: usize, dst: &mut [f32]) {
    const BLOCK: usize = 64;
    dst.par_chunks_mut(BLOCK * channels)
        .balanced()
        .enumerate()
        .for_each(|(block, out)| {
            let l0 = block * BLOCK;
            let n = out.len() / channels;
            for c in 0..channels {
                let from = &src[c * stride + offset + l0..][..n];
                for (l, &value) in from.iter().enumerate() {
                    out[l * channels + c] = value;
                }
            }
        });
}

/// The kernel of the input-gradient convolution of a stride-1 convolution: `W [C_out, C_in, kH,
/// kW]` transposed in channels and flipped in space, `[C_in, C_out, kH, kW]`.
pub(crate) fn flip_transpose(weight: &[f32], dims: [usize; 4]) -> Vec<f32> {
    let [c_out, c_in, kh, kw] = dims;
    let taps = kh * kw;
    let mut out = vec![0f32; weight.len()];
    out.par_chunks_mut(c_out * taps)
        .balanced()
        .enumerate()
        .for_each(|(ci, block)| {
            for co in 0..c_out {
                let src = &weight[(co * c_in + ci) * taps..(co * c_in + ci + 1) * taps];
                let dst = &mut block[co * taps..(co + 1) * taps];
                for (d, s) in dst.iter_mut().zip(src.iter().rev()) {
                    *d = *s;
                }
            }
        });
    out
}

/// Fills `col [C_in·kH·kW, (r1 − r0)·W']` with the input samples under each kernel tap for the
/// output rows `r0..r1` (zero where the tap falls in the zero padding).
fn im2col(x: &[f32], g: &Geometry, r0: usize, r1: usize, col: &mut [f32]) {
    let [_, _, h, w] = g.input;
    let w_out = g.output[3];
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.stride;
    let [ph, pw] = g.padding;
    let [dh, dw] = g.dilation;
    let len = (r1 - r0) * w_out;
    // One task per few rows of `col` (each an (input channel, tap) pair), not per input
    // channel: the first layers have 3 input channels, which two cores would share unevenly.
    col.par_chunks_mut(len)
        .balanced()
        .enumerate()
        .for_each(|(col_row, row)| {
            let (ci, tap) = (col_row / (kh * kw), col_row % (kh * kw));
            let (ki, kj) = (tap / kw, tap % kw);
            let plane = &x[ci * h * w..(ci + 1) * h * w];
            let off = (kj * dw) as isize - pw as isize;
            let lo = if off >= 0 {
                0
            } else {
                (off.unsigned_abs()).div_ceil(sw)
            };
            let hi = if (w as isize) - off <= 0 {
                0
            } else {
                ((w as isize - off) as usize).div_ceil(sw).min(w_out)
            };
            let lo = lo.min(hi);
            for oy in r0..r1 {
                let dst = &mut row[(oy - r0) * w_out..(oy - r0 + 1) * w_out];
                let iy = (oy * sh + ki * dh) as isize - ph as isize;
                if iy < 0 || iy >= h as isize {
                    dst.fill(0.0);
                    continue;
                }
                let src = &plane[iy as usize * w..(iy as usize + 1) * w];
                dst[..lo].fill(0.0);
                dst[hi..].fill(0.0);
                if sw == 1 {
                    let start = (lo as isize + off) as usize;
                    dst[lo..hi].copy_from_slice(&src[start..start + (hi - lo)]);
                } else {
                    for (ox, d) in dst[lo..hi].iter_mut().enumerate() {
                        *d = src[(((ox + lo) * sw) as isize + off) as usize];
                    }
                }
            }
        });
}

/// Channels whose bias gradients [`bias_grad`] sums side by side.
const BIAS_GROUP: usize = 8;

/// `db [C_out]`: the output gradient summed over batch and space (accumulated in f64): per
/// channel, each image's plane summed in order, the images' sums added in order.
///
/// The sums of [`BIAS_GROUP`] channels advance together, one sample of each per step, so that
/// their additions (each channel's a chain of its own, in the order above) overlap instead of
/// waiting on each other.
// Sample `i` of each of the group's planes in turn: the loop indexes several slices at once.
#[allow(clippy::needless_range_loop)]
pub(crate) fn bias_grad(grad: &[f32], dims: [usize; 4]) -> Vec<f32> {
    let [batch, channels, h, w] = dims;
    let plane = h * w;
    let mut db = vec![0f32; channels];
    db.par_chunks_mut(BIAS_GROUP)
        .balanced()
        .enumerate()
        .for_each(|(group, db)| {
            let c0 = group * BIAS_GROUP;
            let mut sums = [0f64; BIAS_GROUP];
            for b in 0..batch {
                let mut planes = [&[][..]; BIAS_GROUP];
                for (k, p) in planes.iter_mut().take(db.len()).enumerate() {
                    let start = (b * channels + c0 + k) * plane;
                    *p = &grad[start..start + plane];
                }
                // `Iterator::sum`'s starting value: the sums are bit for bit those of
                // `plane.iter().map(f64::from).sum()`.
                let mut partial = [-0f64; BIAS_GROUP];
                if db.len() == BIAS_GROUP {
                    for i in 0..plane {
                        for k in 0..BIAS_GROUP {
                            partial[k] += f64::from(planes[k][i]);
                        }
                    }
                } else {
                    for (partial, p) in partial.iter_mut().zip(&planes[..db.len()]) {
                        *partial = p.iter().map(|&v| f64::from(v)).sum::<f64>();
                    }
                }
                for (sum, partial) in sums.iter_mut().zip(partial) {
                    *sum += partial;
                }
            }
            for (d, sum) in db.iter_mut().zip(sums) {
                *d = sum as f32;
            }
        });
    db
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bias_gradients_are_the_sums_of_each_plane_in_order() {
        // 11 channels: one full group of channels summed side by side and one of 3; values of
        // mixed signs and magnitudes, so that a different order of additions would round
        // differently.
        let dims = [2, 11, 5, 7];
        let grad: Vec<f32> = (0..dims.iter().product::<usize>())
            .map(|i| {
                let v = ((i * 7919) % 1009) as f32 - 504.0;
                v * 10f32.powi((i % 9) as i32 - 4)
            })
            .collect();
        let plane = dims[2] * dims[3];
        let expected: Vec<f32> = (0..dims[1])
            .map(|c| {
                let mut sum = 0f64;
                for b in 0..dims[0] {
                    let start = (b * dims[1] + c) * plane;
                    sum += grad[start..start + plane]
                        .iter()
                        .map(|&v| f64::from(v))
                        .sum::<f64>();
                }
                sum as f32
            })
            .collect();
        let db = bias_grad(&grad, dims);
        assert_eq!(
            db.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            expected.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }
}
