//! The first values of every seeded random stream, pinned: initial weights, the epoch order with
//! its B draws and crops, patch ids, and the training position's generator. "Same seed, same
//! run" holds across machines: every stream is a ChaCha8 generator (`rand::rngs::ChaCha8Rng`,
//! whose output is specified by the ChaCha algorithm, unlike `StdRng`), and a dependency update
//! that changes one of them (a new rand or rand_distr) fails here instead of silently changing
//! every run.

mod common;

use common::*;
use enco::data::image::{Rgb, RgbImage};
use enco::data::{Direction, EpochLoader, Preprocess, Transform, UnpairedDataset};
use enco::nn::WeightInit;
use enco::sampling::uniform_patch_ids;
use enco::train::{ChaCha8Rng, TrainingPosition};
use rand::{RngExt, SeedableRng};

fn round6(values: &[f32]) -> Vec<f32> {
    values.iter().map(|v| (v * 1e6).round() / 1e6).collect()
}

#[test]
fn initial_weights_draw_the_pinned_values() {
    let weights = WeightInit::official(0).weight::<B, 2>([1, 6], 9, 9, &device());
    let values = round6(&weights.into_data().to_vec::<f32>().unwrap());
    println!("initial weights: {values:?}");
    assert_eq!(values, PINNED_WEIGHTS);
}

#[test]
fn the_epoch_order_b_draws_and_crops_are_pinned() {
    let root = std::env::temp_dir().join(format!("enco-streams-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    // Each pixel holds its coordinates, so a crop's position shows in its first pixel.
    for (side, n) in [("trainA", 5u8), ("trainB", 4u8)] {
        std::fs::create_dir_all(root.join(side)).unwrap();
        for i in 0..n {
            RgbImage::from_fn(40, 40, |x, y| Rgb([x as u8 * 6, y as u8 * 6, i * 40]))
                .save(root.join(side).join(format!("{i}.png")))
                .unwrap();
        }
    }
    let dataset = UnpairedDataset::open(&root, "train", Direction::AtoB).unwrap();
    let transform = Transform {
        preprocess: Preprocess::Crop,
        load_size: 40,
        crop_size: 16,
        flip: true,
    };
    let loader = EpochLoader::start(dataset, transform, 1, true, 7, 1).unwrap();
    let mut seen = Vec::new();
    for batch in loader {
        let batch = batch.unwrap();
        let name = |p: &std::path::PathBuf| p.file_stem().unwrap().to_string_lossy().into_owned();
        let first = |d: &enco::burn::tensor::TensorData| {
            // The first pixel's x and y channels, back in bytes: where the crop starts (a
            // flipped crop shows its right edge).
            let v = d.to_vec::<f32>().unwrap();
            let plane = v.len() / 3;
            let byte = |c: usize| ((v[c * plane] + 1.0) / 2.0 * 255.0).round() as u32 / 6;
            (byte(0), byte(1))
        };
        seen.push((
            name(&batch.a_paths[0]),
            name(&batch.b_paths[0]),
            first(&batch.a),
            first(&batch.b),
        ));
    }
    println!("epoch: {seen:?}");
    let _ = std::fs::remove_dir_all(&root);
    let pinned: Vec<EpochItem<String>> = PINNED_EPOCH
        .iter()
        .map(|&(a, b, pa, pb)| (a.to_string(), b.to_string(), pa, pb))
        .collect();
    assert_eq!(seen, pinned);
}

#[test]
fn patch_ids_and_the_training_generator_are_pinned() {
    let ids = uniform_patch_ids(100, 6, &mut ChaCha8Rng::seed_from_u64(1));
    println!("patch ids: {ids:?}");
    assert_eq!(ids, PINNED_PATCH_IDS);
    let mut position = TrainingPosition::start(5);
    let draws: Vec<u32> = (0..4).map(|_| position.rng.random_range(0..1000)).collect();
    println!("training generator: {draws:?}");
    assert_eq!(draws, PINNED_TRAINING_DRAWS);
}

const PINNED_WEIGHTS: [f32; 6] = [0.004666, -0.00096, 0.002019, -0.009163, 0.008002, 0.000739];
/// One batch of the epoch: the A and B file stems and the first pixel's (x, y) of each crop.
type EpochItem<S> = (S, S, (u32, u32), (u32, u32));

const PINNED_EPOCH: [EpochItem<&str>; 5] = [
    ("0", "0", (4, 4), (0, 18)),
    ("3", "3", (23, 6), (36, 8)),
    ("1", "3", (26, 5), (28, 13)),
    ("2", "1", (10, 6), (7, 24)),
    ("4", "1", (15, 5), (21, 20)),
];
const PINNED_PATCH_IDS: [usize; 6] = [52, 38, 95, 7, 20, 59];
const PINNED_TRAINING_DRAWS: [u32; 4] = [208, 201, 277, 715];
