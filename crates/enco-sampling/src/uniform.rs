//! Uniform patch sampling shared by every image of a batch, as CUT's `PatchSampleF` draws it
//! (official `models/networks.py`).

use rand::Rng;
use rand::seq::index::sample as sample_distinct;

/// The first `min(num_patches, positions)` entries of a uniformly random permutation of
/// `0..positions`: distinct flat positions `p = y·W + x`, in random order. CUT draws one such
/// list per tapped layer and uses it for every image of the batch and for both the k and the q
/// side.
pub fn uniform_patch_ids<R: Rng + ?Sized>(
    positions: usize,
    num_patches: usize,
    rng: &mut R,
) -> Vec<usize> {
    let n = num_patches.min(positions);
    sample_distinct(rng, positions, n).into_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn ids_are_distinct_in_range_and_cover_small_maps() {
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(3);
        let ids = uniform_patch_ids(100, 30, &mut rng);
        assert_eq!(ids.len(), 30);
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 30);
        assert!(sorted.iter().all(|&p| p < 100));
        let mut all = uniform_patch_ids(16, 64, &mut rng);
        all.sort_unstable();
        assert_eq!(all, (0..16).collect::<Vec<_>>());
    }
}
