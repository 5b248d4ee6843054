//! Discriminator-guided (DAG) patch sampling (docs/reference.md §4.4, §4.6).

use burn::prelude::*;
use rand::Rng;
use rand::seq::index::sample as sample_distinct;

use crate::error::SamplingError;

/// Configuration of the DAG sampler (`--num_patches`, `--oversample_ratio`, `--random_ratio`).
///
/// The paper's importance ratio β is `1 − random_ratio`. Uniform sampling (paper: k = 1, β = 0)
/// is `oversample_ratio = 1, random_ratio = 1`, see [`DagSamplerConfig::uniform`].
#[derive(Config, Debug, PartialEq)]
pub struct DagSamplerConfig {
    /// Patches per feature map and sample, K (256).
    #[config(default = 256)]
    pub num_patches: usize,
    /// Candidates drawn per kept "good" patch, k (4).
    #[config(default = 4)]
    pub oversample_ratio: usize,
    /// Share of the K patches drawn uniformly at random (0.5).
    #[config(default = 0.5)]
    pub random_ratio: f64,
}

impl DagSamplerConfig {
    /// Uniform sampling of `num_patches` distinct positions (no score map needed).
    pub fn uniform(num_patches: usize) -> Self {
        Self::new()
            .with_num_patches(num_patches)
            .with_oversample_ratio(1)
            .with_random_ratio(1.0)
    }

    /// Checks the configuration and builds the sampler.
    pub fn init(&self) -> Result<DagSampler, SamplingError> {
        if self.num_patches == 0 {
            return Err(SamplingError::ZeroPatches);
        }
        if self.oversample_ratio == 0 {
            return Err(SamplingError::ZeroOversample);
        }
        if !(0.0..=1.0).contains(&self.random_ratio) {
            return Err(SamplingError::InvalidRandomRatio(self.random_ratio));
        }
        Ok(DagSampler {
            num_patches: self.num_patches,
            oversample_ratio: self.oversample_ratio,
            random_ratio: self.random_ratio,
        })
    }
}

/// How many patches of each kind one map of H·W positions gets (docs/reference.md §4.4 step 2, §4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatchCounts {
    /// Patches per sample, `n = min(K, H·W)`.
    pub n: usize,
    /// Lowest-score patches, `n − n_rand`.
    pub n_good: usize,
    /// Uniformly drawn patches, `floor(n · random_ratio)`.
    pub n_rand: usize,
    /// Candidate positions, `min(n · k, H·W)`.
    pub n_candidates: usize,
}

/// The DAG sampler: per sample, draws `min(n·k, H·W)` distinct candidate positions, keeps the
/// `n_good` with the **lowest** discriminator scores (the regions that look least real, as the
/// official code does; docs/reference.md §14.3), then appends `n_rand` distinct uniformly drawn positions,
/// which may repeat good ones (docs/reference.md §4.4).
///
/// **Tie-break.** Candidates are ordered by score with a stable sort, so equal scores keep the
/// order in which the candidates were drawn; as the draw order is uniformly random, tied
/// positions at the cut are chosen uniformly at random. (PyTorch's CPU sort is unstable, so its
/// choice among ties is implementation-defined; the multiset of selected scores is the same.)
#[derive(Debug, Clone, PartialEq)]
pub struct DagSampler {
    num_patches: usize,
    oversample_ratio: usize,
    random_ratio: f64,
}

impl DagSampler {
    /// The patch counts for a map of `positions` = H·W entries.
    pub fn counts(&self, positions: usize) -> PatchCounts {
        let n = self.num_patches.min(positions);
        let n_rand = (n as f64 * self.random_ratio).floor() as usize;
        PatchCounts {
            n,
            n_good: n - n_rand,
            n_rand,
            n_candidates: (n * self.oversample_ratio).min(positions),
        }
    }

    /// Samples the ids of one map: `n_good` lowest-score candidates (ascending score), then
    /// `n_rand` random ids. `scores` is the resized score map, row-major (`p = y·W + x`); it may
    /// be `None` when no good patches are kept (uniform sampling).
    ///
    /// # Shapes
    /// - `scores` `positions` = H·W values, output `n = min(K, positions)` ids in `0..positions`
    pub fn sample_map<R: Rng + ?Sized>(
        &self,
        scores: Option<&[f32]>,
        positions: usize,
        rng: &mut R,
    ) -> Result<Vec<usize>, SamplingError> {
        if positions == 0 {
            return Err(SamplingError::EmptyMap {
                height: 0,
                width: 0,
            });
        }
        let counts = self.counts(positions);
        let mut ids = Vec::with_capacity(counts.n);
        if counts.n_good > 0 {
            let scores = scores.ok_or(SamplingError::MissingScores)?;
            if scores.len() != positions {
                return Err(SamplingError::ScoreSize {
                    expected: positions,
                    got: scores.len(),
                });
            }
            let candidates = sample_distinct(rng, positions, counts.n_candidates).into_vec();
            ids.extend(self.select_good(scores, candidates)?);
        }
        if counts.n_rand > 0 {
            ids.extend(sample_distinct(rng, positions, counts.n_rand));
        }
        Ok(ids)
    }

    /// The deterministic part of DAG sampling (docs/reference.md §4.4 steps b–c): orders `candidates` by
    /// ascending score (stable: ties keep candidate order) and keeps the first `n_good`, where
    /// `n_good` follows from the map size `scores.len()`.
    pub fn select_good(
        &self,
        scores: &[f32],
        mut candidates: Vec<usize>,
    ) -> Result<Vec<usize>, SamplingError> {
        let positions = scores.len();
        if let Some(&bad) = candidates.iter().find(|&&c| c >= positions) {
            return Err(SamplingError::ScoreSize {
                expected: bad + 1,
                got: positions,
            });
        }
        let n_good = self.counts(positions).n_good.min(candidates.len());
        candidates.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
        candidates.truncate(n_good);
        Ok(candidates)
    }

    /// Samples ids for every batch element of a resized score map `[B, 1, H, W]` (docs/reference.md §4.4
    /// step 3), in batch order. Reads the map back to the host.
    ///
    /// # Shapes
    /// - `scores` `[B, 1, H, W]`
    /// - output `B` id lists (batch order) of `n = min(K, H·W)` flat positions `p = y·W + x`
    pub fn sample<B: Backend, R: Rng + ?Sized>(
        &self,
        scores: Tensor<B, 4>,
        rng: &mut R,
    ) -> Result<Vec<Vec<usize>>, SamplingError> {
        let [b, c, h, w] = scores.dims();
        if c != 1 {
            return Err(SamplingError::ScoreShape(vec![b, c, h, w]));
        }
        if h == 0 || w == 0 {
            return Err(SamplingError::EmptyMap {
                height: h,
                width: w,
            });
        }
        let values: Vec<f32> = scores
            .into_data()
            .convert::<f32>()
            .into_vec()
            .expect("float data converts to f32");
        values
            .chunks(h * w)
            .map(|map| self.sample_map(Some(map), h * w, rng))
            .collect()
    }

    /// Uniform ids for `batch` maps of H·W positions, ignoring scores (valid when the sampler
    /// keeps no good patches, i.e. `random_ratio = 1`).
    ///
    /// # Shapes
    /// - output `batch` id lists of `n = min(K, positions)` ids in `0..positions`
    pub fn sample_without_scores<R: Rng + ?Sized>(
        &self,
        batch: usize,
        positions: usize,
        rng: &mut R,
    ) -> Result<Vec<Vec<usize>>, SamplingError> {
        (0..batch)
            .map(|_| self.sample_map(None, positions, rng))
            .collect()
    }
}
