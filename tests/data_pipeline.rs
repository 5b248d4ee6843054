//! The unpaired data pipeline (docs/reference.md §8): folders, decoding of every pixel format to RGB,
//! transforms, batching off the training thread, and errors that name the file.

use std::path::{Path, PathBuf};

use enco::data::image::{self, GrayImage, ImageBuffer, Luma, Rgb, RgbImage, Rgba, RgbaImage};
use enco::data::{
    DataError, Direction, EpochLoader, Preprocess, Transform, UnpairedDataset, data_to_image,
    image_files, image_to_data, load_rgb, make_multiple_of_4,
};
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

/// A fresh empty folder under the system temp dir.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("enco-data-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rgb(w: u32, h: u32, seed: u8) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb([(x as u8).wrapping_mul(seed), y as u8, seed])
    })
}

fn write_dataset(root: &Path, n_a: usize, n_b: usize, size: u32) {
    for (side, n) in [("trainA", n_a), ("trainB", n_b)] {
        let dir = root.join(side).join("nested");
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..n {
            rgb(size, size, i as u8 + 1)
                .save(dir.join(format!("{i:03}.png")))
                .unwrap();
        }
    }
}

#[test]
fn folders_are_scanned_recursively_sorted_and_filtered() {
    let root = scratch("scan");
    write_dataset(&root, 3, 2, 16);
    std::fs::write(root.join("trainA/notes.txt"), "not an image").unwrap();
    rgb(8, 8, 9).save(root.join("trainA/UPPER.PNG")).unwrap();
    let files = image_files(&root.join("trainA")).unwrap();
    assert_eq!(files.len(), 4, "{files:?}");
    assert!(files.windows(2).all(|w| w[0] < w[1]));
    assert!(matches!(
        image_files(&root.join("missing")),
        Err(DataError::MissingFolder(p)) if p.ends_with("missing")
    ));
    let empty = root.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    assert!(matches!(
        image_files(&empty),
        Err(DataError::EmptyFolder(_))
    ));
    let ds = UnpairedDataset::open(&root, "train", Direction::AtoB).unwrap();
    assert_eq!(ds.len(), 4);
    let swapped = UnpairedDataset::open(&root, "train", Direction::BtoA).unwrap();
    assert_eq!(swapped.a_paths, ds.b_paths);
}

#[test]
fn every_pixel_format_becomes_rgb() {
    let dir = scratch("formats");
    let gray = GrayImage::from_fn(5, 4, |x, _| Luma([x as u8 * 40]));
    gray.save(dir.join("gray.png")).unwrap();
    let rgba = RgbaImage::from_fn(5, 4, |x, _| Rgba([10, 20, x as u8, 0]));
    rgba.save(dir.join("rgba.png")).unwrap();
    let deep: ImageBuffer<Rgb<u16>, Vec<u16>> =
        ImageBuffer::from_fn(5, 4, |x, _| Rgb([65535, 257 * x as u16, 0]));
    deep.save(dir.join("deep.png")).unwrap();
    let g = load_rgb(&dir.join("gray.png")).unwrap();
    assert_eq!(g.get_pixel(2, 1).0, [80, 80, 80]);
    let a = load_rgb(&dir.join("rgba.png")).unwrap();
    assert_eq!(a.get_pixel(3, 0).0, [10, 20, 3]);
    let d = load_rgb(&dir.join("deep.png")).unwrap();
    assert_eq!(d.get_pixel(2, 0).0, [255, 2, 0]);
}

#[test]
fn corrupt_truncated_and_non_image_files_are_errors_naming_the_file() {
    let dir = scratch("corrupt");
    let mut png = Vec::new();
    rgb(32, 32, 3)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    std::fs::write(dir.join("truncated.png"), &png[..png.len() / 2]).unwrap();
    std::fs::write(dir.join("text.jpg"), b"hello").unwrap();
    for name in ["truncated.png", "text.jpg"] {
        let err = load_rgb(&dir.join(name)).unwrap_err();
        assert!(err.to_string().contains(name), "{err}");
    }
    let err = load_rgb(&dir.join("absent.png")).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }), "{err}");
}

#[test]
fn transforms_follow_the_official_sizes() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let path = Path::new("img.png");
    let image = rgb(300, 200, 7);
    let t = Transform::default();
    assert_eq!(
        t.apply(&image, path, &mut rng).unwrap().dimensions(),
        (256, 256)
    );
    let sw = Transform {
        preprocess: Preprocess::ScaleWidth,
        load_size: 150,
        crop_size: 64,
        flip: false,
    };
    // 150 × 100 (height ≥ crop), already a multiple of 4 → 152 × 100 after rounding.
    assert_eq!(
        sw.apply(&image, path, &mut rng).unwrap().dimensions(),
        (152, 100)
    );
    let none = Transform {
        preprocess: Preprocess::None,
        ..Transform::default()
    };
    assert_eq!(
        none.apply(&rgb(30, 21, 1), path, &mut rng)
            .unwrap()
            .dimensions(),
        (32, 20)
    );
    // A tiny image and a crop without resize: an error naming the file.
    let crop = Transform {
        preprocess: Preprocess::Crop,
        ..Transform::default()
    };
    let err = crop.apply(&rgb(40, 40, 1), path, &mut rng).unwrap_err();
    assert!(
        matches!(&err, DataError::TooSmall { path, .. } if path.ends_with("img.png")),
        "{err}"
    );
    // …which resize_and_crop handles by resizing first.
    assert_eq!(
        t.apply(&rgb(40, 40, 1), path, &mut rng)
            .unwrap()
            .dimensions(),
        (256, 256)
    );
    assert_eq!(make_multiple_of_4(&rgb(10, 14, 1)).dimensions(), (8, 16));
    // Test transform: deterministic.
    let test = t.for_test();
    let x = test
        .apply(&image, path, &mut ChaCha8Rng::seed_from_u64(1))
        .unwrap();
    let y = test
        .apply(&image, path, &mut ChaCha8Rng::seed_from_u64(2))
        .unwrap();
    assert_eq!(x, y);
}

#[test]
fn tensor_conversion_round_trips_like_the_official_code() {
    let image = rgb(6, 4, 5);
    let data = image_to_data(&image);
    assert_eq!(data.shape.to_vec(), vec![3, 4, 6]);
    let values = data.to_vec::<f32>().unwrap();
    assert!(values.iter().all(|v| (-1.0..=1.0).contains(v)));
    assert_eq!(
        values[0],
        (image.get_pixel(0, 0).0[0] as f32 / 255.0 - 0.5) / 0.5
    );
    // The official conversion truncates, so a round trip may lose one level, never gain.
    let back = data_to_image(&values, 3, 4, 6);
    for (a, b) in back.as_raw().iter().zip(image.as_raw()) {
        assert!(*a == *b || *a + 1 == *b, "{a} vs {b}");
    }
    let extremes = data_to_image(&[-1.5, 1.5, 0.0], 1, 1, 3);
    assert_eq!(
        extremes.as_raw(),
        &vec![0, 0, 0, 255, 255, 255, 127, 127, 127]
    );
}

#[test]
fn epochs_are_batched_off_thread_and_reproducible() {
    let root = scratch("loader");
    write_dataset(&root, 5, 3, 24);
    let ds = UnpairedDataset::open(&root, "train", Direction::AtoB).unwrap();
    let t = Transform {
        preprocess: Preprocess::ResizeAndCrop,
        load_size: 20,
        crop_size: 16,
        flip: true,
    };
    let run = |seed| {
        let loader = EpochLoader::start(ds.clone(), t.clone(), 2, true, seed, 2).unwrap();
        assert_eq!(loader.num_batches(), 2);
        loader.map(|b| b.unwrap()).collect::<Vec<_>>()
    };
    let first = run(4);
    assert_eq!(first.len(), 2, "drop_last");
    assert_eq!(first[0].a.shape.to_vec(), vec![2, 3, 16, 16]);
    let again = run(4);
    assert_eq!(first[0].a, again[0].a);
    assert_eq!(first[1].b_paths, again[1].b_paths);
    // A corrupt file stops the epoch with an error naming it.
    std::fs::write(root.join("trainA/nested/002.png"), b"broken").unwrap();
    let ds = UnpairedDataset::open(&root, "train", Direction::AtoB).unwrap();
    let loader = EpochLoader::start(ds, t, 1, false, 0, 1).unwrap();
    let err = loader
        .map(|b| b.map(|_| ()))
        .find(|r| r.is_err())
        .unwrap()
        .unwrap_err();
    assert!(err.to_string().contains("002.png"), "{err}");
}
