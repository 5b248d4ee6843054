//! The three Winograd schemes, F(2×2, 3×3), F(4×4, 3×3) and F(2×2, 4×4): their five
//! transforms on [`LANES`] tiles at once.

// The transforms index small fixed-size tiles by row and column, as the formulas do.
#![allow(clippy::needless_range_loop)]

use super::*;

/// An N×N tile of [`LANES`] tiles side by side, one per lane.
pub(super) type Tile<const N: usize> = [[Lanes; N]; N];

/// The five transforms of a scheme F(M×M, R×R) with α×α input tiles, `A = α = M + R − 1`,
/// each applied to [`LANES`] tiles at once.
pub(super) trait Scheme<const A: usize, const R: usize, const M: usize> {
    /// `G g Gᵀ` of R×R kernels.
    fn kernel(k: &Tile<R>) -> Tile<A>;
    /// `Bᵀ d B` of input tiles.
    fn input(d: &Tile<A>) -> Tile<A>;
    /// `Aᵀ m A` of product tiles: the M×M outputs.
    fn output(m: &Tile<A>) -> Tile<M>;
    /// `A z Aᵀ` of M×M output-gradient tiles: the gradients of the product tiles.
    fn output_grad(dy: &Tile<M>) -> Tile<A>;
    /// `Gᵀ dU G`: the kernel gradients from the gradients of their transforms.
    fn kernel_grad(du: &Tile<A>) -> Tile<R>;
}

/// F(2×2, 3×3) with Lavin's transforms, written out.
pub(super) struct F3;

impl Scheme<4, 3, 2> for F3 {
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

/// The adjoint of a scheme's input transform, for the input gradient by the transposed
/// algorithm ([`adjoint`](super::adjoint)).
pub(super) trait InputAdjoint<const A: usize, const R: usize, const M: usize>:
    Scheme<A, R, M>
{
    /// `B dV Bᵀ`: the gradients of the α×α input windows from those of their transforms
    /// `V = Bᵀ d B`.
    fn input_adjoint(dv: &Tile<A>) -> Tile<A>;
}

impl InputAdjoint<4, 3, 2> for F3 {
    #[inline(always)]
    fn input_adjoint(dv: &Tile<4>) -> Tile<4> {
        // B = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]]ᵀ, applied to the
        // columns and then the rows.
        #[inline(always)]
        fn col([v0, v1, v2, v3]: [Lanes; 4]) -> [Lanes; 4] {
            [v0, v1 - v2 + v3, v1 + v2 - v0, -v3]
        }
        let mut t = [[Lanes::ZERO; 4]; 4];
        for c in 0..4 {
            let column = col([dv[0][c], dv[1][c], dv[2][c], dv[3][c]]);
            for r in 0..4 {
                t[r][c] = column[r];
            }
        }
        let mut out = [[Lanes::ZERO; 4]; 4];
        for r in 0..4 {
            out[r] = col(t[r]);
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
pub(super) struct F4;

/// ⅙ in f32.
pub(super) const SIXTH: f32 = 1.0 / 6.0;

impl F4 {
    /// `Bᵀ d` of a 5-vector.
    #[inline(always)]
    pub(super) fn bt([d0, d1, d2, d3, d4]: [Lanes; 5]) -> [Lanes; 5] {
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
    pub(super) fn g([a, b, c, d]: [Lanes; 4]) -> [Lanes; 5] {
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
    pub(super) fn at([m0, m1, m2, m3, m4]: [Lanes; 5]) -> [Lanes; 2] {
        [m0 + m1 + m2 + m3, m1 - m2 + m3 * 2.0 + m4]
    }

    /// `A y` of a 2-vector.
    #[inline(always)]
    pub(super) fn a([y0, y1]: [Lanes; 2]) -> [Lanes; 5] {
        [y0, y0 + y1, y0 - y1, y0 + y1 * 2.0, y1]
    }

    /// `Gᵀ u` of a 5-vector.
    #[inline(always)]
    pub(super) fn gt([u0, u1, u2, u3, u4]: [Lanes; 5]) -> [Lanes; 4] {
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
pub(super) fn sandwich<const P: usize, const Q: usize>(
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

impl Scheme<5, 4, 2> for F4 {
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

/// F(4×4, 3×3) from the Toom–Cook points 0, 1, −1, ½, −2 and ∞ (of the usual choices, the one
/// with the smallest float32 error), written out as the 1-D transforms applied to the columns
/// and then the rows of a tile:
///
/// ```text
/// Bᵀ = [1 −3/2 −2 3/2 1 0; 0 −1 ½ 5/2 1 0; 0 1 −5/2 ½ 1 0;
///       0 −2 −1 2 1 0; 0 ½ −1 −½ 1 0; 0 1 −3/2 −2 3/2 1]
/// G  = [1 0 0; ⅓ ⅓ ⅓; −⅓ ⅓ −⅓; −16/15 −8/15 −4/15; 1/15 −2/15 4/15; 0 0 1]
/// Aᵀ = [1 1 1 1 1 0; 0 1 −1 ½ −2 0; 0 1 1 ¼ 4 0; 0 1 −1 ⅛ −8 1]
/// ```
///
/// It does 2.25 multiplications per output against F(2×2, 3×3)'s 4, at about twice its float32
/// error: the convolutions use it for the gradients only (`docs/performance.md`).
pub(super) struct F3Large;

/// ⅓ in f32.
const THIRD: f32 = 1.0 / 3.0;
/// 1/15 in f32.
const FIFTEENTH: f32 = 1.0 / 15.0;

impl F3Large {
    /// `Bᵀ d` of a 6-vector.
    #[inline(always)]
    fn bt([d0, d1, d2, d3, d4, d5]: [Lanes; 6]) -> [Lanes; 6] {
        [
            d0 - d2 * 2.0 + d4 + (d3 - d1) * 1.5,
            d4 - d1 + d2 * 0.5 + d3 * 2.5,
            d4 + d1 - d2 * 2.5 + d3 * 0.5,
            d4 - d2 + (d3 - d1) * 2.0,
            d4 - d2 + (d1 - d3) * 0.5,
            d5 + d1 - d3 * 2.0 + (d4 - d2) * 1.5,
        ]
    }

    /// `G k` of a 3-vector.
    #[inline(always)]
    fn g([a, b, c]: [Lanes; 3]) -> [Lanes; 6] {
        [
            a,
            (a + b + c) * THIRD,
            (b - a - c) * THIRD,
            (a * 16.0 + b * 8.0 + c * 4.0) * -FIFTEENTH,
            (a - b * 2.0 + c * 4.0) * FIFTEENTH,
            c,
        ]
    }

    /// `Aᵀ m` of a 6-vector.
    #[inline(always)]
    fn at([m0, m1, m2, m3, m4, m5]: [Lanes; 6]) -> [Lanes; 4] {
        let (sum, diff) = (m1 + m2, m1 - m2);
        [
            m0 + sum + m3 + m4,
            diff + m3 * 0.5 - m4 * 2.0,
            sum + m3 * 0.25 + m4 * 4.0,
            diff + m3 * 0.125 - m4 * 8.0 + m5,
        ]
    }

    /// `A y` of a 4-vector.
    #[inline(always)]
    fn a([y0, y1, y2, y3]: [Lanes; 4]) -> [Lanes; 6] {
        let (even, odd) = (y0 + y2, y1 + y3);
        [
            y0,
            even + odd,
            even - odd,
            y0 + y1 * 0.5 + y2 * 0.25 + y3 * 0.125,
            y0 - y1 * 2.0 + y2 * 4.0 - y3 * 8.0,
            y3,
        ]
    }

    /// `Gᵀ u` of a 6-vector.
    #[inline(always)]
    fn gt([u0, u1, u2, u3, u4, u5]: [Lanes; 6]) -> [Lanes; 3] {
        let (sum, diff) = (u1 + u2, u1 - u2);
        [
            u0 + diff * THIRD + (u4 - u3 * 16.0) * FIFTEENTH,
            sum * THIRD - (u3 * 8.0 + u4 * 2.0) * FIFTEENTH,
            u5 + diff * THIRD + (u4 - u3) * (4.0 * FIFTEENTH),
        ]
    }
}

impl Scheme<6, 3, 4> for F3Large {
    #[inline(always)]
    fn kernel(k: &Tile<3>) -> Tile<6> {
        sandwich(k, Self::g)
    }

    #[inline(always)]
    fn input(d: &Tile<6>) -> Tile<6> {
        sandwich(d, Self::bt)
    }

    #[inline(always)]
    fn output(m: &Tile<6>) -> Tile<4> {
        sandwich(m, Self::at)
    }

    #[inline(always)]
    fn output_grad(dy: &Tile<4>) -> Tile<6> {
        sandwich(dy, Self::a)
    }

    #[inline(always)]
    fn kernel_grad(du: &Tile<6>) -> Tile<3> {
        sandwich(du, Self::gt)
    }
}
