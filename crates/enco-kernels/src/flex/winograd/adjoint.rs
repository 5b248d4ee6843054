//! The input gradient of a stride-1 3×3 convolution by the adjoint of its F(2×2, 3×3) forward
//! pass (the transposed Winograd algorithm). The forward pass computes each 2×2 output tile as
//! `Aᵀ [Σ_ci U ⊙ (Bᵀ d B)] A`; its adjoint takes the output-gradient tiles `dY` to
//! `Z = A dY Aᵀ`, multiplies them by the same transformed kernels transposed in channels
//! (`dV_ξ = U_ξᵀ · Z_ξ`, one GEMM per position ξ), and adds the gradients of the 4×4 input
//! windows, `B dV Bᵀ`, into the input gradient where the windows overlap.
//!
//! Against the input gradient as a convolution of the padded `dY` with the flipped kernel, it
//! works on the output's tiles (the convolution's output is smaller than its input by the
//! kernel's reach: 16 × 16 tiles a plane instead of 17 × 17 for the residual blocks at 128 px,
//! whose runs of [`LANES`] tiles then fill every lane), reads `dY` without padding, and
//! transforms the kernels as stored.

use super::*;

/// `dX [N, C_in, H, W]` of the stride-1 convolution of geometry `g` (input `x`, output `dY`,
/// zero padding `g.padding`) with kernel `W [C_out, C_in, R, R]`, given `dY`, by the adjoint of
/// scheme `S`.
pub(super) fn input_grad<
    S: InputAdjoint<A, R, M>,
    const A: usize,
    const R: usize,
    const M: usize,
>(
    grad: &[f32],
    weight: &[f32],
    g: &Geometry,
) -> Vec<f32> {
    assert!(g.kernel == [R, R] && g.stride == [1, 1] && g.dilation == [1, 1]);
    let p = A * A;
    let [batch, c_in, h, w] = g.input;
    let c_out = g.output[1];
    let tiling = Tiling::new(g, M);
    // Every window adds into dX: it starts at zero, written a plane per task.
    if batch * c_in * h * w == 0 {
        return Vec::new();
    }
    let zero_planes = |dx: &mut [MaybeUninit<f32>]| {
        dx.par_chunks_mut(h * w).balanced().for_each(|plane| {
            zeroed(plane);
        })
    };
    // SAFETY: `zero_planes` writes every plane.
    let mut dx = unsafe { filled_by(batch * c_in * h * w, zero_planes) };
    if tiling.total == 0 {
        return dx;
    }
    let chunk = tiling.chunk(p, c_in + c_out);
    let ld_max = leading(chunk);
    // U's blocks one cache line apart from a multiple of 4 KiB: the GEMMs read U_ξᵀ down
    // its columns, one block apart, which a power-of-two stride would map onto one cache set.
    let u_stride = p * c_in + 16;
    let u_len = c_out * u_stride;
    with_columns(u_len + (c_in + c_out) * p * ld_max, |buffer| {
        let (u, buffer) = buffer.split_at_mut(u_len);
        let (z, dv) = buffer.split_at_mut(c_out * p * ld_max);
        // U [C_out][P][C_in], as in the forward pass.
        transform_kernels::<S, A, R, M>(Kernels::Direct(weight), [c_out, c_in], u_stride, u);
        let u = &*u;
        let mut t0 = 0;
        while t0 < tiling.total {
            let tc = chunk.min(tiling.total - t0);
            let ld = leading(tc);
            // Z [C_out][P][ld].
            transform_output_grads::<S, A, R, M>(
                grad,
                g,
                &tiling,
                [t0, tc],
                &mut z[..c_out * p * ld],
            );
            // dV_ξ = U_ξᵀ · Z_ξ for the P positions ξ; dV [C_in][P][ld].
            // SAFETY: dV_ξ (`c_in × tc`) at columns xi·ld..xi·ld + tc of each row of dv (row
            // stride P·ld: disjoint across ξ), U_ξᵀ (`c_in × c_out`, column stride `u_stride`)
            // inside u, Z_ξ (`c_out × tc`, row stride P·ld) inside z.
            unsafe {
                position_products(
                    p,
                    [c_in, tc, c_out],
                    (dv, Layout::new(ld, 1, p * ld)),
                    (u, Layout::new(c_in, u_stride, 1)),
                    (z, Layout::new(ld, 1, p * ld)),
                    false,
                );
            }
            // The windows' gradients added into dX, one input plane per task.
            let dv = &*dv;
            dx.par_chunks_mut(h * w)
                .balanced()
                .enumerate()
                .for_each(|(plane_index, plane)| {
                    dispatch(WindowAdjoint::<S, A, R, M> {
                        dv,
                        g,
                        tiling: &tiling,
                        chunk: [t0, tc],
                        plane_index,
                        plane,
                        scheme: PhantomData,
                    })
                });
            t0 += tc;
        }
    });
    dx
}

/// Adds `B dV Bᵀ` of the chunk's tiles of one image into one input plane `plane [H, W]` (image
/// and input channel `plane_index`), from `dV [C_in][α²][ld]`: tile `(ty, tx)`'s window starts
/// at `(M·ty − pad, M·tx − pad)`, and its samples outside the plane (the padding) are dropped.
/// The tiles add in their order, so every sample's sum has one order whatever the threads.
struct WindowAdjoint<'a, S, const A: usize, const R: usize, const M: usize> {
    dv: &'a [f32],
    g: &'a Geometry,
    tiling: &'a Tiling,
    chunk: [usize; 2],
    plane_index: usize,
    plane: &'a mut [f32],
    scheme: PhantomData<S>,
}

impl<S: InputAdjoint<A, R, M>, const A: usize, const R: usize, const M: usize> Kernel
    for WindowAdjoint<'_, S, A, R, M>
{
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let [_, c_in, h, w] = self.g.input;
        let [ph, pw] = self.g.padding;
        let [t0, tc] = self.chunk;
        let ld = leading(tc);
        let p = A * A;
        let (img, ci) = (self.plane_index / c_in, self.plane_index % c_in);
        let tiling = self.tiling;
        let Some([lo, hi]) = tiling.image_span(img, [t0, tc]) else {
            return;
        };
        let dv = &self.dv[ci * p * ld..][..p * ld];
        for run in tiling.runs(lo, hi - lo) {
            let t = lo - t0 + run.offset;
            // The lanes past the run's tiles hold other tiles' values or nothing: zero, since
            // their windows overlap the run's last one.
            let mut tile = [[Lanes::ZERO; A]; A];
            for (r, row) in tile.iter_mut().enumerate() {
                for (c, value) in row.iter_mut().enumerate() {
                    let src = &dv[(r * A + c) * ld + t..];
                    *value = if run.len == LANES {
                        Lanes::load(src)
                    } else {
                        Lanes::load_partial(&src[..run.len])
                    };
                }
            }
            let windows = S::input_adjoint(&tile);
            let x0 = (M * run.tx) as isize - pw as isize;
            let samples = M * run.len + (A - M);
            for (r, window_row) in windows.iter().enumerate() {
                let y = (M * run.ty + r) as isize - ph as isize;
                if y < 0 || y as usize >= h {
                    continue;
                }
                let row = &mut self.plane[y as usize * w..][..w];
                let sums = overlapped_row::<A, M>(window_row);
                if x0 >= 0 && x0 as usize + ROW_SAMPLES <= w {
                    let dst = &mut row[x0 as usize..][..ROW_SAMPLES];
                    // Whole vectors, then the last samples; the samples past the run's
                    // windows are zero.
                    for k in 0..ROW_SAMPLES / LANES {
                        let at = &mut dst[k * LANES..][..LANES];
                        (Lanes::load(at) + Lanes::load(&sums[k * LANES..])).store(at);
                    }
                    for k in ROW_SAMPLES / LANES * LANES..ROW_SAMPLES {
                        dst[k] += sums[k];
                    }
                } else {
                    for (k, &value) in sums[..samples].iter().enumerate() {
                        let x = x0 + k as isize;
                        if x >= 0 && (x as usize) < w {
                            row[x as usize] += value;
                        }
                    }
                }
            }
        }
    }
}

/// Samples one window row of [`LANES`] F(2×2, 3×3) tiles covers: their 4-wide windows start 2
/// apart.
const ROW_SAMPLES: usize = 2 * LANES + 2;

/// One row of [`LANES`] windows of width α starting M samples apart (lane `j` of `row[c]` is
/// sample `c` of window `j`), added where they overlap: sample `k` of the result is the sum of
/// sample `k − M·j` of the windows `j` that cover it (two at most). Written for F(2×2, 3×3)
/// (α = 4, M = 2).
#[inline(always)]
fn overlapped_row<const A: usize, const M: usize>(row: &[Lanes; A]) -> [f32; ROW_SAMPLES] {
    const { assert!(A == 4 && M == 2) };
    // Samples 0 and 1 of the windows at 2j and 2j + 1, samples 2 and 3 at 2j + 2 and 2j + 3.
    let (first_lo, first_hi) = Lanes::interleave(row[0], row[1]);
    let (last_lo, last_hi) = Lanes::interleave(row[2], row[3]);
    // The later samples two on: lane i of the shifted pair is lane i − 2 of the pair.
    let shifted_lo = Lanes::from_fn(|i| if i < 2 { 0.0 } else { last_lo.0[i - 2] });
    let shifted_hi = Lanes::from_fn(|i| {
        if i < 2 {
            last_lo.0[LANES - 2 + i]
        } else {
            last_hi.0[i - 2]
        }
    });
    let mut sums = [0f32; ROW_SAMPLES];
    (first_lo + shifted_lo).store(&mut sums[..LANES]);
    (first_hi + shifted_hi).store(&mut sums[LANES..]);
    sums[2 * LANES] = last_hi.0[LANES - 2];
    sums[2 * LANES + 1] = last_hi.0[LANES - 1];
    sums
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Bᵀ d B` and `B dV Bᵀ` are adjoint: ⟨B dV Bᵀ, d⟩ = ⟨dV, Bᵀ d B⟩ in every lane.
    #[test]
    fn the_input_adjoint_is_the_adjoint_of_the_input_transform() {
        let value = |i: usize| ((i * 37 + 11) % 23) as f32 / 7.0 - 1.5;
        let mut d = [[Lanes::ZERO; 4]; 4];
        let mut dv = [[Lanes::ZERO; 4]; 4];
        for r in 0..4 {
            for c in 0..4 {
                d[r][c] = Lanes::from_fn(|j| value(j * 16 + r * 4 + c));
                dv[r][c] = Lanes::from_fn(|j| value(j * 16 + r * 4 + c + 300));
            }
        }
        let v = F3::input(&d);
        let back = F3::input_adjoint(&dv);
        for j in 0..LANES {
            let (mut lhs, mut rhs) = (0f64, 0f64);
            for r in 0..4 {
                for c in 0..4 {
                    lhs += f64::from(back[r][c].0[j]) * f64::from(d[r][c].0[j]);
                    rhs += f64::from(dv[r][c].0[j]) * f64::from(v[r][c].0[j]);
                }
            }
            assert!((lhs - rhs).abs() < 1e-4, "lane {j}: {lhs} against {rhs}");
        }
    }

    /// Window `j`'s sample `c` lands on sample `2j + c`, overlapping windows added in order.
    #[test]
    fn overlapped_rows_add_the_windows_where_they_overlap() {
        let row: [Lanes; 4] = std::array::from_fn(|c| Lanes::from_fn(|j| (100 * j + c) as f32));
        let sums = overlapped_row::<4, 2>(&row);
        for (k, &sum) in sums.iter().enumerate() {
            let mut expected = 0.0;
            for j in 0..LANES {
                for c in 0..4 {
                    if 2 * j + c == k {
                        expected += (100 * j + c) as f32;
                    }
                }
            }
            assert_eq!(sum, expected, "sample {k}");
        }
    }
}
