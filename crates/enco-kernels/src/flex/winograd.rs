//! 3×3 stride-1 convolution by Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray, 2016):
//! each 2×2 output tile is `Aᵀ [Σ_c (G g Gᵀ) ⊙ (Bᵀ d B)] A`, so the channel sums become 16
//! GEMMs of `[C_out × C_in] · [C_in × tiles]`, 2.25× fewer multiplications than im2col + GEMM.
//! The weight gradient uses the same transforms in reverse (16 GEMMs over the tiles). The
//! transforms use only ±1 and ½, which keeps the results within float32 rounding of the
//! direct convolution.

use rayon::prelude::*;

use super::conv::{Geometry, with_columns};

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

/// Whether the geometry is a 3×3 stride-1 undilated convolution.
pub(crate) fn applies(g: &Geometry) -> bool {
    g.kernel == [3, 3] && g.stride == [1, 1] && g.dilation == [1, 1]
}

/// `G g Gᵀ` of one 3×3 kernel, row-major 4×4.
fn transform_kernel(k: &[f32]) -> [f32; 16] {
    let mut gg = [[0f32; 3]; 4];
    for c in 0..3 {
        let (a, b, d) = (k[c], k[3 + c], k[6 + c]);
        gg[0][c] = a;
        gg[1][c] = 0.5 * (a + b + d);
        gg[2][c] = 0.5 * (a - b + d);
        gg[3][c] = d;
    }
    let mut u = [0f32; 16];
    for (r, row) in gg.iter().enumerate() {
        let [a, b, d] = *row;
        u[4 * r] = a;
        u[4 * r + 1] = 0.5 * (a + b + d);
        u[4 * r + 2] = 0.5 * (a - b + d);
        u[4 * r + 3] = d;
    }
    u
}

/// `Bᵀ d B` of one 4×4 input tile, row-major.
fn transform_input(d: &[[f32; 4]; 4]) -> [f32; 16] {
    let mut t = [[0f32; 4]; 4];
    for c in 0..4 {
        t[0][c] = d[0][c] - d[2][c];
        t[1][c] = d[1][c] + d[2][c];
        t[2][c] = d[2][c] - d[1][c];
        t[3][c] = d[1][c] - d[3][c];
    }
    let mut v = [0f32; 16];
    for (r, row) in t.iter().enumerate() {
        v[4 * r] = row[0] - row[2];
        v[4 * r + 1] = row[1] + row[2];
        v[4 * r + 2] = row[2] - row[1];
        v[4 * r + 3] = row[1] - row[3];
    }
    v
}

/// `Aᵀ m A` of one 4×4 product tile: the 2×2 outputs, row-major.
fn transform_output(m: &[f32; 16]) -> [f32; 4] {
    let mut t = [[0f32; 4]; 2];
    for c in 0..4 {
        t[0][c] = m[c] + m[4 + c] + m[8 + c];
        t[1][c] = m[4 + c] - m[8 + c] - m[12 + c];
    }
    [
        t[0][0] + t[0][1] + t[0][2],
        t[0][1] - t[0][2] - t[0][3],
        t[1][0] + t[1][1] + t[1][2],
        t[1][1] - t[1][2] - t[1][3],
    ]
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
        let (tiles_h, tiles_w) = (h_out.div_ceil(2), w_out.div_ceil(2));
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

    /// Tiles per chunk for `channels` transformed channels (inputs plus outputs).
    fn chunk(&self, channels: usize) -> usize {
        (CHUNK / (16 * channels)).clamp(16, self.total.max(16))
    }
}

/// Row stride of the transformed buffers for a chunk of `tc` tiles: padded past a multiple of
/// 16 floats so that the 16 transform positions of a tile do not all map onto the same cache
/// sets (a power-of-two stride would).
fn leading(tc: usize) -> usize {
    tc.next_multiple_of(16) + 16
}

/// `V [C_in][16][ld]`: `Bᵀ d B` of the input tiles `t0..t0 + tc` (zero outside the input), with
/// `ld = leading(tc)`.
fn transform_inputs(x: &[f32], g: &Geometry, t0: usize, tc: usize, v: &mut [f32]) {
    let ld = leading(tc);
    let [_, c_in, h, w] = g.input;
    let [ph, pw] = g.padding;
    let tiling = Tiling::new(g);
    v.par_chunks_mut(16 * ld)
        .enumerate()
        .for_each(|(ci, block)| {
            for t in 0..tc {
                let (img, ty, tx) = tiling.locate(t0 + t);
                let plane = &x[(img * c_in + ci) * h * w..(img * c_in + ci + 1) * h * w];
                let mut d = [[0f32; 4]; 4];
                let y0 = (2 * ty) as isize - ph as isize;
                let x0 = (2 * tx) as isize - pw as isize;
                if y0 >= 0 && x0 >= 0 && y0 as usize + 4 <= h && x0 as usize + 4 <= w {
                    let (y0, x0) = (y0 as usize, x0 as usize);
                    for (r, row) in d.iter_mut().enumerate() {
                        row.copy_from_slice(&plane[(y0 + r) * w + x0..][..4]);
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
                for (xi, value) in transform_input(&d).into_iter().enumerate() {
                    block[xi * ld + t] = value;
                }
            }
        });
}

/// `A z Aᵀ` of one 2×2 output-gradient tile (row-major), the 4×4 gradient of the product tile.
fn transform_output_grad(dy: &[f32; 4]) -> [f32; 16] {
    // A = [[1, 0], [1, 1], [1, −1], [0, −1]].
    let col = |a: f32, b: f32| [a, a + b, a - b, -b];
    let left = col(dy[0], dy[2]);
    let right = col(dy[1], dy[3]);
    let mut z = [0f32; 16];
    for r in 0..4 {
        let row = col(left[r], right[r]);
        z[4 * r..4 * r + 4].copy_from_slice(&row);
    }
    z
}

/// `Gᵀ dU G`: the 3×3 kernel gradient from the gradient of its 4×4 transform (row-major).
fn transform_kernel_grad(du: &[f32; 16]) -> [f32; 9] {
    // Gᵀ = [[1, ½, ½, 0], [0, ½, −½, 0], [0, ½, ½, 1]], applied to columns then rows.
    let reduce =
        |a: f32, b: f32, c: f32, d: f32| [a + 0.5 * (b + c), 0.5 * (b - c), 0.5 * (b + c) + d];
    let mut t = [[0f32; 3]; 4];
    for (r, row) in t.iter_mut().enumerate() {
        *row = reduce(du[4 * r], du[4 * r + 1], du[4 * r + 2], du[4 * r + 3]);
    }
    let mut out = [0f32; 9];
    for c in 0..3 {
        let col = reduce(t[0][c], t[1][c], t[2][c], t[3][c]);
        for r in 0..3 {
            out[3 * r + c] = col[r];
        }
    }
    out
}

/// `y [N, C_out, H', W']` of `y = conv(x, W) + bias` for a 3×3 stride-1 kernel with zero
/// padding `g.padding`.
pub(crate) fn forward(x: &[f32], weight: &[f32], bias: Option<&[f32]>, g: &Geometry) -> Vec<f32> {
    let c_in = g.input[1];
    let [batch, c_out, h_out, w_out] = g.output;
    let tiling = Tiling::new(g);
    let (tiles_w, tiles_per_image, total_tiles) =
        (tiling.tiles_w, tiling.tiles_per_image, tiling.total);

    // U [C_out][16][C_in].
    let mut u = vec![0f32; c_out * 16 * c_in];
    u.par_chunks_mut(16 * c_in)
        .enumerate()
        .for_each(|(co, block)| {
            for ci in 0..c_in {
                let t = transform_kernel(&weight[(co * c_in + ci) * 9..(co * c_in + ci + 1) * 9]);
                for (xi, value) in t.into_iter().enumerate() {
                    block[xi * c_in + ci] = value;
                }
            }
        });

    let plane_out = h_out * w_out;
    let mut y = vec![0f32; batch * c_out * plane_out];
    let chunk = tiling.chunk(c_in + c_out);
    let ld_max = leading(chunk);
    with_columns((c_in + c_out) * 16 * ld_max, |buffer| {
        let (v, m) = buffer.split_at_mut(c_in * 16 * ld_max);
        let mut t0 = 0;
        while t0 < total_tiles {
            let tc = chunk.min(total_tiles - t0);
            let ld = leading(tc);
            // V [C_in][16][ld].
            transform_inputs(x, g, t0, tc, &mut v[..c_in * 16 * ld]);
            // M_ξ = U_ξ · V_ξ for the 16 positions ξ, one single-threaded GEMM per task;
            // M [C_out][16][ld].
            let m_ptr = SharedMut(m.as_mut_ptr());
            let (u, v) = (&u, &*v);
            (0..16).into_par_iter().for_each(|xi| {
                // SAFETY: dst M_ξ (`c_out × tc`, row stride 16·ld, columns xi·ld..xi·ld + tc of
                // each row: disjoint across ξ) inside m, lhs U_ξ (`c_out × c_in`, row stride
                // 16·c_in) inside u, rhs V_ξ (`c_in × tc`, row stride 16·ld) inside v.
                unsafe {
                    gemm::gemm(
                        c_out,
                        tc,
                        c_in,
                        m_ptr.get().add(xi * ld),
                        1,
                        (16 * ld) as isize,
                        false,
                        u.as_ptr().add(xi * c_in),
                        1,
                        (16 * c_in) as isize,
                        v.as_ptr().add(xi * ld),
                        1,
                        (16 * ld) as isize,
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
                        let mut mt = [0f32; 16];
                        for (xi, value) in mt.iter_mut().enumerate() {
                            *value = m[co * 16 * ld + xi * ld + t];
                        }
                        let o = transform_output(&mt);
                        for dy in 0..2 {
                            let oy = 2 * ty + dy;
                            if oy >= h_out {
                                continue;
                            }
                            for dx in 0..2 {
                                let ox = 2 * tx + dx;
                                if ox < w_out {
                                    out[oy * w_out + ox] = o[2 * dy + dx] + b;
                                }
                            }
                        }
                    }
                });
            t0 += tc;
        }
    });
    y
}

/// `dW [C_out, C_in, 3, 3]` of a 3×3 stride-1 convolution given `dY`: with `V = Bᵀ d B` of the
/// input tiles and `Z = A dY_tile Aᵀ` of the output-gradient tiles, the gradient of the kernel
/// transforms is `dU_ξ = Σ_tiles Z_ξ · V_ξᵀ` (16 GEMMs of `[C_out × tiles] · [tiles × C_in]`),
/// and `dW = Gᵀ dU G`.
pub(crate) fn weight_grad(x: &[f32], grad: &[f32], g: &Geometry) -> Vec<f32> {
    let c_in = g.input[1];
    let [_, c_out, h_out, w_out] = g.output;
    let tiling = Tiling::new(g);
    let plane_out = h_out * w_out;
    // dU [16][C_in][C_out] (C_out contiguous: the GEMM's column-major destination).
    let mut du = vec![0f32; 16 * c_in * c_out];
    let chunk = tiling.chunk(c_in + c_out);
    let ld_max = leading(chunk);
    with_columns((c_in + c_out) * 16 * ld_max, |buffer| {
        let (v, z) = buffer.split_at_mut(c_in * 16 * ld_max);
        let mut t0 = 0;
        while t0 < tiling.total {
            let tc = chunk.min(tiling.total - t0);
            let ld = leading(tc);
            // V [C_in][16][ld].
            transform_inputs(x, g, t0, tc, &mut v[..c_in * 16 * ld]);
            // Z [tc][16][C_out]: output channels contiguous, one tile per task.
            z[..tc * 16 * c_out]
                .par_chunks_mut(16 * c_out)
                .enumerate()
                .for_each(|(t, block)| {
                    let (img, ty, tx) = tiling.locate(t0 + t);
                    for co in 0..c_out {
                        let plane = &grad[(img * c_out + co) * plane_out..][..plane_out];
                        let mut dy = [0f32; 4];
                        for dr in 0..2 {
                            let oy = 2 * ty + dr;
                            if oy >= h_out {
                                continue;
                            }
                            for dc in 0..2 {
                                let ox = 2 * tx + dc;
                                if ox < w_out {
                                    dy[2 * dr + dc] = plane[oy * w_out + ox];
                                }
                            }
                        }
                        for (xi, value) in transform_output_grad(&dy).into_iter().enumerate() {
                            block[xi * c_out + co] = value;
                        }
                    }
                });
            let du_ptr = SharedMut(du.as_mut_ptr());
            let (z, v) = (&*z, &*v);
            let first = t0 == 0;
            (0..16).into_par_iter().for_each(|xi| {
                // SAFETY: dst dU_ξ (`c_out × c_in` column-major, the ξ-th block of du: disjoint
                // across ξ), lhs Z_ξ (`c_out × tc`, column stride 16·c_out) inside z, rhs V_ξᵀ
                // (`tc × c_in`, column stride 16·ld) inside v.
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
                        (16 * c_out) as isize,
                        1,
                        v.as_ptr().add(xi * ld),
                        (16 * ld) as isize,
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
    let mut dw = vec![0f32; c_out * c_in * 9];
    dw.par_chunks_mut(c_in * 9)
        .enumerate()
        .for_each(|(co, row)| {
            for ci in 0..c_in {
                let mut u = [0f32; 16];
                for (xi, value) in u.iter_mut().enumerate() {
                    *value = du[(xi * c_in + ci) * c_out + co];
                }
                row[ci * 9..(ci + 1) * 9].copy_from_slice(&transform_kernel_grad(&u));
            }
        });
    dw
}
