//! Sixteen-lane f32 arithmetic and the run-time choice of the instruction set a kernel is
//! compiled for.
//!
//! [`Lanes`] is a plain `[f32; 16]` whose operations are written as element loops: inside a
//! function compiled for AVX-512 each becomes one instruction on a 512-bit register, for AVX2
//! two, and for the baseline target four SSE instructions. [`dispatch`] runs a [`Kernel`]
//! compiled for the level [`simd_level`] names: by default the best the processor has.

use std::mem::MaybeUninit;
use std::ops::{Add, Mul, Neg, Sub};
use std::sync::atomic::{AtomicU8, Ordering};

/// The number of lanes of [`Lanes`].
pub(crate) const LANES: usize = 16;

/// Sixteen f32 values operated on lane by lane (no fused multiply-add, so that every
/// instruction set gives the same bits).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Lanes(pub(crate) [f32; LANES]);

impl Lanes {
    /// All lanes zero.
    pub(crate) const ZERO: Self = Self([0.0; LANES]);

    /// Lane `j` is `f(j)`.
    #[inline(always)]
    pub(crate) fn from_fn(mut f: impl FnMut(usize) -> f32) -> Self {
        let mut out = [0f32; LANES];
        for (j, value) in out.iter_mut().enumerate() {
            *value = f(j);
        }
        Self(out)
    }

    /// The first `LANES` values of `src`.
    #[inline(always)]
    pub(crate) fn load(src: &[f32]) -> Self {
        let mut out = [0f32; LANES];
        out.copy_from_slice(&src[..LANES]);
        Self(out)
    }

    /// The values of `src` (at most `LANES`) in the first lanes, zero in the others.
    #[inline(always)]
    pub(crate) fn load_partial(src: &[f32]) -> Self {
        if src.len() >= LANES {
            return Self::load(src);
        }
        let mut out = [0f32; LANES];
        for (o, &value) in out.iter_mut().zip(src) {
            *o = value;
        }
        Self(out)
    }

    /// Lane `j` is `src[j · stride]`.
    #[inline(always)]
    pub(crate) fn gather(src: &[f32], stride: usize) -> Self {
        assert!(src.len() > (LANES - 1) * stride);
        Self::from_fn(|j| src[j * stride])
    }

    /// The even and the odd elements of 32 consecutive values.
    #[inline(always)]
    pub(crate) fn deinterleave(src: &[f32; 2 * LANES]) -> (Self, Self) {
        (
            Self::from_fn(|j| src[2 * j]),
            Self::from_fn(|j| src[2 * j + 1]),
        )
    }

    /// The even and the odd elements of the 32 values `low` then `high`.
    #[inline(always)]
    pub(crate) fn deinterleave_pair(low: Self, high: Self) -> [Self; 2] {
        let at = |i: usize| {
            if i < LANES {
                low.0[i]
            } else {
                high.0[i - LANES]
            }
        };
        [
            Self::from_fn(|j| at(2 * j)),
            Self::from_fn(|j| at(2 * j + 1)),
        ]
    }

    /// `even[0], odd[0], even[1], odd[1], …` in two halves: the inverse of
    /// [`Lanes::deinterleave`].
    #[inline(always)]
    pub(crate) fn interleave(even: Self, odd: Self) -> (Self, Self) {
        let half = |offset: usize| {
            Self::from_fn(|i| {
                if i % 2 == 0 {
                    even.0[offset + i / 2]
                } else {
                    odd.0[offset + i / 2]
                }
            })
        };
        (half(0), half(LANES / 2))
    }

    /// Writes the lanes to the first `LANES` elements of `dst`.
    #[inline(always)]
    pub(crate) fn store(self, dst: &mut [f32]) {
        dst[..LANES].copy_from_slice(&self.0);
    }

    /// Writes the lanes to the first `LANES` elements of `dst`.
    #[inline(always)]
    pub(crate) fn store_uninit(self, dst: &mut [MaybeUninit<f32>]) {
        for (d, value) in dst[..LANES].iter_mut().zip(self.0) {
            d.write(value);
        }
    }
}

impl Add for Lanes {
    type Output = Self;
    #[inline(always)]
    fn add(mut self, rhs: Self) -> Self {
        for j in 0..LANES {
            self.0[j] += rhs.0[j];
        }
        self
    }
}

impl Sub for Lanes {
    type Output = Self;
    #[inline(always)]
    fn sub(mut self, rhs: Self) -> Self {
        for j in 0..LANES {
            self.0[j] -= rhs.0[j];
        }
        self
    }
}

impl Neg for Lanes {
    type Output = Self;
    #[inline(always)]
    fn neg(mut self) -> Self {
        for a in &mut self.0 {
            *a = -*a;
        }
        self
    }
}

impl Mul<f32> for Lanes {
    type Output = Self;
    #[inline(always)]
    fn mul(mut self, rhs: f32) -> Self {
        for a in &mut self.0 {
            *a *= rhs;
        }
        self
    }
}

/// A loop nest to compile for several instruction sets. [`Kernel::run`] must be
/// `#[inline(always)]` and call only `#[inline(always)]` functions in its hot loops (closures
/// passed to them included), so that [`dispatch`] compiles all of it with the chosen features.
pub(crate) trait Kernel {
    /// What the kernel returns.
    type Output;

    /// Runs the kernel; `FMA` says whether fused multiply-add instructions are available (a
    /// kernel may ignore it to give the same bits everywhere).
    fn run<const FMA: bool>(self) -> Self::Output;
}

/// The instruction sets enco's own flex kernels are compiled for: the direct convolutions (≤ 4
/// output channels), the Winograd transforms and the element-wise passes (instance norm, reflect
/// padding, the resamplers, the LeakyReLU adjoint, the affine map + ReLU and their adjoints) are
/// compiled for each, and the processor's best is chosen at run time, unless [`force_simd_level`] or the [`SIMD_LEVEL_ENV`] environment
/// variable chose another (to test the other paths on a machine that has the best). The GEMMs
/// (the `gemm` crate) and Burn's own operations choose their instruction set themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SimdLevel {
    /// The baseline target (SSE2 on x86-64), no fused multiply-add.
    Scalar,
    /// AVX2 with FMA.
    Avx2,
    /// AVX-512F (with AVX2 and FMA).
    Avx512,
}

impl SimdLevel {
    /// Every level, lowest first.
    pub const ALL: [SimdLevel; 3] = [SimdLevel::Scalar, SimdLevel::Avx2, SimdLevel::Avx512];

    /// The best level this processor runs.
    pub fn detected() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return SimdLevel::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return SimdLevel::Avx2;
            }
        }
        SimdLevel::Scalar
    }

    /// The levels this processor runs, lowest first.
    pub fn supported() -> Vec<SimdLevel> {
        let best = Self::detected();
        Self::ALL.into_iter().filter(|l| *l <= best).collect()
    }

    /// The level's name as [`SIMD_LEVEL_ENV`] takes it: `scalar`, `avx2` or `avx512`.
    pub fn name(self) -> &'static str {
        match self {
            SimdLevel::Scalar => "scalar",
            SimdLevel::Avx2 => "avx2",
            SimdLevel::Avx512 => "avx512",
        }
    }

    fn code(self) -> u8 {
        self as u8 + 1
    }

    fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code).checked_sub(1)?).copied()
    }
}

impl std::str::FromStr for SimdLevel {
    type Err = SimdLevelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|l| l.name() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| SimdLevelError::Unknown(s.to_string()))
    }
}

/// Why a SIMD level cannot be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimdLevelError {
    /// Not one of `scalar`, `avx2`, `avx512`.
    #[error("unknown SIMD level {0:?} (scalar, avx2 or avx512)")]
    Unknown(String),
    /// The processor lacks the instructions.
    #[error("this processor cannot run the {} kernels (its best is {})", .wanted.name(), .detected.name())]
    Unsupported {
        /// The level asked for.
        wanted: SimdLevel,
        /// The best level of this processor.
        detected: SimdLevel,
    },
}

/// The environment variable that chooses the instruction set of the kernels [`SimdLevel`] covers
/// for the whole process (`scalar`, `avx2`, `avx512`), read at the first kernel call (never, if
/// [`force_simd_level`] came first). A level the processor lacks, an unknown name or a value
/// that is not UTF-8 is ignored with a `tracing` warning; [`simd_level`] says which level is in
/// use.
pub const SIMD_LEVEL_ENV: &str = "ENCO_FLEX_SIMD";

/// 0: not decided yet; otherwise [`SimdLevel::code`].
static LEVEL: AtomicU8 = AtomicU8::new(0);

/// Makes every later flex kernel call run the kernels compiled for `level` (`None`: the
/// processor's best, whatever [`SIMD_LEVEL_ENV`] says), in the whole process. For tests and
/// measurements; the default is the best level and needs no call.
pub fn force_simd_level(level: Option<SimdLevel>) -> Result<(), SimdLevelError> {
    let detected = SimdLevel::detected();
    let level = level.unwrap_or(detected);
    if level > detected {
        return Err(SimdLevelError::Unsupported {
            wanted: level,
            detected,
        });
    }
    LEVEL.store(level.code(), Ordering::Relaxed);
    Ok(())
}

/// The instruction set the flex kernels run now.
pub fn simd_level() -> SimdLevel {
    if let Some(level) = SimdLevel::from_code(LEVEL.load(Ordering::Relaxed)) {
        return level;
    }
    let level = level_from_environment();
    // The first decision wins: a concurrent `force_simd_level` or first call is kept.
    match LEVEL.compare_exchange(0, level.code(), Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => level,
        Err(code) => SimdLevel::from_code(code).unwrap_or(level),
    }
}

fn level_from_environment() -> SimdLevel {
    let detected = SimdLevel::detected();
    let value = match std::env::var(SIMD_LEVEL_ENV) {
        Ok(value) => value,
        Err(std::env::VarError::NotPresent) => return detected,
        Err(e) => {
            tracing::warn!("{SIMD_LEVEL_ENV}: {e}; using {}", detected.name());
            return detected;
        }
    };
    match value.parse::<SimdLevel>() {
        Ok(level) if level <= detected => level,
        Ok(level) => {
            tracing::warn!(
                "{SIMD_LEVEL_ENV}={value}: {}; using {}",
                SimdLevelError::Unsupported {
                    wanted: level,
                    detected
                },
                detected.name()
            );
            detected
        }
        Err(e) => {
            tracing::warn!("{SIMD_LEVEL_ENV}: {e}; using {}", detected.name());
            detected
        }
    }
}

/// Runs `kernel` compiled for the instruction set [`simd_level`] names: AVX-512 or AVX2 + FMA
/// when the processor has them (checked at run time), the baseline target otherwise.
#[inline]
pub(crate) fn dispatch<K: Kernel>(kernel: K) -> K::Output {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx2,fma")]
        fn avx512<K: Kernel>(kernel: K) -> K::Output {
            kernel.run::<true>()
        }
        #[target_feature(enable = "avx2,fma")]
        fn avx2<K: Kernel>(kernel: K) -> K::Output {
            kernel.run::<true>()
        }
        match simd_level() {
            // SAFETY: `simd_level` never exceeds what the processor has (`SimdLevel::detected`).
            SimdLevel::Avx512 => return unsafe { avx512(kernel) },
            // SAFETY: as above.
            SimdLevel::Avx2 => return unsafe { avx2(kernel) },
            SimdLevel::Scalar => {}
        }
    }
    kernel.run::<false>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_inverts_deinterleave() {
        let src: [f32; 32] = std::array::from_fn(|i| i as f32);
        let (even, odd) = Lanes::deinterleave(&src);
        assert_eq!(even.0[3], 6.0);
        assert_eq!(odd.0[3], 7.0);
        let (low, high) = Lanes::interleave(even, odd);
        assert_eq!(low.0, src[..LANES]);
        assert_eq!(high.0, src[LANES..]);
    }

    #[test]
    fn deinterleave_pair_matches_deinterleave() {
        let src: [f32; 32] = std::array::from_fn(|i| (i * i) as f32);
        let (even, odd) = Lanes::deinterleave(&src);
        let [e, o] = Lanes::deinterleave_pair(Lanes::load(&src), Lanes::load(&src[LANES..]));
        assert_eq!((e, o), (even, odd));
    }

    #[test]
    fn partial_loads_zero_the_other_lanes() {
        let lanes = Lanes::load_partial(&[1.0, 2.0, 3.0]);
        assert_eq!(&lanes.0[..4], &[1.0, 2.0, 3.0, 0.0]);
        assert_eq!((lanes * 2.0 - lanes + -lanes).0, [0.0; LANES]);
    }

    struct Sum<'a>(&'a [f32]);

    impl Kernel for Sum<'_> {
        type Output = f32;
        #[inline(always)]
        fn run<const FMA: bool>(self) -> f32 {
            self.0.iter().sum()
        }
    }

    #[test]
    fn dispatch_runs_the_kernel() {
        assert_eq!(dispatch(Sum(&[1.0, 2.0, 3.5])), 6.5);
    }

    #[test]
    fn levels_parse_and_order() {
        for level in SimdLevel::ALL {
            assert_eq!(level.name().parse::<SimdLevel>(), Ok(level));
            assert_eq!(SimdLevel::from_code(level.code()), Some(level));
        }
        assert_eq!(" AVX2 ".parse::<SimdLevel>(), Ok(SimdLevel::Avx2));
        assert!(matches!(
            "sse9".parse::<SimdLevel>(),
            Err(SimdLevelError::Unknown(_))
        ));
        assert_eq!(SimdLevel::from_code(0), None);
        let supported = SimdLevel::supported();
        assert_eq!(supported[0], SimdLevel::Scalar);
        assert_eq!(*supported.last().unwrap(), SimdLevel::detected());
    }
}
