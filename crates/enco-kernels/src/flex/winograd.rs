//! Stride-1 convolution by Winograd's minimal filtering F(2×2, r×r) (Lavin & Gray, 2016): each
//! 2×2 output tile is `Aᵀ [Σ_c (G g Gᵀ) ⊙ (Bᵀ d B)] A` over α×α input tiles (α = r + 1), so the
//! channel sums become α² GEMMs of `[C_out × C_in] · [C_in × tiles]`. F(2×2, 3×3) (α = 4, the
//! generator's 3×3 kernels) does 2.25× fewer multiplications than im2col + GEMM; F(2×2, 4×4)
//! (α = 5, the discriminator's 4×4 kernels) 2.56×. The weight gradient uses the same
//! transforms in reverse (α² GEMMs over the tiles), and the input gradient is the convolution
//! with the kernel transposed in channels and flipped in space, which the kernel transform
//! reads in place.
//!
//! Every transform works on [`LANES`] tiles at once, one per lane: a run of consecutive tiles
//! of one tile row, whose α-wide input windows start two samples apart, so that one row of all
//! their windows is two vector loads and a de-interleave, and each transformed position is
//! stored as one vector.
//!
//! F(2×2, 3×3) uses Lavin's transforms (entries 0, ±1, ±½). F(2×2, 4×4) uses the Toom–Cook
//! points 0, 1, −1, 2 and ∞: its input and output transforms have small integer entries, and
//! only the kernel transform has thirds and sixths; both keep the results within a few float32
//! roundings of the direct convolution.

// The transforms index small fixed-size tiles by row and column, as the formulas do.
#![allow(clippy::needless_range_loop)]

use std::marker::PhantomData;
use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::conv::{Geometry, filled_by, with_columns};
use super::simd::{Kernel, LANES, Lanes, dispatch};

/// Floats of transformed input and output per tile chunk (16 MiB).
const CHUNK: usize = 1 << 22;

/// A pointer into a buffer whose disjoint parts several tasks write.
#[derive(Clone, Copy)]
struct SharedMut(*mut f32);

impl SharedMut {
    /// The pointer (a method, so that closures capture the whole `Sync` wrapper).
    fn get(self) -> *mut f32 {
        self.0
    }
}

// SAFETY: the tasks that share it write disjoint elements (as each use says).
unsafe impl Send for SharedMut {}
// SAFETY: as above.
unsafe impl Sync for SharedMut {}

/// The smallest input-channel count for F(2×2, 4×4): with fewer channels the α² GEMMs are too
/// thin to pay for the transforms, and im2col + GEMM is faster (measured on the
/// discriminator's layers, `docs/performance.md`).
const F4_MIN_INPUT_CHANNELS: usize = 128;

/// The smallest number of output tiles for which the F(2×2, 4×4) forward pass beats im2col +
/// GEMM: below it the kernel transform (`C_out · C_in` kernels) outweighs the saved products.
/// The weight gradient pays at any size.
const F4_MIN_FORWARD_TILES: usize = 256;

/// Which Winograd scheme a geometry takes, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    /// F(2×2, 3×3).
    F3,
    /// F(2×2, 4×4).
    F4,
}

/// The pass a scheme is chosen for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pass {
    /// The forward convolution (and the input gradient, a convolution with the flipped kernel).
    Forward,
    /// The weight gradient.
    WeightGrad,
}

fn variant(g: &Geometry, pass: Pass) -> Option<Variant> {
    if g.stride != [1, 1] || g.dilation != [1, 1] {
        return None;
    }
    match g.kernel {
        [3, 3] => Some(Variant::F3),
        [4, 4] if g.input[1] >= F4_MIN_INPUT_CHANNELS => {
            let tiles = Tiling::new(g).total;
            (pass == Pass::WeightGrad || tiles >= F4_MIN_FORWARD_TILES).then_some(Variant::F4)
        }
        _ => None,
    }
}

/// Whether a Winograd scheme computes `pass` of the convolution: stride 1, no dilation, and a
/// 3×3 kernel, or a 4×4 kernel over at least [`F4_MIN_INPUT_CHANNELS`] input channels (and
/// [`F4_MIN_FORWARD_TILES`] output tiles for the forward pass).
pub(crate) fn applies(g: &Geometry, pass: Pass) -> bool {
    variant(g, pass).is_some()
}

/// `y [N, C_out, H', W']` of `y = conv(x, W) + bias`, for a geometry [`applies`] accepts for
/// the forward pass.
pub(crate) fn forward(x: &[f32], weight: &[f32], bias: Option<&[f32]>, g: &Geometry) -> Vec<f32> {
    convolve(x, Kernels::Direct(weight), bias, g)
}

/// `dX [N, C_in, H, W]` of a stride-1 convolution with kernel `W [C_out, C_in, R, R]` given
/// `dY`: the convolution of `dY` with `W` transposed in channels and flipped in space, whose
/// geometry `g` (input `dY`, output `dX`, padding `R − 1 − p`) [`applies`] accepts for the
/// forward pass. The kernel transform reads `W` in place.
pub(crate) fn input_grad(grad: &[f32], weight: &[f32], g: &Geometry) -> Vec<f32> {
    convolve(grad, Kernels::TransposedFlipped(weight), None, g)
}

fn convolve(x: &[f32], kernels: Kernels, bias: Option<&[f32]>, g: &Geometry) -> Vec<f32> {
    match variant(g, Pass::Forward) {
        Some(Variant::F4) => forward_with::<F4, 5, 4>(x, kernels, bias, g),
        _ => forward_with::<F3, 4, 3>(x, kernels, bias, g),
    }
}

/// `dW [C_out, C_in, kH, kW]` of a convolution given `dY`, for a geometry [`applies`] accepts
/// for the weight gradient.
pub(crate) fn weight_grad(x: &[f32], grad: &[f32], g: &Geometry) -> Vec<f32> {
    match variant(g, Pass::WeightGrad) {
        Some(Variant::F4) => weight_grad_with::<F4, 5, 4>(x, grad, g),
        _ => weight_grad_with::<F3, 4, 3>(x, grad, g),
    }
}

/// The side of an output tile: both schemes compute 2×2 outputs per tile.
const M: usize = 2;

/// An N×N tile of [`LANES`] tiles side by side, one per lane.
type Tile<const N: usize> = [[Lanes; N]; N];

/// The five transforms of a scheme F(2×2, R×R) with α×α input tiles, `A = α = R + 1`, each
/// applied to [`LANES`] tiles at once.
trait Scheme<const A: usize, const R: usize> {
    /// `G g Gᵀ` of R×R kernels.
    fn kernel(k: &Tile<R>) -> Tile<A>;
    /// `Bᵀ d B` of input tiles.
    fn input(d: &Tile<A>) -> Tile<A>;
    /// `Aᵀ m A` of product tiles: the 2×2 outputs.
    fn output(m: &Tile<A>) -> Tile<M>;
    /// `A z Aᵀ` of 2×2 output-gradient tiles: the gradients of the product tiles.
    fn output_grad(dy: &Tile<M>) -> Tile<A>;
    /// `Gᵀ dU G`: the kernel gradients from the gradients of their transforms.
    fn kernel_grad(du: &Tile<A>) -> Tile<R>;
}

/// F(2×2, 3×3) with Lavin's transforms, written out.
struct F3;

impl Scheme<4, 3> for F3 {
    #[inline(always)]
    fn kernel(k: &Tile<3>) -> Tile<4> {
        let mut gg = [[Lanes::ZERO; 3]; 4];
        for c in 0..3 {
            let (a, b, d) = (k[0][c], k[1][c], k[2][c]);
            gg[0][c] = a;
            gg[1][c] = (a + b + d) * 0.5;
            gg[2][c] = (a - b + d) * 0.5;
            gg[3][c] = d;
        }
        let mut out = [[Lanes::ZERO; 4]; 4];
        for r in 0..4 {
            let [a, b, d] = gg[r];
            out[r] = [a, (a + b + d) * 0.5, (a - b + d) * 0.5, d];
        }
        out
    }

    #[inline(always)]
    fn input(d: &Tile<4>) -> Tile<4> {
        let mut t = [[Lanes::ZERO; 4]; 4];
        for c in 0..4 {
            t[0][c] = d[0][c] - d[2][c];
            t[1][c] = d[1][c] + d[2][c];
            t[2][c] = d[2][c] - d[1][c];
            t[3][c] = d[1][c] - d[3][c];
        }
        let mut out = [[Lanes::ZERO; 4]; 4];
        for r in 0..4 {
            let row = t[r];
            out[r] = [
                row[0] - row[2],
                row[1] + row[2],
                row[2] - row[1],
                row[1] - row[3],
            ];
        }
        out
    }

    #[inline(always)]
    fn output(m: &Tile<4>) -> Tile<2> {
        let mut t = [[Lanes::ZERO; 4]; 2];
        for c in 0..4 {
            t[0][c] = m[0][c] + m[1][c] + m[2][c];
            t[1][c] = m[1][c] - m[2][c] - m[3][c];
        }
        let mut out = [[Lanes::ZERO; 2]; 2];
        for r in 0..2 {
            let row = t[r];
            out[r] = [row[0] + row[1] + row[2], row[1] - row[2] - row[3]];
        }
        out
    }

    #[inline(always)]
    fn output_grad(dy: &Tile<2>) -> Tile<4> {
        // A = [[1, 0], [1, 1], [1, −1], [0, −1]].
        #[inline(always)]
        fn col(a: Lanes, b: Lanes) -> [Lanes; 4] {
            [a, a + b, a - b, -b]
        }
        let left = col(dy[0][0], dy[1][0]);
        let right = col(dy[0][1], dy[1][1]);
        let mut z = [[Lanes::ZERO; 4]; 4];
        for (r, row) in z.iter_mut().enumerate() {
            *row = col(left[r], right[r]);
        }
        z
    }

    #[inline(always)]
    fn kernel_grad(du: &Tile<4>) -> Tile<3> {
        // Gᵀ = [[1, ½, ½, 0], [0, ½, −½, 0], [0, ½, ½, 1]], applied to columns then rows.
        #[inline(always)]
        fn reduce(a: Lanes, b: Lanes, c: Lanes, d: Lanes) -> [Lanes; 3] {
            [a + (b + c) * 0.5, (b - c) * 0.5, (b + c) * 0.5 + d]
        }
        let mut t = [[Lanes::ZERO; 3]; 4];
        for r in 0..4 {
            let [a, b, c, d] = du[r];
            t[r] = reduce(a, b, c, d);
        }
        let mut out = [[Lanes::ZERO; 3]; 3];
        for c in 0..3 {
            let col = reduce(t[0][c], t[1][c], t[2][c], t[3][c]);
            for r in 0..3 {
                out[r][c] = col[r];
            }
        }
        out
    }
}

/// F(2×2, 4×4) from the Toom–Cook points 0, 1, −1, 2, ∞, written out as the 1-D transforms
/// `Bᵀ`, `G`, `Aᵀ`, `A` and `Gᵀ` applied to the columns and then the rows of a tile:
///
/// ```text
/// Bᵀ = [2 −1 −2 1 0; 0 −2 −1 1 0; 0 2 −3 1 0; 0 −1 0 1 0; 0 2 −1 −2 1]
/// G  = [½ 0 0 0; −½ −½ −½ −½; −⅙ ⅙ −⅙ ⅙; ⅙ ⅓ ⅔ 4/3; 0 0 0 1]
/// Aᵀ = [1 1 1 1 0; 0 1 −1 2 1]
/// ```
struct F4;

/// ⅙ in f32.
const SIXTH: f32 = 1.0 / 6.0;

impl F4 {
    /// `Bᵀ d` of a 5-vector.
    #[inline(always)]
    fn bt([d0, d1, d2, d3, d4]: [Lanes; 5]) -> [Lanes; 5] {
        [
            (d0 - d2) * 2.0 - d1 + d3,
            d3 - d2 - d1 * 2.0,
            d1 * 2.0 - d2 * 3.0 + d3,
            d3 - d1,
            (d1 - d3) * 2.0 - d2 + d4,
        ]
    }

    /// `G k` of a 4-vector.
    #[inline(always)]
    fn g([a, b, c, d]: [Lanes; 4]) -> [Lanes; 5] {
        [
            a * 0.5,
            (a + b + c + d) * -0.5,
            (b + d - a - c) * SIXTH,
            (a + b * 2.0 + c * 4.0 + d * 8.0) * SIXTH,
            d,
        ]
    }

    /// `Aᵀ m` of a 5-vector.
    #[inline(always)]
    fn at([m0, m1, m2, m3, m4]: [Lanes; 5]) -> [Lanes; 2] {
        [m0 + m1 + m2 + m3, m1 - m2 + m3 * 2.0 + m4]
    }

    /// `A y` of a 2-vector.
    #[inline(always)]
    fn a([y0, y1]: [Lanes; 2]) -> [Lanes; 5] {
        [y0, y0 + y1, y0 - y1, y0 + y1 * 2.0, y1]
    }

    /// `Gᵀ u` of a 5-vector.
    #[inline(always)]
    fn gt([u0, u1, u2, u3, u4]: [Lanes; 5]) -> [Lanes; 4] {
        [
            (u0 - u1) * 0.5 + (u3 - u2) * SIXTH,
            u1 * -0.5 + (u2 + u3 * 2.0) * SIXTH,
            u1 * -0.5 + (u3 * 4.0 - u2) * SIXTH,
            u1 * -0.5 + (u2 + u3 * 8.0) * SIXTH + u4,
        ]
    }
}

/// `f` applied to each column of `x`, then to each row of the result: `F x Fᵀ` for the linear
/// map `f = F·`.
#[inline(always)]
fn sandwich<const P: usize, const Q: usize>(
    x: &Tile<P>,
    f: impl Fn([Lanes; P]) -> [Lanes; Q],
) -> Tile<Q> {
    let mut cols = [[Lanes::ZERO; P]; Q];
    for c in 0..P {
        let mut col = [Lanes::ZERO; P];
        for r in 0..P {
            col[r] = x[r][c];
        }
        let col = f(col);
        for r in 0..Q {
            cols[r][c] = col[r];
        }
    }
    let mut out = [[Lanes::ZERO; Q]; Q];
    for r in 0..Q {
        out[r] = f(cols[r]);
    }
    out
}

impl Scheme<5, 4> for F4 {
    #[inline(always)]
    fn kernel(k: &Tile<4>) -> Tile<5> {
        sandwich(k, Self::g)
    }

    #[inline(always)]
    fn input(d: &Tile<5>) -> Tile<5> {
        sandwich(d, Self::bt)
    }

    #[inline(always)]
    fn output(m: &Tile<5>) -> Tile<2> {
        sandwich(m, Self::at)
    }

    #[inline(always)]
    fn output_grad(dy: &Tile<2>) -> Tile<5> {
        sandwich(dy, Self::a)
    }

    #[inline(always)]
    fn kernel_grad(du: &Tile<5>) -> Tile<4> {
        sandwich(du, Self::gt)
    }
}

/// The tiling of the output plane into 2×2 tiles, numbered image by image, row by row.
struct Tiling {
    tiles_w: usize,
    tiles_per_image: usize,
    total: usize,
}

impl Tiling {
    fn new(g: &Geometry) -> Self {
        let [batch, _, h_out, w_out] = g.output;
        let (tiles_h, tiles_w) = (h_out.div_ceil(M), w_out.div_ceil(M));
        Self {
            tiles_w,
            tiles_per_image: tiles_h * tiles_w,
            total: batch * tiles_h * tiles_w,
        }
    }

    /// (image, tile row, tile column) of tile `tile`.
    fn locate(&self, tile: usize) -> (usize, usize, usize) {
        let (img, rem) = (tile / self.tiles_per_image, tile % self.tiles_per_image);
        (img, rem / self.tiles_w, rem % self.tiles_w)
    }

    /// Tiles per chunk for `channels` transformed channels (inputs plus outputs) of
    /// `positions` (α²) values each.
    fn chunk(&self, positions: usize, channels: usize) -> usize {
        (CHUNK / (positions * channels)).clamp(LANES, self.total.max(LANES))
    }

    /// The tiles `t0..t0 + tc` as [`Run`]s of at most [`LANES`] consecutive tiles of one tile
    /// row.
    fn runs(&self, t0: usize, tc: usize) -> impl Iterator<Item = Run> + '_ {
        let mut t = 0;
        std::iter::from_fn(move || {
            (t < tc).then(|| {
                let (img, ty, tx) = self.locate(t0 + t);
                let run = Run {
                    offset: t,
                    img,
                    ty,
                    tx,
                    len: LANES.min(tc - t).min(self.tiles_w - tx),
                };
                t += run.len;
                run
            })
        })
    }
}

/// Up to [`LANES`] consecutive tiles of one tile row, transformed together (one per lane).
#[derive(Clone, Copy)]
struct Run {
    /// The first tile's index in its chunk.
    offset: usize,
    img: usize,
    ty: usize,
    tx: usize,
    len: usize,
}

/// Row stride of the transformed buffers for a chunk of `tc` tiles: padded past a multiple of
/// 16 floats so that the α² transform positions of a tile do not all map onto the same cache
/// sets (a power-of-two stride would), and so that a run of [`LANES`] tiles starting at any
/// tile of the chunk fits in a row.
fn leading(tc: usize) -> usize {
    tc.next_multiple_of(16) + 16
}

/// The samples that a run of [`LANES`] tiles (stride 2 apart) reads from one row, for windows
/// of at most 6 samples.
const ROW_WINDOW: usize = 2 * LANES + 4;

/// Sample `c` of the windows of [`LANES`] tiles whose windows start 2 apart in `src` (lane `j`:
/// `src[2j + c]`), for `c < N`; `src` holds at least `2·(LANES − 1) + N` samples.
#[inline(always)]
fn strided_lanes<const N: usize>(src: &[f32]) -> [Lanes; N] {
    let mut out = [Lanes::ZERO; N];
    for c in (0..N).step_by(2) {
        if c + 1 < N {
            let pair: &[f32; 2 * LANES] = src[c..][..2 * LANES].try_into().unwrap();
            (out[c], out[c + 1]) = Lanes::deinterleave(pair);
        } else {
            let last: &[f32; 2 * LANES - 1] = src[c..][..2 * LANES - 1].try_into().unwrap();
            out[c] = Lanes::from_fn(|j| last[2 * j]);
        }
    }
    out
}

/// Row `y` of the N-wide windows of [`LANES`] tiles starting at columns `x0, x0 + 2, …` of a
/// `[h, w]` plane (lane `j`, element `c`: sample `(y, x0 + 2j + c)`), zero outside the plane.
#[inline(always)]
fn tile_row_lanes<const N: usize>(
    plane: &[f32],
    [h, w]: [usize; 2],
    y: isize,
    x0: isize,
) -> [Lanes; N] {
    let need = 2 * (LANES - 1) + N;
    if y >= 0 && (y as usize) < h && x0 >= 0 && x0 as usize + need <= w {
        let start = y as usize * w + x0 as usize;
        return strided_lanes(&plane[start..][..need]);
    }
    let mut window = [0f32; ROW_WINDOW];
    if y >= 0 && (y as usize) < h {
        // The window's samples inside the row: window[lo..hi] = row[x0 + lo..x0 + hi].
        let lo = (-x0).clamp(0, need as isize) as usize;
        let hi = (w as isize - x0).clamp(lo as isize, need as isize) as usize;
        if lo < hi {
            let start = y as usize * w + (x0 + lo as isize) as usize;
            window[lo..hi].copy_from_slice(&plane[start..][..hi - lo]);
        }
    }
    strided_lanes(&window[..need])
}

/// The transform a [`TileTransform`] applies to the N×N windows it reads.
trait WindowMap<const N: usize, const A: usize> {
    /// The α×α transform of [`LANES`] windows.
    fn apply(windows: &Tile<N>) -> Tile<A>;
}

/// `Bᵀ d B` of α×α input windows.
struct InputWindows<S, const R: usize>(PhantomData<S>);

impl<S: Scheme<A, R>, const A: usize, const R: usize> WindowMap<A, A> for InputWindows<S, R> {
    #[inline(always)]
    fn apply(windows: &Tile<A>) -> Tile<A> {
        S::input(windows)
    }
}

/// `A dY_tile Aᵀ` of 2×2 output-gradient windows.
struct OutputGradWindows<S, const R: usize>(PhantomData<S>);

impl<S: Scheme<A, R>, const A: usize, const R: usize> WindowMap<M, A> for OutputGradWindows<S, R> {
    #[inline(always)]
    fn apply(windows: &Tile<M>) -> Tile<A> {
        S::output_grad(windows)
    }
}

/// `T` of the N×N windows of the chunk's tiles in one channel of `planes [N, C, H, W]` (tile
/// `(ty, tx)` reads the window at `(2·ty − pad, 2·tx − pad)`, zero outside the plane):
/// `block [α²][ld]`.
struct TileTransform<'a, T, const N: usize, const A: usize> {
    planes: &'a [f32],
    dims: [usize; 4],
    padding: [usize; 2],
    tiling: &'a Tiling,
    channel: usize,
    chunk: [usize; 2],
    block: &'a mut [f32],
    map: PhantomData<T>,
}

impl<T: WindowMap<N, A>, const N: usize, const A: usize> Kernel for TileTransform<'_, T, N, A> {
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let [_, channels, h, w] = self.dims;
        let [ph, pw] = self.padding;
        let [t0, tc] = self.chunk;
        let ld = leading(tc);
        for run in self.tiling.runs(t0, tc) {
            let plane = &self.planes[(run.img * channels + self.channel) * h * w..][..h * w];
            let y0 = (M * run.ty) as isize - ph as isize;
            let x0 = (M * run.tx) as isize - pw as isize;
            let mut windows = [[Lanes::ZERO; N]; N];
            for (r, row) in windows.iter_mut().enumerate() {
                *row = tile_row_lanes(plane, [h, w], y0 + r as isize, x0);
            }
            let v = T::apply(&windows);
            for r in 0..A {
                for c in 0..A {
                    v[r][c].store(&mut self.block[(r * A + c) * ld + run.offset..]);
                }
            }
        }
    }
}

/// `V [C_in][α²][ld]`: `Bᵀ d B` of the input tiles `t0..t0 + tc` (zero outside the input), with
/// `ld = leading(tc)`.
fn transform_inputs<S: Scheme<A, R>, const A: usize, const R: usize>(
    x: &[f32],
    g: &Geometry,
    tiling: &Tiling,
    chunk: [usize; 2],
    v: &mut [f32],
) {
    let ld = leading(chunk[1]);
    v.par_chunks_mut(A * A * ld)
        .enumerate()
        .for_each(|(channel, block)| {
            dispatch(TileTransform::<InputWindows<S, R>, A, A> {
                planes: x,
                dims: g.input,
                padding: g.padding,
                tiling,
                channel,
                chunk,
                block,
                map: PhantomData,
            })
        });
}

/// Where the kernels of a convolution come from.
#[derive(Clone, Copy)]
enum Kernels<'a> {
    /// `W [C_out, C_in, R, R]` as given.
    Direct(&'a [f32]),
    /// The input-gradient convolution of the convolution with kernel `W [C_in, C_out, R, R]`
    /// (its `C_out` is this convolution's `C_in`): `W` transposed in channels and flipped in
    /// space, read in place.
    TransposedFlipped(&'a [f32]),
}

/// `U [α²][C_in]` of one output channel: `G g Gᵀ` of its `C_in` kernels, [`LANES`] input
/// channels at a time.
struct KernelTransform<'a, S, const A: usize, const R: usize> {
    kernels: Kernels<'a>,
    /// `[C_out, C_in]` of the convolution.
    channels: [usize; 2],
    out_channel: usize,
    block: &'a mut [f32],
    scheme: PhantomData<S>,
}

impl<S: Scheme<A, R>, const A: usize, const R: usize> Kernel for KernelTransform<'_, S, A, R> {
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let taps = R * R;
        let [c_out, c_in] = self.channels;
        let co = self.out_channel;
        for ci0 in (0..c_in).step_by(LANES) {
            let n = LANES.min(c_in - ci0);
            // Kernel j of the group starts at `src[j · stride]`; tap (r, c) of the flipped
            // kernel is tap (R − 1 − r, R − 1 − c) of the stored one.
            let (weight, start, stride, flipped) = match self.kernels {
                Kernels::Direct(weight) => (weight, (co * c_in + ci0) * taps, taps, false),
                Kernels::TransposedFlipped(weight) => {
                    (weight, (ci0 * c_out + co) * taps, c_out * taps, true)
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
            let u = S::kernel(&k);
            for r in 0..A {
                for c in 0..A {
                    let dst = &mut self.block[(r * A + c) * c_in + ci0..][..n];
                    dst.copy_from_slice(&u[r][c].0[..n]);
                }
            }
        }
    }
}

/// The output tiles of one output plane `out [H', W']` (image and channel `plane_index`) among
/// the chunk's tiles, from the products `M [C_out][α²][ld]`: `Aᵀ m A + bias`.
struct OutputTransform<'a, S, const A: usize, const R: usize> {
    m: &'a [f32],
    g: &'a Geometry,
    tiling: &'a Tiling,
    chunk: [usize; 2],
    plane_index: usize,
    bias: f32,
    out: &'a mut [MaybeUninit<f32>],
    scheme: PhantomData<S>,
}

impl<S: Scheme<A, R>, const A: usize, const R: usize> Kernel for OutputTransform<'_, S, A, R> {
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let [_, c_out, h_out, w_out] = self.g.output;
        let [t0, tc] = self.chunk;
        let ld = leading(tc);
        let p = A * A;
        let (img, co) = (self.plane_index / c_out, self.plane_index % c_out);
        let tiling = self.tiling;
        let first = img * tiling.tiles_per_image;
        let lo = t0.max(first);
        let hi = (t0 + tc).min(first + tiling.tiles_per_image);
        if lo >= hi {
            return;
        }
        let bias = Lanes([self.bias; LANES]);
        let products = &self.m[co * p * ld..][..p * ld];
        for run in tiling.runs(lo, hi - lo) {
            let t = lo - t0 + run.offset;
            let mut mt = [[Lanes::ZERO; A]; A];
            for (r, row) in mt.iter_mut().enumerate() {
                for (c, value) in row.iter_mut().enumerate() {
                    *value = Lanes::load(&products[(r * A + c) * ld + t..]);
                }
            }
            let o = S::output(&mt);
            let ox = M * run.tx;
            let width = (M * run.len).min(w_out - ox);
            for dy in 0..M {
                let oy = M * run.ty + dy;
                if oy >= h_out {
                    break;
                }
                let (low, high) = Lanes::interleave(o[dy][0] + bias, o[dy][1] + bias);
                let dst = &mut self.out[oy * w_out + ox..];
                if width == M * LANES {
                    low.store_uninit(&mut dst[..LANES]);
                    high.store_uninit(&mut dst[LANES..2 * LANES]);
                } else {
                    let row = low.0.iter().chain(&high.0);
                    for (d, &value) in dst[..width].iter_mut().zip(row) {
                        d.write(value);
                    }
                }
            }
        }
    }
}

/// `y [N, C_out, H', W']` of `y = conv(x, W) + bias` for an R×R stride-1 kernel with zero
/// padding `g.padding`, by scheme `S`.
fn forward_with<S: Scheme<A, R>, const A: usize, const R: usize>(
    x: &[f32],
    kernels: Kernels,
    bias: Option<&[f32]>,
    g: &Geometry,
) -> Vec<f32> {
    assert!(g.kernel == [R, R] && g.stride == [1, 1] && g.dilation == [1, 1]);
    let p = A * A;
    let c_in = g.input[1];
    let [batch, c_out, h_out, w_out] = g.output;
    let tiling = Tiling::new(g);
    let plane_out = h_out * w_out;
    let chunk = tiling.chunk(p, c_in + c_out);
    let ld_max = leading(chunk);
    let u_len = c_out * p * c_in;
    let fill_y = |y: &mut [MaybeUninit<f32>]| {
        with_columns(u_len + (c_in + c_out) * p * ld_max, |buffer| {
            let (u, buffer) = buffer.split_at_mut(u_len);
            let (v, m) = buffer.split_at_mut(c_in * p * ld_max);
            // U [C_out][P][C_in].
            u.par_chunks_mut(p * c_in)
                .enumerate()
                .for_each(|(co, block)| {
                    dispatch(KernelTransform::<S, A, R> {
                        kernels,
                        channels: [c_out, c_in],
                        out_channel: co,
                        block,
                        scheme: PhantomData,
                    })
                });
            let u = &*u;
            let mut t0 = 0;
            while t0 < tiling.total {
                let tc = chunk.min(tiling.total - t0);
                let ld = leading(tc);
                // V [C_in][P][ld].
                transform_inputs::<S, A, R>(x, g, &tiling, [t0, tc], &mut v[..c_in * p * ld]);
                // M_ξ = U_ξ · V_ξ for the P positions ξ, one single-threaded GEMM per task;
                // M [C_out][P][ld].
                let m_ptr = SharedMut(m.as_mut_ptr());
                let v = &*v;
                (0..p).into_par_iter().for_each(|xi| {
                    // SAFETY: dst M_ξ (`c_out × tc`, row stride P·ld, columns xi·ld..xi·ld + tc of
                    // each row: disjoint across ξ) inside m, lhs U_ξ (`c_out × c_in`, row stride
                    // P·c_in) inside u, rhs V_ξ (`c_in × tc`, row stride P·ld) inside v.
                    unsafe {
                        gemm::gemm(
                            c_out,
                            tc,
                            c_in,
                            m_ptr.get().add(xi * ld),
                            1,
                            (p * ld) as isize,
                            false,
                            u.as_ptr().add(xi * c_in),
                            1,
                            (p * c_in) as isize,
                            v.as_ptr().add(xi * ld),
                            1,
                            (p * ld) as isize,
                            0.0,
                            1.0,
                            false,
                            false,
                            false,
                            gemm::Parallelism::None,
                        );
                    }
                });
                // Output tiles, one output plane per task.
                let m = &*m;
                y.par_chunks_mut(plane_out)
                    .enumerate()
                    .for_each(|(plane_index, out)| {
                        dispatch(OutputTransform::<S, A, R> {
                            m,
                            g,
                            tiling: &tiling,
                            chunk: [t0, tc],
                            plane_index,
                            bias: bias.map_or(0.0, |b| b[plane_index % c_out]),
                            out,
                            scheme: PhantomData,
                        })
                    });
                t0 += tc;
            }
        });
    };
    // SAFETY: every output sample lies in one 2×2 tile, and the chunks cover every tile of
    // every plane.
    unsafe { filled_by(batch * c_out * plane_out, fill_y) }
}

/// The taps of input channel `in_channel` in `dW [C_out, C_in, R, R]` (written through `dw`)
/// from the gradients of their kernel transforms, `du [α²][C_out]` of that input channel:
/// `Gᵀ dU G`, [`LANES`] output channels at a time.
struct KernelGradTransform<'a, S, const A: usize, const R: usize> {
    du: &'a [f32],
    c_in: usize,
    in_channel: usize,
    dw: SharedMut,
    scheme: PhantomData<S>,
}

impl<S: Scheme<A, R>, const A: usize, const R: usize> Kernel for KernelGradTransform<'_, S, A, R> {
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

/// `dW [C_out, C_in, R, R]` of an R×R stride-1 convolution given `dY`, by scheme `S`: with
/// `V = Bᵀ d B` of the input tiles and `Z = A dY_tile Aᵀ` of the output-gradient tiles, the
/// gradient of the kernel transforms is `dU_ξ = Σ_tiles Z_ξ · V_ξᵀ` (one GEMM of
/// `[C_out × tiles] · [tiles × C_in]` per position ξ), and `dW = Gᵀ dU G`.
fn weight_grad_with<S: Scheme<A, R>, const A: usize, const R: usize>(
    x: &[f32],
    grad: &[f32],
    g: &Geometry,
) -> Vec<f32> {
    assert!(g.kernel == [R, R] && g.stride == [1, 1] && g.dilation == [1, 1]);
    let p = A * A;
    let taps = R * R;
    let c_in = g.input[1];
    let c_out = g.output[1];
    let tiling = Tiling::new(g);
    if tiling.total == 0 {
        return vec![0.0; c_out * c_in * taps];
    }
    let chunk = tiling.chunk(p, c_in + c_out);
    let ld_max = leading(chunk);
    let du_len = c_in * p * c_out;
    let fill_dw = |dw: &mut [MaybeUninit<f32>]| {
        with_columns(du_len + (c_in + c_out) * p * ld_max, |buffer| {
            // dU [C_in][P][C_out] (C_out contiguous: the GEMMs' column-major destinations,
            // column stride P·C_out); the first chunk's GEMMs write it (`read_dst` false),
            // later ones accumulate.
            let (du, buffer) = buffer.split_at_mut(du_len);
            let (v, z) = buffer.split_at_mut(c_in * p * ld_max);
            let du_ptr = SharedMut(du.as_mut_ptr());
            let mut t0 = 0;
            while t0 < tiling.total {
                let tc = chunk.min(tiling.total - t0);
                let ld = leading(tc);
                // V [C_in][P][ld].
                transform_inputs::<S, A, R>(x, g, &tiling, [t0, tc], &mut v[..c_in * p * ld]);
                // Z [C_out][P][ld].
                z[..c_out * p * ld]
                    .par_chunks_mut(p * ld)
                    .enumerate()
                    .for_each(|(channel, block)| {
                        dispatch(TileTransform::<OutputGradWindows<S, R>, M, A> {
                            planes: grad,
                            dims: g.output,
                            padding: [0, 0],
                            tiling: &tiling,
                            channel,
                            chunk: [t0, tc],
                            block,
                            map: PhantomData,
                        })
                    });
                let (z, v) = (&*z, &*v);
                let first = t0 == 0;
                (0..p).into_par_iter().for_each(|xi| {
                    // SAFETY: dst dU_ξ (`c_out × c_in`, column stride P·c_out, rows
                    // xi·c_out..(xi + 1)·c_out of each column: disjoint across ξ) inside du,
                    // lhs Z_ξ (`c_out × tc`, row stride P·ld) inside z, rhs V_ξᵀ
                    // (`tc × c_in`, column stride P·ld) inside v.
                    unsafe {
                        gemm::gemm(
                            c_out,
                            c_in,
                            tc,
                            du_ptr.get().add(xi * c_out),
                            (p * c_out) as isize,
                            1,
                            !first,
                            z.as_ptr().add(xi * ld),
                            1,
                            (p * ld) as isize,
                            v.as_ptr().add(xi * ld),
                            (p * ld) as isize,
                            1,
                            1.0,
                            1.0,
                            false,
                            false,
                            false,
                            gemm::Parallelism::None,
                        );
                    }
                });
                t0 += tc;
            }
            // dW = Gᵀ dU G, one input channel per task; the first chunk's GEMMs (there is one:
            // tiles ≥ 1) wrote all of dU.
            let dw = SharedMut(dw.as_mut_ptr().cast::<f32>());
            du.par_chunks(p * c_out)
                .enumerate()
                .for_each(|(in_channel, du)| {
                    dispatch(KernelGradTransform::<S, A, R> {
                        du,
                        c_in,
                        in_channel,
                        dw,
                        scheme: PhantomData,
                    })
                });
        });
    };
    // SAFETY: `fill_dw` writes the R×R taps of every (output channel, input channel) pair.
    unsafe { filled_by(c_out * c_in * taps, fill_dw) }
}
