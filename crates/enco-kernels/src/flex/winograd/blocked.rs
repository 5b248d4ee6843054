//! The Winograd convolution in blocks of [`BLOCK`] tiles that stay in the core's cache: each
//! block's input tiles are transformed for every input channel, multiplied by the transformed
//! kernels `ROWS` output channels at a time in registers, and turned into output tiles while the
//! products are still in cache, so that neither the transformed inputs nor the products of a
//! layer go through memory, as they do chunk by chunk (several MiB a chunk). The transformed
//! kernels are packed once per call, in the order the register blocks read them; each task runs
//! a span of consecutive blocks and asks for the next block's input while it multiplies.

use super::*;

/// Tiles per block: two vectors of lanes.
const BLOCK: usize = 2 * LANES;

/// Row stride of a block's products: room for a run of [`LANES`] tiles starting at any tile.
const PRODUCTS_LD: usize = BLOCK + LANES;

/// Output channels per register block (12 × 2 vectors of sums in 24 of AVX-512's 32 registers).
const ROWS: usize = 12;

/// `y [N, C_out, H', W']` of `y = conv(x, W) + bias` for an R×R stride-1 kernel with zero
/// padding `g.padding`, by scheme `S`. Written for AVX-512: with 16 vector registers the sums
/// no longer fit, and the chunked path is faster.
pub(super) fn forward<S: Scheme<A, R, M>, const A: usize, const R: usize, const M: usize>(
    x: &[f32],
    kernels: Kernels,
    bias: Option<&[f32]>,
    g: &Geometry,
) -> Vec<f32> {
    // The packed kernels take the first ROWS lanes of each transformed vector.
    const { assert!(ROWS <= LANES) };
    assert!(g.kernel == [R, R] && g.stride == [1, 1] && g.dilation == [1, 1]);
    let p = A * A;
    let c_in = g.input[1];
    let [batch, c_out, h_out, w_out] = g.output;
    let tiling = Tiling::new(g, M);
    let row_blocks = c_out.div_ceil(ROWS);
    // U [row block][P][C_in][ROWS], zero for the output channels past C_out.
    let packed_len = p * c_in * ROWS;
    // SAFETY: every task writes its whole row block.
    let u = unsafe {
        filled_by(row_blocks * packed_len, |u| {
            u.par_chunks_mut(packed_len)
                .balanced()
                .enumerate()
                .for_each(|(row_block, block)| {
                    dispatch(PackedKernelTransform::<S, A, R, M, ROWS> {
                        kernels,
                        channels: [c_out, c_in],
                        row_block,
                        block,
                        scheme: PhantomData,
                    })
                })
        })
    };
    let fill_y = |y: &mut [MaybeUninit<f32>]| {
        let y = SharedMut(y.as_mut_ptr().cast::<f32>());
        let u = &u;
        let tiling = &tiling;
        let blocks = tiling.total.div_ceil(BLOCK);
        // Each task takes a span of consecutive blocks, so that it can fetch the next block's
        // input windows while it multiplies the current one.
        let span = blocks.div_ceil(8 * rayon::current_num_threads()).max(1);
        (0..blocks.div_ceil(span))
            .into_par_iter()
            .balanced()
            .for_each(|span_index| {
                let span_blocks = span_index * span..(span_index * span + span).min(blocks);
                with_columns(c_in * p * BLOCK + ROWS * p * PRODUCTS_LD, |buffer| {
                    let (v, products) = buffer.split_at_mut(c_in * p * BLOCK);
                    for block_index in span_blocks.clone() {
                        let t0 = block_index * BLOCK;
                        let tc = BLOCK.min(tiling.total - t0);
                        // V [P][C_in][BLOCK]: the products of a position read its
                        // channels one after the other.
                        for channel in 0..c_in {
                            dispatch(TileTransform::<InputWindows<S, R, M>, A, A, M> {
                                planes: x,
                                dims: g.input,
                                padding: g.padding,
                                tiling,
                                channel,
                                chunk: [t0, tc],
                                ld: c_in * BLOCK,
                                width: BLOCK,
                                block: &mut v[channel * BLOCK..],
                                map: PhantomData,
                            });
                        }
                        if block_index + 1 < span_blocks.end {
                            let t1 = t0 + BLOCK;
                            let next = [t1, BLOCK.min(tiling.total - t1)];
                            prefetch_windows::<A, M>(x, g, tiling, next);
                        }
                        for row_block in 0..row_blocks {
                            dispatch(BlockOutputs::<S, A, R, M, ROWS> {
                                v,
                                u: &u[row_block * packed_len..][..packed_len],
                                products,
                                g,
                                tiling,
                                chunk: [t0, tc],
                                row_block,
                                bias,
                                y,
                                scheme: PhantomData,
                            });
                        }
                    }
                });
            });
    };
    // SAFETY: every output sample lies in one tile, every tile in one block, and each block
    // writes its tiles of every output plane.
    unsafe { filled_by(batch * c_out * h_out * w_out, fill_y) }
}

/// `U [P][C_in][ROWS]` of output channels `ROWS · row_block ..` (zero past `C_out`): `G g Gᵀ` of
/// their kernels, the `ROWS` output channels of one input channel side by side in the lanes.
struct PackedKernelTransform<
    'a,
    S,
    const A: usize,
    const R: usize,
    const M: usize,
    const ROWS: usize,
> {
    kernels: Kernels<'a>,
    /// `[C_out, C_in]` of the convolution.
    channels: [usize; 2],
    row_block: usize,
    block: &'a mut [MaybeUninit<f32>],
    scheme: PhantomData<S>,
}

impl<S: Scheme<A, R, M>, const A: usize, const R: usize, const M: usize, const ROWS: usize> Kernel
    for PackedKernelTransform<'_, S, A, R, M, ROWS>
{
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let [c_out, c_in] = self.channels;
        let co0 = ROWS * self.row_block;
        let rows = ROWS.min(c_out - co0);
        for ci in 0..c_in {
            let k = self
                .kernels
                .lanes::<R>(self.channels, [co0, ci], true, rows);
            let u = S::kernel(&k);
            for xi in 0..A * A {
                let dst = &mut self.block[(xi * c_in + ci) * ROWS..][..ROWS];
                for (d, &value) in dst.iter_mut().zip(&u[xi / A][xi % A].0) {
                    d.write(value);
                }
            }
        }
    }
}

/// The output tiles of one block of tiles for `ROWS` output channels: the products
/// `Σ_ci U_ξ[co][ci] · V_ξ[ci][tile]` of every position ξ, summed in registers (`ROWS` channels ×
/// the block's [`BLOCK`] tiles), then `Aᵀ m A + bias` of each tile.
struct BlockOutputs<'a, S, const A: usize, const R: usize, const M: usize, const ROWS: usize> {
    /// `V [P][C_in][BLOCK]` of the block's tiles.
    v: &'a [f32],
    /// `U [P][C_in][ROWS]` of the row block.
    u: &'a [f32],
    /// Scratch for the products, `[ROWS][P][PRODUCTS_LD]`.
    products: &'a mut [f32],
    g: &'a Geometry,
    tiling: &'a Tiling,
    chunk: [usize; 2],
    row_block: usize,
    bias: Option<&'a [f32]>,
    y: SharedMut,
    scheme: PhantomData<S>,
}

impl<S: Scheme<A, R, M>, const A: usize, const R: usize, const M: usize, const ROWS: usize> Kernel
    for BlockOutputs<'_, S, A, R, M, ROWS>
{
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let p = A * A;
        let [_, c_out, h_out, w_out] = self.g.output;
        let c_in = self.g.input[1];
        for xi in 0..p {
            let u = &self.u[xi * c_in * ROWS..][..c_in * ROWS];
            let mut sums = [[Lanes::ZERO; 2]; ROWS];
            for ci in 0..c_in {
                let row = &self.v[(xi * c_in + ci) * BLOCK..][..BLOCK];
                let (v0, v1) = (Lanes::load(row), Lanes::load(&row[LANES..]));
                let weights = &u[ci * ROWS..][..ROWS];
                for (sum, &w) in sums.iter_mut().zip(weights) {
                    sum[0] = multiply_add::<FMA>(v0, w, sum[0]);
                    sum[1] = multiply_add::<FMA>(v1, w, sum[1]);
                }
            }
            for (r, sum) in sums.iter().enumerate() {
                let dst = &mut self.products[(r * p + xi) * PRODUCTS_LD..];
                sum[0].store(dst);
                sum[1].store(&mut dst[LANES..]);
            }
        }
        let [t0, tc] = self.chunk;
        let co0 = ROWS * self.row_block;
        for r in 0..ROWS.min(c_out - co0) {
            let co = co0 + r;
            let bias = Lanes([self.bias.map_or(0.0, |b| b[co]); LANES]);
            let products = &self.products[r * p * PRODUCTS_LD..][..p * PRODUCTS_LD];
            for run in self.tiling.runs(t0, tc) {
                let plane = (run.img * c_out + co) * h_out * w_out;
                let ox = M * run.tx;
                let width = (M * run.len).min(w_out - ox);
                let rows = output_rows::<S, A, R, M>(products, PRODUCTS_LD, run.offset, bias);
                for (dy, row) in rows.iter().enumerate() {
                    let oy = M * run.ty + dy;
                    if oy >= h_out {
                        break;
                    }
                    // SAFETY: `width` samples of row `oy` from column `ox` of plane
                    // (img, co): inside the output, and written by this block alone (they
                    // belong to its tiles).
                    let dst = unsafe {
                        std::slice::from_raw_parts_mut(
                            self.y
                                .get()
                                .add(plane + oy * w_out + ox)
                                .cast::<MaybeUninit<f32>>(),
                            width,
                        )
                    };
                    // Whole vectors stored as such, the row's last partial one sample by sample.
                    for (k, lanes) in row.iter().enumerate() {
                        let start = k * LANES;
                        if start + LANES <= width {
                            lanes.store_uninit(&mut dst[start..]);
                        } else {
                            for (d, &value) in dst[start.min(width)..].iter_mut().zip(&lanes.0) {
                                d.write(value);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `sum + v · w`, fused when `FMA`.
#[inline(always)]
fn multiply_add<const FMA: bool>(v: Lanes, w: f32, sum: Lanes) -> Lanes {
    if FMA {
        Lanes::from_fn(|j| v.0[j].mul_add(w, sum.0[j]))
    } else {
        sum + v * w
    }
}

/// Asks the processor to bring the input windows of tiles `t0..t0 + tc` (N×N windows M apart,
/// every input channel) into its L2 cache.
fn prefetch_windows<const N: usize, const M: usize>(
    x: &[f32],
    g: &Geometry,
    tiling: &Tiling,
    [t0, tc]: [usize; 2],
) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T1, _mm_prefetch};
        let [_, channels, h, w] = g.input;
        let [ph, pw] = g.padding;
        for run in tiling.runs(t0, tc) {
            let y0 = (M * run.ty).saturating_sub(ph);
            let y1 = (M * run.ty + N).saturating_sub(ph).min(h);
            let x0 = (M * run.tx).saturating_sub(pw);
            let x1 = (M * (run.tx + run.len) + N - M).saturating_sub(pw).min(w);
            if x0 >= x1 {
                continue;
            }
            for channel in 0..channels {
                let plane = (run.img * channels + channel) * h * w;
                for y in y0..y1 {
                    let row = &x[plane + y * w + x0..plane + y * w + x1];
                    for line in row.chunks(16) {
                        // SAFETY: a prefetch reads nothing; the address is inside `x`.
                        unsafe { _mm_prefetch::<_MM_HINT_T1>(line.as_ptr().cast()) };
                    }
                }
            }
        }
    }
}
