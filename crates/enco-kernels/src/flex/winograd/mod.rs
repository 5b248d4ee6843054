//! Stride-1 convolution by Winograd's minimal filtering F(m×m, r×r) (Lavin & Gray, 2016): each
//! m×m output tile is `Aᵀ [Σ_c (G g Gᵀ) ⊙ (Bᵀ d B)] A` over α×α input tiles (α = m + r − 1),
//! so the channel sums become α² GEMMs of `[C_out × C_in] · [C_in × tiles]`. Three schemes:
//!
//! | scheme | α | multiplications per output vs im2col + GEMM | used for |
//! |---|---|---|---|
//! | F(2×2, 3×3) | 4 | 2.25× fewer | the forward pass of 3×3 kernels, and their gradients over few tiles |
//! | F(4×4, 3×3) | 6 | 4× fewer | the input and weight gradients of 3×3 kernels over more tile values than kernel values |
//! | F(2×2, 4×4) | 5 | 2.56× fewer | the discriminator's wide 4×4 layers |
//!
//! F(4×4, 3×3) has about twice the float32 error of F(2×2, 3×3) (its transforms have entries
//! up to 8): within the 1e-4 the gradients are held to against the official code, not within
//! the 1e-5 of the forward values, which is why the forward pass keeps the smaller tiles
//! (`docs/parity.md`; measured, F(4×4, 3×3) would not make the forward pass faster either,
//! `docs/performance.md`).
//!
//! The weight gradient uses the same transforms in reverse (α² GEMMs over the tiles). The input
//! gradient is either the adjoint of the F(2×2, 3×3) forward pass ([`adjoint`]: the output
//! gradient's tiles through the transforms transposed, the transformed kernels transposed in
//! channels) or the convolution with the kernel transposed in channels and flipped in space,
//! which the kernel transform reads in place; [`adjoint_pays`] chooses.
//!
//! The forward pass and the input gradient run in one of two orders. Over fewer than
//! [`BLOCKED_MIN_TILES`] output tiles, chunk by chunk: the input tiles of a chunk are
//! transformed for every channel, then each position's products are one GEMM (the gemm
//! crate's), then the output transform runs, each step over the whole chunk. From that many tiles
//! on, with AVX-512, block by block ([`blocked`]): 32 tiles at a time for every channel, their
//! products summed in registers against kernels packed once per call, and their output
//! transform while the products are in cache, each core on blocks of its own.
//!
//! Every transform works on [`LANES`] tiles at once, one per lane: a run of consecutive tiles
//! of one tile row, whose α-wide input windows start m samples apart, so that one row of all
//! their windows is a few vector loads and de-interleaves, and each transformed position is
//! stored as one vector.
//!
//! F(2×2, 3×3) uses Lavin's transforms (entries 0, ±1, ±½). F(2×2, 4×4) uses the Toom–Cook
//! points 0, 1, −1, 2 and ∞: its input and output transforms have small integer entries, and
//! only the kernel transform has thirds and sixths; F(4×4, 3×3) the points 0, 1, −1, ½, −2 and
//! ∞, the most accurate of the usual choices.

// The transforms index small fixed-size tiles by row and column, as the formulas do.
#![allow(clippy::needless_range_loop)]

use std::marker::PhantomData;
use std::mem::MaybeUninit;

use rayon::prelude::*;

mod adjoint;
mod blocked;
mod schemes;
mod tiling;
mod transforms;

use super::conv::{BalancedTasks, Geometry, SharedMut, filled_by, with_columns, zeroed};
use super::simd::{Kernel, LANES, Lanes, SimdLevel, dispatch, simd_level};
use schemes::*;
use tiling::*;
use transforms::*;

/// Floats of transformed input and output per tile chunk (16 MiB).
const CHUNK: usize = 1 << 22;

/// The smallest number of output tiles for which the F(2×2, 4×4) forward pass and input
/// gradient beat im2col + GEMM: below it the kernel transform (`C_out · C_in` kernels)
/// outweighs the saved products. The discriminator's 256 → 512 layer at 128 px has 8 × 8
/// tiles and pays; its 4 × 4 tiles at 64 px do not (`docs/performance.md`).
const F4_MIN_FORWARD_TILES: usize = 64;

/// The smallest input-channel count for F(2×2, 4×4) over at least [`F4_MIN_FORWARD_TILES`]
/// tiles: with fewer channels (the discriminator's first layer has 3) the α² GEMMs are too thin
/// to pay for the transforms, and im2col + GEMM is faster (measured on the discriminator's
/// layers, `docs/performance.md`).
const F4_MIN_INPUT_CHANNELS: usize = 64;

/// The smallest input-channel count for the F(2×2, 4×4) weight gradient over fewer tiles (the
/// discriminator's inner layers at small image sizes), where it still pays from 128 channels.
const F4_MIN_INPUT_CHANNELS_FEW_TILES: usize = 128;

/// The smallest number of output tiles for which the forward pass and input gradient run block
/// by block ([`blocked`], with AVX-512): below it the chunked path's one packing of the transformed kernels
/// per chunk is cheaper (measured on the generator's and the discriminator's layers at 128 and
/// 256 px, `docs/performance.md`).
const BLOCKED_MIN_TILES: usize = 1024;

/// Which Winograd scheme a geometry takes, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    /// F(2×2, 3×3).
    F3,
    /// F(4×4, 3×3).
    F3Large,
    /// F(2×2, 4×4).
    F4,
}

/// The pass a scheme is chosen for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pass {
    /// The forward convolution.
    Forward,
    /// The input gradient: a convolution of the output gradient with the flipped kernel.
    InputGrad,
    /// The weight gradient.
    WeightGrad,
}

fn variant(g: &Geometry, pass: Pass) -> Option<Variant> {
    if g.stride != [1, 1] || g.dilation != [1, 1] {
        return None;
    }
    match g.kernel {
        // The forward pass keeps the scheme with the smaller float32 error: the generator's
        // outputs are held to 1e-5 of the official code's, the gradients to 1e-4
        // (`docs/parity.md`).
        [3, 3] if pass == Pass::Forward => Some(Variant::F3),
        // The gradients take the larger tiles unless the kernels outweigh the tiles: F(4×4, 3×3)
        // transforms and multiplies 36 values per kernel against 16 for F(2×2, 3×3), a cost
        // that the fewer products over the tiles repay only with more tile values than kernel
        // values (`tiles · (C_in + C_out)` against `C_in · C_out`; measured on the ResNet
        // blocks, `docs/performance.md`). The ResNet blocks of a 128 px step on one image fall
        // below it (81 and 64 tiles of 4×4 for 256 × 256 kernels), and so does the weight
        // gradient of those of the 64 px parity cases on one image (16 tiles for 32 × 32
        // kernels).
        [3, 3] => {
            let (a, b) = (g.input[1], g.output[1]);
            let tiles = Tiling::new(g, 4).total;
            Some(if tiles * (a + b) > a * b {
                Variant::F3Large
            } else {
                Variant::F3
            })
        }
        [4, 4] => {
            let channels = g.input[1];
            let pays = if Tiling::new(g, 2).total >= F4_MIN_FORWARD_TILES {
                channels >= F4_MIN_INPUT_CHANNELS
            } else {
                pass == Pass::WeightGrad && channels >= F4_MIN_INPUT_CHANNELS_FEW_TILES
            };
            pays.then_some(Variant::F4)
        }
        _ => None,
    }
}

/// Whether a Winograd scheme computes `pass` of the convolution: stride 1, no dilation, and a
/// 3×3 kernel (F(2×2, 3×3) for the forward pass, F(4×4, 3×3) for the gradients when the
/// output has more 4×4 tiles than `C_in · C_out / (C_in + C_out)`, F(2×2, 3×3) otherwise), or a 4×4
/// kernel with at least [`F4_MIN_FORWARD_TILES`] output tiles over at least
/// [`F4_MIN_INPUT_CHANNELS`] input channels (for the weight gradient over fewer tiles, at least
/// [`F4_MIN_INPUT_CHANNELS_FEW_TILES`]).
pub(crate) fn applies(g: &Geometry, pass: Pass) -> bool {
    variant(g, pass).is_some()
}

/// `y [N, C_out, H', W']` of `y = conv(x, W) + bias`, for a geometry [`applies`] accepts for
/// the forward pass.
pub(crate) fn forward(x: &[f32], weight: &[f32], bias: Option<&[f32]>, g: &Geometry) -> Vec<f32> {
    convolve(x, Kernels::Direct(weight), bias, g, Pass::Forward)
}

/// `dX [N, C_in, H, W]` of a stride-1 convolution with kernel `W [C_out, C_in, R, R]` given
/// `dY`: the convolution of `dY` with `W` transposed in channels and flipped in space, whose
/// geometry `g` (input `dY`, output `dX`, padding `R − 1 − p`) [`applies`] accepts for the
/// input gradient. The kernel transform reads `W` in place.
pub(crate) fn input_grad(grad: &[f32], weight: &[f32], g: &Geometry) -> Vec<f32> {
    convolve(
        grad,
        Kernels::TransposedFlipped(weight),
        None,
        g,
        Pass::InputGrad,
    )
}

/// Whether the input gradient of the convolution of geometry `forward` (input `x`, output `y`)
/// runs by the adjoint of its F(2×2, 3×3) forward pass ([`adjoint`]) rather than as the
/// convolution `flipped` of `dY` with the flipped kernel (a geometry [`applies`] accepts for
/// the input gradient): for a stride-1 3×3 kernel whose flipped convolution would take
/// F(2×2, 3×3) too, or F(4×4, 3×3) with more than 1/1.6 of the adjoint's products. The adjoint
/// works on `dY`'s 2×2 tiles, the flipped convolution on `dX`'s 4×4 tiles, with 16 and 36
/// products each. For a convolution that shrinks its input (the residual blocks' 32 × 32 from
/// 34 × 34) the adjoint has fewer tiles to cover than F(2×2, 3×3) on `dX`, its runs of tiles
/// fill the vector lanes, and it measured 13–17 % faster than either scheme on the flipped
/// kernel at 128 px, and level with F(4×4, 3×3) at 256 px (a ratio of 1.58); for one that keeps
/// its size (zero padding 1, a ratio of 1.78) F(4×4, 3×3) on the flipped kernel was faster
/// (`conv_passes`, `docs/performance.md`).
pub(crate) fn adjoint_pays(forward: &Geometry, flipped: &Geometry) -> bool {
    if forward.kernel != [3, 3] || forward.stride != [1, 1] || forward.dilation != [1, 1] {
        return false;
    }
    match variant(flipped, Pass::InputGrad) {
        Some(Variant::F3) => true,
        Some(Variant::F3Large) => {
            let adjoint_products = Tiling::new(forward, 2).total * 16;
            let flipped_products = Tiling::new(flipped, 4).total * 36;
            5 * adjoint_products <= 8 * flipped_products
        }
        _ => false,
    }
}

/// `dX [N, C_in, H, W]` of the convolution of geometry `g` (input `x`, output `dY`) with kernel
/// `W [C_out, C_in, 3, 3]` given `dY`, for a geometry [`adjoint_pays`] accepts: the adjoint
/// of its F(2×2, 3×3) forward pass.
pub(crate) fn input_grad_adjoint(grad: &[f32], weight: &[f32], g: &Geometry) -> Vec<f32> {
    adjoint::input_grad::<F3, 4, 3, 2>(grad, weight, g)
}

fn convolve(
    x: &[f32],
    kernels: Kernels,
    bias: Option<&[f32]>,
    g: &Geometry,
    pass: Pass,
) -> Vec<f32> {
    let variant = variant(g, pass);
    // Layers with many tiles go block by block through the cache; the fixed cost of packing
    // the transformed kernels for the blocks does not pay on fewer tiles, nor do its register
    // blocks without AVX-512's 32 vector registers.
    let tile = if variant == Some(Variant::F3Large) {
        4
    } else {
        2
    };
    let blocked =
        simd_level() == SimdLevel::Avx512 && Tiling::new(g, tile).total >= BLOCKED_MIN_TILES;
    match (variant, blocked) {
        (Some(Variant::F4), true) => blocked::forward::<F4, 5, 4, 2>(x, kernels, bias, g),
        (Some(Variant::F3Large), true) => blocked::forward::<F3Large, 6, 3, 4>(x, kernels, bias, g),
        (_, true) => blocked::forward::<F3, 4, 3, 2>(x, kernels, bias, g),
        (Some(Variant::F4), false) => forward_with::<F4, 5, 4, 2>(x, kernels, bias, g),
        (Some(Variant::F3Large), false) => forward_with::<F3Large, 6, 3, 4>(x, kernels, bias, g),
        (_, false) => forward_with::<F3, 4, 3, 2>(x, kernels, bias, g),
    }
}

/// `dW [C_out, C_in, kH, kW]` of a convolution given `dY`, for a geometry [`applies`] accepts
/// for the weight gradient.
pub(crate) fn weight_grad(x: &[f32], grad: &[f32], g: &Geometry) -> Vec<f32> {
    match variant(g, Pass::WeightGrad) {
        Some(Variant::F4) => weight_grad_with::<F4, 5, 4, 2>(x, grad, g),
        Some(Variant::F3Large) => weight_grad_with::<F3Large, 6, 3, 4>(x, grad, g),
        _ => weight_grad_with::<F3, 4, 3, 2>(x, grad, g),
    }
}

/// `y [N, C_out, H', W']` of `y = conv(x, W) + bias` for an R×R stride-1 kernel with zero
/// padding `g.padding`, by scheme `S`.
fn forward_with<S: Scheme<A, R, M>, const A: usize, const R: usize, const M: usize>(
    x: &[f32],
    kernels: Kernels,
    bias: Option<&[f32]>,
    g: &Geometry,
) -> Vec<f32> {
    assert!(g.kernel == [R, R] && g.stride == [1, 1] && g.dilation == [1, 1]);
    let p = A * A;
    let c_in = g.input[1];
    let [batch, c_out, h_out, w_out] = g.output;
    let tiling = Tiling::new(g, M);
    let plane_out = h_out * w_out;
    let chunk = tiling.chunk(p, c_in + c_out);
    let ld_max = leading(chunk);
    let u_len = c_out * p * c_in;
    let fill_y = |y: &mut [MaybeUninit<f32>]| {
        with_columns(u_len + (c_in + c_out) * p * ld_max, |buffer| {
            let (u, buffer) = buffer.split_at_mut(u_len);
            let (v, m) = buffer.split_at_mut(c_in * p * ld_max);
            // U [C_out][P][C_in].
            transform_kernels::<S, A, R, M>(kernels, [c_out, c_in], p * c_in, u);
            let u = &*u;
            let mut t0 = 0;
            while t0 < tiling.total {
                let tc = chunk.min(tiling.total - t0);
                let ld = leading(tc);
                // V [C_in][P][ld].
                transform_inputs::<S, A, R, M>(x, g, &tiling, [t0, tc], &mut v[..c_in * p * ld]);
                // M_ξ = U_ξ · V_ξ for the P positions ξ; M [C_out][P][ld].
                // SAFETY: M_ξ (`c_out × tc`) at columns xi·ld..xi·ld + tc of each row of m (row
                // stride P·ld: disjoint across ξ), U_ξ (`c_out × c_in`) inside u, V_ξ
                // (`c_in × tc`) inside v.
                unsafe {
                    position_products(
                        p,
                        [c_out, tc, c_in],
                        (m, Layout::new(ld, 1, p * ld)),
                        (u, Layout::new(c_in, 1, p * c_in)),
                        (v, Layout::new(ld, 1, p * ld)),
                        false,
                    );
                }
                // Output tiles, one output plane per task.
                let m = &*m;
                y.par_chunks_mut(plane_out).balanced().enumerate().for_each(
                    |(plane_index, out)| {
                        dispatch(OutputTransform::<S, A, R, M> {
                            m,
                            g,
                            tiling: &tiling,
                            chunk: [t0, tc],
                            plane_index,
                            bias: bias.map_or(0.0, |b| b[plane_index % c_out]),
                            out,
                            scheme: PhantomData,
                        })
                    },
                );
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
fn weight_grad_with<S: Scheme<A, R, M>, const A: usize, const R: usize, const M: usize>(
    x: &[f32],
    grad: &[f32],
    g: &Geometry,
) -> Vec<f32> {
    assert!(g.kernel == [R, R] && g.stride == [1, 1] && g.dilation == [1, 1]);
    let p = A * A;
    let taps = R * R;
    let c_in = g.input[1];
    let c_out = g.output[1];
    let tiling = Tiling::new(g, M);
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
            let mut t0 = 0;
            while t0 < tiling.total {
                let tc = chunk.min(tiling.total - t0);
                let ld = leading(tc);
                // V [C_in][P][ld].
                transform_inputs::<S, A, R, M>(x, g, &tiling, [t0, tc], &mut v[..c_in * p * ld]);
                // Z [C_out][P][ld].
                transform_output_grads::<S, A, R, M>(
                    grad,
                    g,
                    &tiling,
                    [t0, tc],
                    &mut z[..c_out * p * ld],
                );
                // dU_ξ (+)= Z_ξ · V_ξᵀ for the P positions ξ.
                // SAFETY: dU_ξ (`c_out × c_in`) at rows xi·c_out..(xi + 1)·c_out of each column
                // of du (column stride P·c_out: disjoint across ξ), Z_ξ (`c_out × tc`, row
                // stride P·ld) inside z, V_ξᵀ (`tc × c_in`, column stride P·ld) inside v.
                unsafe {
                    position_products(
                        p,
                        [c_out, c_in, tc],
                        (du, Layout::new(c_out, p * c_out, 1)),
                        (z, Layout::new(ld, 1, p * ld)),
                        (v, Layout::new(ld, p * ld, 1)),
                        t0 > 0,
                    );
                }
                t0 += tc;
            }
            // dW = Gᵀ dU G, one input channel per task; the first chunk's GEMMs (there is one:
            // tiles ≥ 1) wrote all of dU.
            let dw = SharedMut(dw.as_mut_ptr().cast::<f32>());
            du.par_chunks(p * c_out)
                .balanced()
                .enumerate()
                .for_each(|(in_channel, du)| {
                    dispatch(KernelGradTransform::<S, A, R, M> {
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

/// Where one operand of the per-position GEMMs lies in its buffer: position ξ's matrix starts
/// `ξ · step` floats in, with column stride `cs` and row stride `rs`.
#[derive(Clone, Copy)]
pub(super) struct Layout {
    step: usize,
    cs: usize,
    rs: usize,
}

impl Layout {
    /// Position ξ at `ξ · step`, column stride `cs`, row stride `rs`.
    pub(super) const fn new(step: usize, cs: usize, rs: usize) -> Self {
        Self { step, cs, rs }
    }
}

/// `dst_ξ = lhs_ξ · rhs_ξ` (`[m × k] · [k × n]`), or `dst_ξ += lhs_ξ · rhs_ξ` with
/// `accumulate`, for the `p` positions ξ of a Winograd scheme, one single-threaded GEMM per task.
///
/// # Safety
/// Every position's three matrices lie inside their buffers as their layouts say, and the
/// destinations of different positions do not overlap.
pub(super) unsafe fn position_products(
    p: usize,
    [m, n, k]: [usize; 3],
    (dst, dl): (&mut [f32], Layout),
    (lhs, ll): (&[f32], Layout),
    (rhs, rl): (&[f32], Layout),
    accumulate: bool,
) {
    let dst_ptr = SharedMut(dst.as_mut_ptr());
    (0..p).into_par_iter().balanced().for_each(|xi| {
        // SAFETY: the caller's: every operand inside its buffer, destinations disjoint.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst_ptr.get().add(xi * dl.step),
                dl.cs as isize,
                dl.rs as isize,
                accumulate,
                lhs.as_ptr().add(xi * ll.step),
                ll.cs as isize,
                ll.rs as isize,
                rhs.as_ptr().add(xi * rl.step),
                rl.cs as isize,
                rl.rs as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(input: [usize; 4], output: [usize; 4], padding: usize) -> Geometry {
        Geometry {
            input,
            output,
            kernel: [3, 3],
            stride: [1, 1],
            padding: [padding, padding],
            dilation: [1, 1],
        }
    }

    #[test]
    fn gradients_of_3x3_kernels_take_the_larger_tiles_unless_the_kernels_outweigh_them() {
        // A ResNet block's convolution at 128 px (32 × 32 after its reflect pad of 1), its
        // input gradient (padding 2 back to 34 × 34) and its weight gradient.
        // On two images the input gradient has 162 tiles (82 944 tile values for 65 536
        // kernels), the weight gradient 128 (as many as kernels, which keeps the smaller tiles).
        for (batch, input_grad_variant, weight_grad_variant) in [
            (1, Variant::F3, Variant::F3),
            (2, Variant::F3Large, Variant::F3),
        ] {
            let conv = geometry([batch, 256, 34, 34], [batch, 256, 32, 32], 0);
            let input_grad = geometry([batch, 256, 32, 32], [batch, 256, 34, 34], 2);
            assert_eq!(variant(&conv, Pass::Forward), Some(Variant::F3));
            assert_eq!(
                variant(&input_grad, Pass::InputGrad),
                Some(input_grad_variant)
            );
            assert_eq!(variant(&conv, Pass::WeightGrad), Some(weight_grad_variant));
        }
        // The encoder's 128 → 256 convolution at 128 px on one image: 256 tiles of 4×4.
        let conv = geometry([1, 128, 64, 64], [1, 256, 64, 64], 1);
        assert_eq!(variant(&conv, Pass::WeightGrad), Some(Variant::F3Large));
        // The ResNet blocks at 256 px on one image: 289 tiles of 4×4.
        let input_grad = geometry([1, 256, 64, 64], [1, 256, 66, 66], 2);
        assert_eq!(
            variant(&input_grad, Pass::InputGrad),
            Some(Variant::F3Large)
        );
    }
}
