//! The output plane cut into M×M tiles, and the runs of [`LANES`] tiles whose windows are
//! read as vectors.

use super::*;

/// The tiling of the output plane into M×M tiles, numbered image by image, row by row.
pub(super) struct Tiling {
    pub(super) tiles_w: usize,
    pub(super) tiles_per_image: usize,
    pub(super) total: usize,
}

impl Tiling {
    /// The tiles of side `m` of `g`'s output planes.
    pub(super) fn new(g: &Geometry, m: usize) -> Self {
        let [batch, _, h_out, w_out] = g.output;
        let (tiles_h, tiles_w) = (h_out.div_ceil(m), w_out.div_ceil(m));
        Self {
            tiles_w,
            tiles_per_image: tiles_h * tiles_w,
            total: batch * tiles_h * tiles_w,
        }
    }

    /// (image, tile row, tile column) of tile `tile`.
    pub(super) fn locate(&self, tile: usize) -> (usize, usize, usize) {
        let (img, rem) = (tile / self.tiles_per_image, tile % self.tiles_per_image);
        (img, rem / self.tiles_w, rem % self.tiles_w)
    }

    /// The tiles `lo..hi` of image `img` among the chunk's tiles `t0..t0 + tc`, if any.
    pub(super) fn image_span(&self, img: usize, [t0, tc]: [usize; 2]) -> Option<[usize; 2]> {
        let first = img * self.tiles_per_image;
        let lo = t0.max(first);
        let hi = (t0 + tc).min(first + self.tiles_per_image);
        (lo < hi).then_some([lo, hi])
    }

    /// Tiles per chunk for `channels` transformed channels (inputs plus outputs) of
    /// `positions` (α²) values each.
    pub(super) fn chunk(&self, positions: usize, channels: usize) -> usize {
        (CHUNK / (positions * channels)).clamp(LANES, self.total.max(LANES))
    }

    /// The tiles `t0..t0 + tc` as [`Run`]s of at most [`LANES`] consecutive tiles of one tile
    /// row.
    pub(super) fn runs(&self, t0: usize, tc: usize) -> impl Iterator<Item = Run> + '_ {
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
pub(super) struct Run {
    /// The first tile's index in its chunk.
    pub(super) offset: usize,
    pub(super) img: usize,
    pub(super) ty: usize,
    pub(super) tx: usize,
    pub(super) len: usize,
}

/// Row stride of the transformed buffers for a chunk of `tc` tiles: padded past a multiple of
/// 16 floats so that the α² transform positions of a tile do not all map onto the same cache
/// sets (a power-of-two stride would), and so that a run of [`LANES`] tiles starting at any
/// tile of the chunk fits in a row.
pub(super) fn leading(tc: usize) -> usize {
    tc.next_multiple_of(16) + 16
}

/// The samples that a run of [`LANES`] tiles (at most 4 apart) reads from one row, for windows
/// of at most 6 samples.
pub(super) const ROW_WINDOW: usize = 4 * LANES + 4;

/// Sample `c` of the windows of [`LANES`] tiles whose windows start `S` apart in `src` (lane
/// `j`: `src[S·j + c]`), for `c < N`; `src` holds at least `S·(LANES − 1) + N` samples. `S` is
/// 2 or 4: the windows' first samples are one or two de-interleaves of consecutive vectors, and
/// sample `c ≥ S` is sample `c − S` one lane on.
#[inline(always)]
pub(super) fn strided_lanes<const N: usize, const S: usize>(src: &[f32]) -> [Lanes; N] {
    let mut out = [Lanes::ZERO; N];
    match S {
        2 => {
            for c in (0..N).step_by(2) {
                if c + 1 < N {
                    let pair: &[f32; 2 * LANES] = src[c..][..2 * LANES].try_into().unwrap();
                    (out[c], out[c + 1]) = Lanes::deinterleave(pair);
                } else {
                    let last: &[f32; 2 * LANES - 1] = src[c..][..2 * LANES - 1].try_into().unwrap();
                    out[c] = Lanes::from_fn(|j| last[2 * j]);
                }
            }
        }
        4 => {
            let lo: &[f32; 2 * LANES] = src[..2 * LANES].try_into().unwrap();
            let hi: &[f32; 2 * LANES] = src[2 * LANES..][..2 * LANES].try_into().unwrap();
            let (even_lo, odd_lo) = Lanes::deinterleave(lo);
            let (even_hi, odd_hi) = Lanes::deinterleave(hi);
            let [c0, c2] = Lanes::deinterleave_pair(even_lo, even_hi);
            let [c1, c3] = Lanes::deinterleave_pair(odd_lo, odd_hi);
            let first = [c0, c1, c2, c3];
            for c in 0..N {
                out[c] = if c < 4 {
                    first[c]
                } else {
                    let prev = out[c - 4];
                    let last = src[4 * (LANES - 1) + c];
                    Lanes::from_fn(|j| if j + 1 < LANES { prev.0[j + 1] } else { last })
                };
            }
        }
        _ => unreachable!("windows start 2 or 4 samples apart"),
    }
    out
}

/// Row `y` of the N-wide windows of [`LANES`] tiles starting at columns `x0, x0 + S, …` of a
/// `[h, w]` plane (lane `j`, element `c`: sample `(y, x0 + S·j + c)`), zero outside the plane.
#[inline(always)]
pub(super) fn tile_row_lanes<const N: usize, const S: usize>(
    plane: &[f32],
    [h, w]: [usize; 2],
    y: isize,
    x0: isize,
) -> [Lanes; N] {
    let need = S * (LANES - 1) + N.max(S);
    if y >= 0 && (y as usize) < h && x0 >= 0 && x0 as usize + need <= w {
        let start = y as usize * w + x0 as usize;
        return strided_lanes::<N, S>(&plane[start..][..need]);
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
    strided_lanes::<N, S>(&window[..need])
}
