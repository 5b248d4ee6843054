//! DAG sampling (docs/reference.md §4.4, §4.6): counts for every edge case, lowest-score selection checked
//! against the official sampler's recorded candidates, and bad configurations.

mod common;

use common::*;
use enco::sampling::{DagSamplerConfig, PatchCounts, SamplingError};
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

fn sampler(k: usize, os: usize, r: f64) -> enco::sampling::DagSampler {
    DagSamplerConfig::new()
        .with_num_patches(k)
        .with_oversample_ratio(os)
        .with_random_ratio(r)
        .init()
        .unwrap()
}

#[test]
fn counts_follow_the_spec_for_every_edge_case() {
    let counts = |k, os, r, hw| sampler(k, os, r).counts(hw);
    let pc = |n, n_good, n_rand, n_candidates| PatchCounts {
        n,
        n_good,
        n_rand,
        n_candidates,
    };
    // Defaults on a 64×64 map: 128 good + 128 random, 1024 candidates.
    assert_eq!(counts(256, 4, 0.5, 64 * 64), pc(256, 128, 128, 1024));
    // Candidates capped by the map.
    assert_eq!(counts(256, 4, 0.5, 16 * 16), pc(256, 128, 128, 256));
    // K larger than the map: n = H·W, the whole map is the candidate set.
    assert_eq!(counts(256, 4, 0.5, 8 * 8), pc(64, 32, 32, 64));
    // Pure uniform (random_ratio 1): no good patches.
    assert_eq!(counts(256, 1, 1.0, 32 * 32), pc(256, 0, 256, 256));
    // Pure DAG (random_ratio 0).
    assert_eq!(counts(256, 4, 0.0, 32 * 32), pc(256, 256, 0, 1024));
    // Paper β = 0.75 ↔ random_ratio 0.25; odd n rounds the random part down.
    assert_eq!(counts(256, 4, 0.25, 64 * 64), pc(256, 192, 64, 1024));
    assert_eq!(counts(7, 2, 0.5, 100), pc(7, 4, 3, 14));
}

#[test]
fn invalid_configurations_are_errors() {
    let init = |k, os, r| {
        DagSamplerConfig::new()
            .with_num_patches(k)
            .with_oversample_ratio(os)
            .with_random_ratio(r)
            .init()
    };
    assert_eq!(init(0, 4, 0.5).unwrap_err(), SamplingError::ZeroPatches);
    assert_eq!(init(8, 0, 0.5).unwrap_err(), SamplingError::ZeroOversample);
    assert_eq!(
        init(8, 4, 1.5).unwrap_err(),
        SamplingError::InvalidRandomRatio(1.5)
    );
    let s = sampler(8, 4, 0.5);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    assert_eq!(
        s.sample_map(Some(&[0.0; 10]), 16, &mut rng).unwrap_err(),
        SamplingError::ScoreSize {
            expected: 16,
            got: 10
        }
    );
    assert_eq!(
        s.sample_map(None, 16, &mut rng).unwrap_err(),
        SamplingError::MissingScores
    );
    assert!(matches!(
        s.sample_map(None, 0, &mut rng),
        Err(SamplingError::EmptyMap { .. })
    ));
}

/// With the official sampler's recorded candidates, the selected good ids have exactly the
/// scores the official code selected (compared as multisets: ties are implementation-defined).
#[test]
fn good_ids_are_the_lowest_scoring_candidates_of_the_official_draw() {
    let dirs: Vec<_> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("manifest.json").is_file())
        .collect();
    assert!(!dirs.is_empty());
    let mut checked = 0;
    for dir in dirs {
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap())
                .unwrap();
        if !matches!(manifest["model"].as_str(), None | Some("enco")) {
            continue; // CUT and CycleGAN cases have no DAG sampling
        }
        let o = &manifest["options"];
        let s = sampler(
            o["num_patches"].as_u64().unwrap() as usize,
            o["oversample_ratio"].as_u64().unwrap() as usize,
            o["random_ratio"].as_f64().unwrap(),
        );
        let fx = Fixture::open(dir.join("tensors.safetensors"));
        for entry in manifest["sampling"].as_array().unwrap() {
            let (pair, b) = (
                entry["pair"].as_u64().unwrap(),
                entry["b"].as_u64().unwrap(),
            );
            let cam = fx.get(&format!("cam_{pair}"));
            let hw = cam.shape[2] * cam.shape[3];
            let scores = &cam.f32[b as usize * hw..(b as usize + 1) * hw];
            let counts = s.counts(hw);
            assert_eq!(counts.n, entry["n"].as_u64().unwrap() as usize);
            assert_eq!(counts.n_good, entry["n_good"].as_u64().unwrap() as usize);
            assert_eq!(counts.n_rand, entry["n_rand"].as_u64().unwrap() as usize);
            assert_eq!(
                counts.n_candidates,
                entry["n_candidates"].as_u64().unwrap() as usize
            );
            let perm = &fx.get(&format!("perm_cand_{pair}_{b}")).i64;
            let candidates: Vec<usize> = perm[..counts.n_candidates]
                .iter()
                .map(|&v| v as usize)
                .collect();
            let good = s.select_good(scores, candidates).unwrap();
            let official = &fx.get(&format!("ids_{pair}_{b}")).i64;
            let sorted_scores = |ids: Vec<usize>| {
                let mut v: Vec<f32> = ids.iter().map(|&i| scores[i]).collect();
                v.sort_by(f32::total_cmp);
                v
            };
            assert_eq!(
                sorted_scores(good.clone()),
                sorted_scores(
                    official[..counts.n_good]
                        .iter()
                        .map(|&v| v as usize)
                        .collect()
                ),
                "{}: pair {pair} sample {b}: selected scores differ",
                dir.display()
            );
            // Good ids come out in ascending score order.
            assert!(good.windows(2).all(|w| scores[w[0]] <= scores[w[1]]));
            // The random part is the tail of the second permutation.
            let rand_perm = &fx.get(&format!("perm_rand_{pair}_{b}")).i64;
            assert_eq!(
                &official[counts.n_good..],
                &rand_perm[rand_perm.len() - counts.n_rand..]
            );
            checked += 1;
        }
    }
    assert!(checked >= 9, "only {checked} selections checked");
}

#[test]
fn sampled_ids_are_valid_and_good_ones_beat_the_other_candidates() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let hw = 20 * 20;
    // Scores with many ties, as an upsampled score map has.
    let scores: Vec<f32> = (0..hw).map(|i| ((i * 37) % 23) as f32).collect();
    for (k, os, r) in [
        (64, 4, 0.5),
        (256, 4, 0.5),
        (500, 2, 0.25),
        (50, 1, 1.0),
        (50, 3, 0.0),
    ] {
        let s = sampler(k, os, r);
        let counts = s.counts(hw);
        let ids = s.sample_map(Some(&scores), hw, &mut rng).unwrap();
        assert_eq!(ids.len(), counts.n);
        assert!(ids.iter().all(|&i| i < hw));
        let (good, random) = ids.split_at(counts.n_good);
        let mut g = good.to_vec();
        g.sort_unstable();
        g.dedup();
        assert_eq!(g.len(), good.len(), "good ids repeat");
        let mut rnd = random.to_vec();
        rnd.sort_unstable();
        rnd.dedup();
        assert_eq!(rnd.len(), random.len(), "random ids repeat");
        if counts.n_candidates == hw && counts.n_good > 0 {
            // The whole map is the candidate set: good = the n_good lowest scores.
            let mut all = scores.clone();
            all.sort_by(f32::total_cmp);
            let mut picked: Vec<f32> = good.iter().map(|&i| scores[i]).collect();
            picked.sort_by(f32::total_cmp);
            assert_eq!(picked, all[..counts.n_good].to_vec());
        }
    }
}

#[test]
fn sampling_is_reproducible_from_the_seed() {
    let s = sampler(64, 4, 0.5);
    let scores: Vec<f32> = (0..1024).map(|i| (i as f32 * 0.37).sin()).collect();
    let draw = |seed| {
        s.sample_map(Some(&scores), 1024, &mut ChaCha8Rng::seed_from_u64(seed))
            .unwrap()
    };
    assert_eq!(draw(3), draw(3));
    assert_ne!(draw(3), draw(4));
}

#[test]
fn tensor_sampling_reads_each_batch_element() {
    use enco::burn::prelude::*;
    let dev = device();
    let s = sampler(4, 1, 0.0);
    // Sample 0 is lowest at the start, sample 1 at the end.
    let v: Vec<f32> = (0..16)
        .map(|i| i as f32)
        .chain((0..16).map(|i| -(i as f32)))
        .collect();
    let cam = Tensor::<B, 4>::from_data(TensorData::new(v, [2, 1, 4, 4]), &dev);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let s_all = DagSamplerConfig::new()
        .with_num_patches(4)
        .with_oversample_ratio(4)
        .with_random_ratio(0.0)
        .init()
        .unwrap();
    let ids = s_all.sample(cam.clone(), &mut rng).unwrap();
    assert_eq!(ids[0], vec![0, 1, 2, 3]);
    assert_eq!(ids[1], vec![15, 14, 13, 12]);
    assert!(s.sample(cam.reshape([1, 2, 4, 4]), &mut rng).is_err());
}
