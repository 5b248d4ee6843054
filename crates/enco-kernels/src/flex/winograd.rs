//! Stride-1 convolution by Winograd's minimal filtering F(2×2, r×r) (Lavin & Gray, 2016): each
//! 2×2 output tile is `Aᵀ [Σ_c (G g Gᵀ) ⊙ (Bᵀ d B)] A` over α×α input tiles (α = r + 1), so the
//! channel sums become α² GEMMs of `[C_out × C_in] · [C_in × tiles]`. F(2×2, 3×3) (α = 4, the
//! generator's 3×3 kernels) does 2.25× fewer multiplications than im2col + GEMM; F(2×2, 4×4)
//! (α = 5, the discriminator's 4×4 kernels) 2.56×. The weight gradient uses the same
//! transforms in reverse (α² GEMMs over the tiles).
//!
//! F(2×2, 3×3) uses Lavin's transforms (entries 0, ±1, ±½). F(2×2, 4×4) uses the Toom–Cook
//! points 0, 1, −1, 2 and ∞: its input and output transforms have small integer entries, and
//! only the kernel transform has thirds and sixths; both keep the results within a few float32
//! roundings of the direct convolution.

// The transforms index small fixed-size tiles by row and column, as the formulas do.
#![allow(clippy::needless_range_loop)]

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::conv::{Geometry, filled_by, with_columns};

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

// SAFETY: the tasks that share it write disjoint elements (one transform position each).
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
    match variant(g, Pass::Forward) {
        Some(Variant::F4) => forward_with::<F4, 5, 4>(x, weight, bias, g),
        _ => forward_with::<F3, 4, 3>(x, weight, bias, g),
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

/// The five transforms of a scheme F(2×2, R×R) with α×α input tiles, `A = α = R + 1`.
trait Scheme<const A: usize, const R: usize> {
    /// `G g Gᵀ` of one R×R kernel (row-major).
    fn kernel(k: &[f32]) -> [[f32; A]; A];
    /// `Bᵀ d B` of one input tile.
    fn input(d: &[[f32; A]; A]) -> [[f32; A]; A];
    /// `Aᵀ m A` of one product tile: the 2×2 outputs.
    fn output(m: &[[f32; A]; A]) -> [[f32; M]; M];
    /// `A z Aᵀ` of one 2×2 output-gradient tile: the gradient of the product tile.
    fn output_grad(dy: &[[f32; M]; M]) -> [[f32; A]; A];
    /// `Gᵀ dU G`: the kernel gradient from the gradient of its transform.
    fn kernel_grad(du: &[[f32; A]; A]) -> [[f32; R]; R];
}

/// F(2×2, 3×3) with Lavin's transforms, written out.
struct F3;

impl Scheme<4, 3> for F3 {
    #[inline(always)]
    fn kernel(k: &[f32]) -> [[f32; 4]; 4] {
        let mut gg = [[0f32; 3]; 4];
        for c in 0..3 {
            let (a, b, d) = (k[c], k[3 + c], k[6 + c]);
            gg[0][c] = a;
            gg[1][c] = 0.5 * (a + b + d);
            gg[2][c] = 0.5 * (a - b + d);
            gg[3][c] = d;
        }
        gg.map(|[a, b, d]| [a, 0.5 * (a + b + d), 0.5 * (a - b + d), d])
    }

    #[inline(always)]
    fn input(d: &[[f32; 4]; 4]) -> [[f32; 4]; 4] {
        let mut t = [[0f32; 4]; 4];
        for c in 0..4 {
            t[0][c] = d[0][c] - d[2][c];
            t[1][c] = d[1][c] + d[2][c];
            t[2][c] = d[2][c] - d[1][c];
            t[3][c] = d[1][c] - d[3][c];
        }
        t.map(|row| {
            [
                row[0] - row[2],
                row[1] + row[2],
                row[2] - row[1],
                row[1] - row[3],
            ]
        })
    }

    #[inline(always)]
    fn output(m: &[[f32; 4]; 4]) -> [[f32; 2]; 2] {
        let mut t = [[0f32; 4]; 2];
        for c in 0..4 {
            t[0][c] = m[0][c] + m[1][c] + m[2][c];
            t[1][c] = m[1][c] - m[2][c] - m[3][c];
        }
        t.map(|row| [row[0] + row[1] + row[2], row[1] - row[2] - row[3]])
    }

    #[inline(always)]
    fn output_grad(dy: &[[f32; 2]; 2]) -> [[f32; 4]; 4] {
        // A = [[1, 0], [1, 1], [1, −1], [0, −1]].
        let col = |a: f32, b: f32| [a, a + b, a - b, -b];
        let left = col(dy[0][0], dy[1][0]);
        let right = col(dy[0][1], dy[1][1]);
        let mut z = [[0f32; 4]; 4];
        for (r, row) in z.iter_mut().enumerate() {
            *row = col(left[r], right[r]);
        }
        z
    }

    #[inline(always)]
    fn kernel_grad(du: &[[f32; 4]; 4]) -> [[f32; 3]; 3] {
        // Gᵀ = [[1, ½, ½, 0], [0, ½, −½, 0], [0, ½, ½, 1]], applied to columns then rows.
        let reduce =
            |a: f32, b: f32, c: f32, d: f32| [a + 0.5 * (b + c), 0.5 * (b - c), 0.5 * (b + c) + d];
        let t = du.map(|[a, b, c, d]| reduce(a, b, c, d));
        let mut out = [[0f32; 3]; 3];
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

impl F4 {
    /// `Bᵀ d` of a 5-vector.
    #[inline(always)]
    fn bt([d0, d1, d2, d3, d4]: [f32; 5]) -> [f32; 5] {
        [
            2.0 * (d0 - d2) - d1 + d3,
            d3 - d2 - 2.0 * d1,
            2.0 * d1 - 3.0 * d2 + d3,
            d3 - d1,
            2.0 * (d1 - d3) - d2 + d4,
        ]
    }

    /// `G k` of a 4-vector.
    #[inline(always)]
    fn g([a, b, c, d]: [f32; 4]) -> [f32; 5] {
        const SIXTH: f32 = 1.0 / 6.0;
        [
            0.5 * a,
            -0.5 * (a + b + c + d),
            SIXTH * (b + d - a - c),
            SIXTH * (a + 2.0 * b + 4.0 * c + 8.0 * d),
            d,
        ]
    }

    /// `Aᵀ m` of a 5-vector.
    #[inline(always)]
    fn at([m0, m1, m2, m3, m4]: [f32; 5]) -> [f32; 2] {
        [m0 + m1 + m2 + m3, m1 - m2 + 2.0 * m3 + m4]
    }

    /// `A y` of a 2-vector.
    #[inline(always)]
    fn a([y0, y1]: [f32; 2]) -> [f32; 5] {
        [y0, y0 + y1, y0 - y1, y0 + 2.0 * y1, y1]
    }

    /// `Gᵀ u` of a 5-vector.
    #[inline(always)]
    fn gt([u0, u1, u2, u3, u4]: [f32; 5]) -> [f32; 4] {
        const SIXTH: f32 = 1.0 / 6.0;
        [
            0.5 * (u0 - u1) + SIXTH * (u3 - u2),
            -0.5 * u1 + SIXTH * (u2 + 2.0 * u3),
            -0.5 * u1 + SIXTH * (4.0 * u3 - u2),
            -0.5 * u1 + SIXTH * (u2 + 8.0 * u3) + u4,
        ]
    }
}

/// `f` applied to each column of `x`, then to each row of the result: `F x Fᵀ` for the linear
/// map `f = F·`.
#[inline(always)]
fn sandwich<const P: usize, const Q: usize>(
    x: &[[f32; P]; P],
    f: impl Fn([f32; P]) -> [f32; Q],
) -> [[f32; Q]; Q] {
    let mut cols = [[0f32; P]; Q];
    for c in 0..P {
        let mut col = [0f32; P];
        for r in 0..P {
            col[r] = x[r][c];
        }
        let col = f(col);
        for r in 0..Q {
            cols[r][c] = col[r];
        }
    }
    let mut out = [[0f32; Q]; Q];
    for r in 0..Q {
        out[r] = f(cols[r]);
    }
    out
}

impl Scheme<5, 4> for F4 {
    #[inline(always)]
    fn kernel(k: &[f32]) -> [[f32; 5]; 5] {
        let mut kernel = [[0f32; 4]; 4];
        for (r, row) in kernel.iter_mut().enumerate() {
            row.copy_from_slice(&k[4 * r..4 * r + 4]);
        }
        sandwich(&kernel, Self::g)
    }

    #[inline(always)]
    fn input(d: &[[f32; 5]; 5]) -> [[f32; 5]; 5] {
        sandwich(d, Self::bt)
    }

    #[inline(always)]
    fn output(m: &[[f32; 5]; 5]) -> [[f32; 2]; 2] {
        sandwich(m, Self::at)
    }

    #[inline(always)]
    fn output_grad(dy: &[[f32; 2]; 2]) -> [[f32; 5]; 5] {
        sandwich(dy, Self::a)
    }

    #[inline(always)]
    fn kernel_grad(du: &[[f32; 5]; 5]) -> [[f32; 4]; 4] {
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
        (CHUNK / (positions * channels)).clamp(16, self.total.max(16))
    }
}

/// Row stride of the transformed buffers for a chunk of `tc` tiles: padded past a multiple of
/// 16 floats so that the α² transform positions of a tile do not all map onto the same cache
/// sets (a power-of-two stride would).
fn leading(tc: usize) -> usize {
    tc.next_multiple_of(16) + 16
}

/// `V [C_in][α²][ld]`: `Bᵀ d B` of the input tiles `t0..t0 + tc` (zero outside the input), with
/// `ld = leading(tc)`.
fn transform_inputs<S: Scheme<A, R>, const A: usize, const R: usize>(
    x: &[f32],
    g: &Geometry,
    tiling: &Tiling,
    t0: usize,
    tc: usize,
    v: &mut [f32],
) {
    let ld = leading(tc);
    let [_, c_in, h, w] = g.input;
    let [ph, pw] = g.padding;
    v.par_chunks_mut(A * A * ld)
        .enumerate()
        .for_each(|(ci, block)| {
            for t in 0..tc {
                let (img, ty, tx) = tiling.locate(t0 + t);
                let plane = &x[(img * c_in + ci) * h * w..][..h * w];
                let d = input_tile::<A>(plane, [h, w], [ty, tx], [ph, pw]);
                let v = S::input(&d);
                for r in 0..A {
                    for c in 0..A {
                        block[(r * A + c) * ld + t] = v[r][c];
                    }
                }
            }
        });
}

/// The α×α input tile of output tile `(ty, tx)` in a `[h, w]` plane with zero padding `pad`.
#[inline(always)]
fn input_tile<const A: usize>(
    plane: &[f32],
    [h, w]: [usize; 2],
    [ty, tx]: [usize; 2],
    [ph, pw]: [usize; 2],
) -> [[f32; A]; A] {
    let mut d = [[0f32; A]; A];
    let y0 = (M * ty) as isize - ph as isize;
    let x0 = (M * tx) as isize - pw as isize;
    if y0 >= 0 && x0 >= 0 && y0 as usize + A <= h && x0 as usize + A <= w {
        let (y0, x0) = (y0 as usize, x0 as usize);
        for (r, row) in d.iter_mut().enumerate() {
            row.copy_from_slice(&plane[(y0 + r) * w + x0..][..A]);
        }
    } else {
        for (r, row) in d.iter_mut().enumerate() {
            let iy = y0 + r as isize;
            if iy < 0 || iy >= h as isize {
                continue;
            }
            let src = &plane[iy as usize * w..(iy as usize + 1) * w];
            for (c, value) in row.iter_mut().enumerate() {
                let ix = x0 + c as isize;
                if ix >= 0 && ix < w as isize {
                    *value = src[ix as usize];
                }
            }
        }
    }
    d
}

/// `y [N, C_out, H', W']` of `y = conv(x, W) + bias` for an R×R stride-1 kernel with zero
/// padding `g.padding`, by scheme `S`.
fn forward_with<S: Scheme<A, R>, const A: usize, const R: usize>(
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    g: &Geometry,
) -> Vec<f32> {
    assert!(g.kernel == [R, R] && g.stride == [1, 1] && g.dilation == [1, 1]);
    let p = A * A;
    let taps = R * R;
    let c_in = g.input[1];
    let [batch, c_out, h_out, w_out] = g.output;
    let tiling = Tiling::new(g);
    let (tiles_w, tiles_per_image, total_tiles) =
        (tiling.tiles_w, tiling.tiles_per_image, tiling.total);

    // U [C_out][P][C_in].
    let fill_u = |u: &mut [MaybeUninit<f32>]| {
        u.par_chunks_mut(p * c_in)
            .enumerate()
            .for_each(|(co, block)| {
                for ci in 0..c_in {
                    let t = S::kernel(&weight[(co * c_in + ci) * taps..][..taps]);
                    for r in 0..A {
                        for c in 0..A {
                            block[(r * A + c) * c_in + ci].write(t[r][c]);
                        }
                    }
                }
            });
    };
    // SAFETY: `fill_u` writes every (output channel, position, input channel) element.
    let u = unsafe { filled_by(c_out * p * c_in, fill_u) };

    let plane_out = h_out * w_out;
    let chunk = tiling.chunk(p, c_in + c_out);
    let ld_max = leading(chunk);
    let fill_y = |y: &mut [MaybeUninit<f32>]| {
        with_columns((c_in + c_out) * p * ld_max, |buffer| {
            let (v, m) = buffer.split_at_mut(c_in * p * ld_max);
            let mut t0 = 0;
            while t0 < total_tiles {
                let tc = chunk.min(total_tiles - t0);
                let ld = leading(tc);
                // V [C_in][P][ld].
                transform_inputs::<S, A, R>(x, g, &tiling, t0, tc, &mut v[..c_in * p * ld]);
                // M_ξ = U_ξ · V_ξ for the P positions ξ, one single-threaded GEMM per task;
                // M [C_out][P][ld].
                let m_ptr = SharedMut(m.as_mut_ptr());
                let (u, v) = (&u, &*v);
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
                // Output tiles, one output channel per task.
                let m = &*m;
                y.par_chunks_mut(plane_out)
                    .enumerate()
                    .for_each(|(plane_index, out)| {
                        let (img, co) = (plane_index / c_out, plane_index % c_out);
                        let first = img * tiles_per_image;
                        let lo = t0.max(first);
                        let hi = (t0 + tc).min(first + tiles_per_image);
                        let b = bias.map_or(0.0, |b| b[co]);
                        for tile in lo..hi {
                            let t = tile - t0;
                            let rem = tile - first;
                            let (ty, tx) = (rem / tiles_w, rem % tiles_w);
                            let mut mt = [[0f32; A]; A];
                            for (r, row) in mt.iter_mut().enumerate() {
                                for (c, value) in row.iter_mut().enumerate() {
                                    *value = m[co * p * ld + (r * A + c) * ld + t];
                                }
                            }
                            let o = S::output(&mt);
                            for dy in 0..M {
                                let oy = M * ty + dy;
                                if oy >= h_out {
                                    continue;
                                }
                                for dx in 0..M {
                                    let ox = M * tx + dx;
                                    if ox < w_out {
                                        out[oy * w_out + ox].write(o[dy][dx] + b);
                                    }
                                }
                            }
                        }
                    });
                t0 += tc;
            }
        });
    };
    // SAFETY: every output sample lies in one 2×2 tile, and the chunks cover every tile of
    // every plane.
    unsafe { filled_by(batch * c_out * plane_out, fill_y) }
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
    let [_, c_out, h_out, w_out] = g.output;
    let tiling = Tiling::new(g);
    let plane_out = h_out * w_out;
    if tiling.total == 0 {
        return vec![0.0; c_out * c_in * taps];
    }
    // dU [P][C_in][C_out] (C_out contiguous: the GEMM's column-major destination); the first
    // chunk's GEMMs write it (`read_dst` false), later ones accumulate.
    let mut du: Vec<f32> = Vec::with_capacity(p * c_in * c_out);
    let chunk = tiling.chunk(p, c_in + c_out);
    let ld_max = leading(chunk);
    with_columns((c_in + c_out) * p * ld_max, |buffer| {
        let (v, z) = buffer.split_at_mut(c_in * p * ld_max);
        let mut t0 = 0;
        while t0 < tiling.total {
            let tc = chunk.min(tiling.total - t0);
            let ld = leading(tc);
            // V [C_in][P][ld].
            transform_inputs::<S, A, R>(x, g, &tiling, t0, tc, &mut v[..c_in * p * ld]);
            // Z [tc][P][C_out]: output channels contiguous, one tile per task.
            z[..tc * p * c_out]
                .par_chunks_mut(p * c_out)
                .enumerate()
                .for_each(|(t, block)| {
                    let (img, ty, tx) = tiling.locate(t0 + t);
                    for co in 0..c_out {
                        let plane = &grad[(img * c_out + co) * plane_out..][..plane_out];
                        let mut dy = [[0f32; M]; M];
                        for dr in 0..M {
                            let oy = M * ty + dr;
                            if oy >= h_out {
                                continue;
                            }
                            for dc in 0..M {
                                let ox = M * tx + dc;
                                if ox < w_out {
                                    dy[dr][dc] = plane[oy * w_out + ox];
                                }
                            }
                        }
                        let z = S::output_grad(&dy);
                        for r in 0..A {
                            for c in 0..A {
                                block[(r * A + c) * c_out + co] = z[r][c];
                            }
                        }
                    }
                });
            let du_ptr = SharedMut(du.as_mut_ptr());
            let (z, v) = (&*z, &*v);
            let first = t0 == 0;
            (0..p).into_par_iter().for_each(|xi| {
                // SAFETY: dst dU_ξ (`c_out × c_in` column-major, the ξ-th block of du: disjoint
                // across ξ), lhs Z_ξ (`c_out × tc`, column stride P·c_out) inside z, rhs V_ξᵀ
                // (`tc × c_in`, column stride P·ld) inside v.
                unsafe {
                    gemm::gemm(
                        c_out,
                        c_in,
                        tc,
                        du_ptr.get().add(xi * c_in * c_out),
                        c_out as isize,
                        1,
                        !first,
                        z.as_ptr().add(xi * c_out),
                        (p * c_out) as isize,
                        1,
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
    });
    // dW = Gᵀ dU G, a block of output channels per task: each (position, input channel) row
    // of dU gives the block's values in one contiguous read.
    // SAFETY: the GEMMs of the first chunk (there is one: tiles ≥ 1) wrote all of dU.
    unsafe { du.set_len(p * c_in * c_out) };
    const BLOCK: usize = 16;
    let fill_dw = |dw: &mut [MaybeUninit<f32>]| {
        dw.par_chunks_mut(BLOCK * c_in * taps)
            .enumerate()
            .for_each(|(block, rows)| {
                let co0 = block * BLOCK;
                let count = rows.len() / (c_in * taps);
                for ci in 0..c_in {
                    let mut u = [[[0f32; A]; A]; BLOCK];
                    for xi in 0..p {
                        let src = &du[(xi * c_in + ci) * c_out + co0..][..count];
                        for (tile, &value) in u.iter_mut().zip(src) {
                            tile[xi / A][xi % A] = value;
                        }
                    }
                    for (j, tile) in u[..count].iter().enumerate() {
                        let k = S::kernel_grad(tile);
                        let dst = &mut rows[(j * c_in + ci) * taps..][..taps];
                        for r in 0..R {
                            for c in 0..R {
                                dst[r * R + c].write(k[r][c]);
                            }
                        }
                    }
                }
            });
    };
    // SAFETY: `fill_dw` writes the R×R taps of every (output channel, input channel) pair.
    unsafe { filled_by(c_out * c_in * taps, fill_dw) }
}
