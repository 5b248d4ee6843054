//! The per-tile passes of the Winograd convolutions: input, output-gradient, kernel, output and
//! kernel-gradient transforms, each a SIMD [`Kernel`] over [`LANES`] tiles.

// The transforms index small fixed-size tiles by row and column, as the formulas do.
#![allow(clippy::needless_range_loop)]

use super::*;

/// The transform a [`TileTransform`] applies to the N×N windows it reads.
pub(super) trait WindowMap<const N: usize, const A: usize> {
    /// The α×α transform of [`LANES`] windows.
    fn apply(windows: &Tile<N>) -> Tile<A>;
}

/// `Bᵀ d B` of α×α input windows.
pub(super) struct InputWindows<S, const R: usize, const M: usize>(PhantomData<S>);

impl<S: Scheme<A, R, M>, const A: usize, const R: usize, const M: usize> WindowMap<A, A>
    for InputWindows<S, R, M>
{
    #[inline(always)]
    fn apply(windows: &Tile<A>) -> Tile<A> {
        S::input(windows)
    }
}

/// `A dY_tile Aᵀ` of M×M output-gradient windows.
pub(super) struct OutputGradWindows<S, const R: usize>(PhantomData<S>);

impl<S: Scheme<A, R, M>, const A: usize, const R: usize, const M: usize> WindowMap<M, A>
    for OutputGradWindows<S, R>
{
    #[inline(always)]
    fn apply(windows: &Tile<M>) -> Tile<A> {
        S::output_grad(windows)
    }
}

/// `T` of the N×N windows of the chunk's M×M tiles in one channel of `planes [N, C, H, W]`
/// (tile `(ty, tx)` reads the window at `(M·ty − pad, M·tx − pad)`, zero outside the plane):
/// `block [α²][ld]`.
pub(super) struct TileTransform<'a, T, const N: usize, const A: usize, const M: usize> {
    pub(super) planes: &'a [f32],
    pub(super) dims: [usize; 4],
    pub(super) padding: [usize; 2],
    pub(super) tiling: &'a Tiling,
    pub(super) channel: usize,
    pub(super) chunk: [usize; 2],
    /// Stride of `block` between transform positions.
    pub(super) ld: usize,
    /// Tiles a position holds in `block` (at most `ld`): a run's lanes past it are not stored.
    pub(super) width: usize,
    pub(super) block: &'a mut [f32],
    pub(super) map: PhantomData<T>,
}

impl<T: WindowMap<N, A>, const N: usize, const A: usize, const M: usize> Kernel
    for TileTransform<'_, T, N, A, M>
{
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let [_, channels, h, w] = self.dims;
        let [ph, pw] = self.padding;
        let [t0, tc] = self.chunk;
        let ld = self.ld;
        for run in self.tiling.runs(t0, tc) {
            let plane = &self.planes[(run.img * channels + self.channel) * h * w..][..h * w];
            let y0 = (M * run.ty) as isize - ph as isize;
            let x0 = (M * run.tx) as isize - pw as isize;
            let mut windows = [[Lanes::ZERO; N]; N];
            for (r, row) in windows.iter_mut().enumerate() {
                *row = tile_row_lanes::<N, M>(plane, [h, w], y0 + r as isize, x0);
            }
            let v = T::apply(&windows);
            // A run of fewer than LANES tiles stores its other lanes over the next run's tiles
            // (stored after it) or the row's padding, except where the row ends first.
            let full = run.offset + LANES <= self.width;
            for r in 0..A {
                for c in 0..A {
                    let dst = &mut self.block[(r * A + c) * ld + run.offset..];
                    if full {
                        v[r][c].store(dst);
                    } else {
                        dst[..run.len].copy_from_slice(&v[r][c].0[..run.len]);
                    }
                }
            }
        }
    }
}

/// `V [C_in][α²][ld]`: `Bᵀ d B` of the input tiles `t0..t0 + tc` (zero outside the input), with
/// `ld = leading(tc)`.
pub(super) fn transform_inputs<
    S: Scheme<A, R, M>,
    const A: usize,
    const R: usize,
    const M: usize,
>(
    x: &[f32],
    g: &Geometry,
    tiling: &Tiling,
    chunk: [usize; 2],
    v: &mut [f32],
) {
    transform_tiles::<InputWindows<S, R, M>, A, A, M>(x, v, (g.input, g.padding), tiling, chunk);
}

/// `Z [C_out][α²][ld]`: `A dY Aᵀ` of the output-gradient tiles `t0..t0 + tc` of
/// `grad [N, C_out, H', W']` (the output planes of `g`), with `ld = leading(tc)`.
pub(super) fn transform_output_grads<
    S: Scheme<A, R, M>,
    const A: usize,
    const R: usize,
    const M: usize,
>(
    grad: &[f32],
    g: &Geometry,
    tiling: &Tiling,
    chunk: [usize; 2],
    z: &mut [f32],
) {
    transform_tiles::<OutputGradWindows<S, R>, M, A, M>(grad, z, (g.output, [0, 0]), tiling, chunk);
}

/// `T` of the N×N windows of the chunk's tiles in every channel of `planes` (`dims`, zero
/// `padding` around), one channel per task, into `out [C][α²][ld]`.
fn transform_tiles<T: WindowMap<N, A>, const N: usize, const A: usize, const M: usize>(
    planes: &[f32],
    out: &mut [f32],
    (dims, padding): ([usize; 4], [usize; 2]),
    tiling: &Tiling,
    chunk: [usize; 2],
) {
    let ld = leading(chunk[1]);
    out.par_chunks_mut(A * A * ld)
        .balanced()
        .enumerate()
        .for_each(|(channel, block)| {
            dispatch(TileTransform::<T, N, A, M> {
                planes,
                dims,
                padding,
                tiling,
                channel,
                chunk,
                ld,
                width: ld,
                block,
                map: PhantomData,
            })
        });
}

/// `U [C_out][α²][C_in]`: `G g Gᵀ` of every kernel of a convolution with `[C_out, C_in]`
/// channels, output channel `co`'s block at `co · stride` (`stride ≥ α² · C_in`).
pub(super) fn transform_kernels<
    S: Scheme<A, R, M>,
    const A: usize,
    const R: usize,
    const M: usize,
>(
    kernels: Kernels,
    [c_out, c_in]: [usize; 2],
    stride: usize,
    u: &mut [f32],
) {
    u[..c_out * stride]
        .par_chunks_mut(stride)
        .balanced()
        .enumerate()
        .for_each(|(co, block)| {
            dispatch(KernelTransform::<S, A, R, M> {
                kernels,
                channels: [c_out, c_in],
                out_channel: co,
                block: &mut block[..A * A * c_in],
                scheme: PhantomData,
            })
        });
}

/// Where the kernels of a convolution come from.
#[derive(Clone, Copy)]
pub(super) enum Kernels<'a> {
    /// `W [C_out, C_in, R, R]` as given.
    Direct(&'a [f32]),
    /// The input-gradient convolution of the convolution with kernel `W [C_in, C_out, R, R]`
    /// (its `C_out` is this convolution's `C_in`): `W` transposed in channels and flipped in
    /// space, read in place.
    TransposedFlipped(&'a [f32]),
}

impl Kernels<'_> {
    /// The R×R kernels of a convolution with `[C_out, C_in]` channels, lane `j < n` holding
    /// kernel `(co + j, ci)` (`along_out`) or `(co, ci + j)`, zero in the other lanes.
    #[inline(always)]
    pub(super) fn lanes<const R: usize>(
        self,
        [c_out, c_in]: [usize; 2],
        [co, ci]: [usize; 2],
        along_out: bool,
        n: usize,
    ) -> Tile<R> {
        let taps = R * R;
        // Kernel (co, ci) starts at `start`, the next along the lanes `stride` further on; tap
        // (r, c) of the flipped kernel is tap (R − 1 − r, R − 1 − c) of the stored one.
        let (weight, start, stride, flipped) = match self {
            Kernels::Direct(weight) => {
                let stride = if along_out { c_in * taps } else { taps };
                (weight, (co * c_in + ci) * taps, stride, false)
            }
            Kernels::TransposedFlipped(weight) => {
                let stride = if along_out { taps } else { c_out * taps };
                (weight, (ci * c_out + co) * taps, stride, true)
            }
        };
        let mut k = [[Lanes::ZERO; R]; R];
        for r in 0..R {
            for c in 0..R {
                let tap = if flipped {
                    taps - 1 - (r * R + c)
                } else {
                    r * R + c
                };
                let src = &weight[start + tap..];
                k[r][c] = if n == LANES {
                    Lanes::gather(src, stride)
                } else {
                    Lanes::from_fn(|j| if j < n { src[j * stride] } else { 0.0 })
                };
            }
        }
        k
    }
}

/// `U [α²][C_in]` of one output channel: `G g Gᵀ` of its `C_in` kernels, [`LANES`] input
/// channels at a time.
pub(super) struct KernelTransform<'a, S, const A: usize, const R: usize, const M: usize> {
    pub(super) kernels: Kernels<'a>,
    /// `[C_out, C_in]` of the convolution.
    pub(super) channels: [usize; 2],
    pub(super) out_channel: usize,
    pub(super) block: &'a mut [f32],
    pub(super) scheme: PhantomData<S>,
}

impl<S: Scheme<A, R, M>, const A: usize, const R: usize, const M: usize> Kernel
    for KernelTransform<'_, S, A, R, M>
{
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let c_in = self.channels[1];
        for ci0 in (0..c_in).step_by(LANES) {
            let n = LANES.min(c_in - ci0);
            let k = self
                .kernels
                .lanes::<R>(self.channels, [self.out_channel, ci0], false, n);
            let u = S::kernel(&k);
            for r in 0..A {
                for c in 0..A {
                    let dst = &mut self.block[(r * A + c) * c_in + ci0..][..n];
                    if n == LANES {
                        u[r][c].store(dst);
                    } else {
                        dst.copy_from_slice(&u[r][c].0[..n]);
                    }
                }
            }
        }
    }
}

/// The output tiles of one output plane `out [H', W']` (image and channel `plane_index`) among
/// the chunk's tiles, from the products `M [C_out][α²][ld]`: `Aᵀ m A + bias`.
pub(super) struct OutputTransform<'a, S, const A: usize, const R: usize, const M: usize> {
    pub(super) m: &'a [f32],
    pub(super) g: &'a Geometry,
    pub(super) tiling: &'a Tiling,
    pub(super) chunk: [usize; 2],
    pub(super) plane_index: usize,
    pub(super) bias: f32,
    pub(super) out: &'a mut [MaybeUninit<f32>],
    pub(super) scheme: PhantomData<S>,
}

impl<S: Scheme<A, R, M>, const A: usize, const R: usize, const M: usize> Kernel
    for OutputTransform<'_, S, A, R, M>
{
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let [_, c_out, h_out, w_out] = self.g.output;
        let [t0, tc] = self.chunk;
        let ld = leading(tc);
        let p = A * A;
        let (img, co) = (self.plane_index / c_out, self.plane_index % c_out);
        let tiling = self.tiling;
        let Some([lo, hi]) = tiling.image_span(img, [t0, tc]) else {
            return;
        };
        let bias = Lanes([self.bias; LANES]);
        let products = &self.m[co * p * ld..][..p * ld];
        for run in tiling.runs(lo, hi - lo) {
            let t = lo - t0 + run.offset;
            let ox = M * run.tx;
            let width = (M * run.len).min(w_out - ox);
            let rows = output_rows::<S, A, R, M>(products, ld, t, bias);
            for (dy, row) in rows.iter().enumerate() {
                let oy = M * run.ty + dy;
                if oy >= h_out {
                    break;
                }
                let dst = &mut self.out[oy * w_out + ox..];
                // Whole vectors, then the samples of the last one inside the row.
                let whole = width / LANES;
                for (k, lanes) in row[..whole].iter().enumerate() {
                    lanes.store_uninit(&mut dst[k * LANES..(k + 1) * LANES]);
                }
                if whole < M {
                    let rest = width - whole * LANES;
                    for (d, &value) in dst[whole * LANES..][..rest].iter_mut().zip(&row[whole].0) {
                        d.write(value);
                    }
                }
            }
        }
    }
}

/// The M output rows of [`LANES`] tiles whose products sit at column `t` of `products [α²][ld]`:
/// `Aᵀ m A + bias`, each row in sample order ([`interleaved`]).
#[inline(always)]
pub(super) fn output_rows<S: Scheme<A, R, M>, const A: usize, const R: usize, const M: usize>(
    products: &[f32],
    ld: usize,
    t: usize,
    bias: Lanes,
) -> [[Lanes; M]; M] {
    let mut mt = [[Lanes::ZERO; A]; A];
    for (r, row) in mt.iter_mut().enumerate() {
        for (c, value) in row.iter_mut().enumerate() {
            *value = Lanes::load(&products[(r * A + c) * ld + t..]);
        }
    }
    let o = S::output(&mt);
    let mut rows = [[Lanes::ZERO; M]; M];
    for (row, o) in rows.iter_mut().zip(&o) {
        *row = interleaved::<M>(o, bias);
    }
    rows
}

/// One output row of [`LANES`] tiles, `M` samples each (lane `j` of `row[c]` is sample `c` of
/// tile `j`), plus `bias`, in sample order: `M` vectors of consecutive outputs. `M` is 2 or 4.
#[inline(always)]
fn interleaved<const M: usize>(row: &[Lanes; M], bias: Lanes) -> [Lanes; M] {
    let mut out = [Lanes::ZERO; M];
    match M {
        2 => (out[0], out[1]) = Lanes::interleave(row[0] + bias, row[1] + bias),
        4 => {
            // Samples 0 and 2, then 1 and 3, side by side; then the two pairs.
            let (even_lo, even_hi) = Lanes::interleave(row[0] + bias, row[2] + bias);
            let (odd_lo, odd_hi) = Lanes::interleave(row[1] + bias, row[3] + bias);
            (out[0], out[1]) = Lanes::interleave(even_lo, odd_lo);
            (out[2], out[3]) = Lanes::interleave(even_hi, odd_hi);
        }
        _ => unreachable!("output tiles are 2 or 4 samples wide"),
    }
    out
}

/// The taps of input channel `in_channel` in `dW [C_out, C_in, R, R]` (written through `dw`)
/// from the gradients of their kernel transforms, `du [α²][C_out]` of that input channel:
/// `Gᵀ dU G`, [`LANES`] output channels at a time.
pub(super) struct KernelGradTransform<'a, S, const A: usize, const R: usize, const M: usize> {
    pub(super) du: &'a [f32],
    pub(super) c_in: usize,
    pub(super) in_channel: usize,
    pub(super) dw: SharedMut,
    pub(super) scheme: PhantomData<S>,
}

impl<S: Scheme<A, R, M>, const A: usize, const R: usize, const M: usize> Kernel
    for KernelGradTransform<'_, S, A, R, M>
{
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let taps = R * R;
        let p = A * A;
        let c_out = self.du.len() / p;
        for co0 in (0..c_out).step_by(LANES) {
            let n = LANES.min(c_out - co0);
            let mut u = [[Lanes::ZERO; A]; A];
            for xi in 0..p {
                u[xi / A][xi % A] = Lanes::load_partial(&self.du[xi * c_out + co0..][..n]);
            }
            let k = S::kernel_grad(&u);
            let mut columns = [[0f32; LANES]; 16];
            for r in 0..R {
                for c in 0..R {
                    columns[r * R + c] = k[r][c].0;
                }
            }
            for j in 0..n {
                let start = ((co0 + j) * self.c_in + self.in_channel) * taps;
                for (tap, column) in columns[..taps].iter().enumerate() {
                    // SAFETY: `start + tap` indexes (output channel co0 + j, input channel
                    // `in_channel`, tap) of dW, which only this task writes.
                    unsafe { self.dw.get().add(start + tap).write(column[j]) };
                }
            }
        }
    }
}
