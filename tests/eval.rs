//! Translation at any size, and PSNR / SSIM checked against closed-form values: PSNR of a
//! constant offset δ is 20·log10(255/δ); SSIM of two constant images a, b is
//! (2ab + C1) / (a² + b² + C1) (the variance terms cancel), and 1 for identical images.

mod common;

use common::*;
use enco::data::image::{Rgb, RgbImage};
use enco::eval::{EvalError, psnr, ssim, translate_batch, translate_folder, translate_image};
use enco::nn::ResnetGeneratorConfig;

fn pattern(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb([
            (x * 13 % 256) as u8,
            (y * 29 % 256) as u8,
            ((x * y) % 256) as u8,
        ])
    })
}

#[test]
fn translation_keeps_any_size() {
    let dev = device();
    let g = ResnetGeneratorConfig::new()
        .with_ngf(4)
        .with_n_blocks(1)
        .init::<B>(&dev);
    for (w, h) in [(30, 21), (8, 8), (5, 3), (64, 48), (1, 1)] {
        let out = translate_image(&g, &pattern(w, h), &dev).unwrap();
        assert_eq!(out.dimensions(), (w, h));
    }
    let dir = std::env::temp_dir().join(format!("enco-eval-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("in/sub")).unwrap();
    pattern(20, 12).save(dir.join("in/a.png")).unwrap();
    pattern(9, 17).save(dir.join("in/sub/b.jpg")).unwrap();
    pattern(9, 17).save(dir.join("in/sub/c.png")).unwrap();
    let mut seen = Vec::new();
    let written = translate_folder(&g, &dir.join("in"), &dir.join("out"), 4, &dev, |d, t| {
        seen.push((d, t))
    })
    .unwrap();
    // a.png alone (its size differs), then b and c in one batch.
    assert_eq!(seen, vec![(1, 3), (3, 3)]);
    assert_eq!(
        written,
        vec![
            dir.join("out/a.png"),
            dir.join("out/sub/b.png"),
            dir.join("out/sub/c.png")
        ]
    );
    let b = enco::data::load_rgb(&dir.join("out/sub/b.png")).unwrap();
    assert_eq!(b.dimensions(), (9, 17));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unreadable_image_stops_translation_after_the_images_before_it() {
    let dev = device();
    let g = ResnetGeneratorConfig::new()
        .with_ngf(4)
        .with_n_blocks(1)
        .init::<B>(&dev);
    let dir = std::env::temp_dir().join(format!("enco-eval-bad-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("in")).unwrap();
    pattern(8, 8).save(dir.join("in/a.png")).unwrap();
    std::fs::write(dir.join("in/b.png"), b"not a png").unwrap();
    pattern(8, 8).save(dir.join("in/c.png")).unwrap();
    let mut seen = Vec::new();
    let result = translate_folder(&g, &dir.join("in"), &dir.join("out"), 4, &dev, |d, t| {
        seen.push((d, t))
    });
    let err = result.expect_err("b.png cannot be read");
    assert!(err.to_string().contains("b.png"), "{err}");
    assert_eq!(seen, vec![(1, 3)], "a.png is translated first");
    assert!(dir.join("out/a.png").is_file());
    assert!(!dir.join("out/c.png").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn batched_translation_equals_one_by_one() {
    let dev = device();
    let g = ResnetGeneratorConfig::new()
        .with_ngf(4)
        .with_n_blocks(1)
        .init::<B>(&dev);
    let images = [pattern(13, 10), {
        let mut p = pattern(13, 10);
        image_invert(&mut p);
        p
    }];
    let batched = translate_batch(&g, &images, &dev).unwrap();
    for (image, out) in images.iter().zip(&batched) {
        let single = translate_image(&g, image, &dev).unwrap();
        let worst = single
            .as_raw()
            .iter()
            .zip(out.as_raw())
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        // Instance norm keeps samples independent; float rounding may move a value by 1.
        assert!(worst <= 1, "batched vs single differ by {worst}");
    }
    assert!(matches!(
        translate_batch(&g, &[pattern(8, 8), pattern(12, 8)], &dev),
        Err(EvalError::SizeMismatch(..))
    ));
    assert!(translate_batch(&g, &[], &dev).unwrap().is_empty());
}

fn image_invert(image: &mut RgbImage) {
    image
        .pixels_mut()
        .for_each(|p| p.0.iter_mut().for_each(|v| *v = 255 - *v));
}

#[test]
fn psnr_matches_the_closed_form() {
    let a = pattern(16, 16);
    assert_eq!(psnr(&a, &a).unwrap(), f64::INFINITY);
    let shift = |img: &RgbImage, d: u8| {
        let mut out = img.clone();
        out.pixels_mut()
            .for_each(|p| p.0.iter_mut().for_each(|v| *v = v.saturating_sub(d)));
        out
    };
    let base = RgbImage::from_pixel(16, 16, Rgb([100, 150, 200]));
    for d in [1u8, 5, 40] {
        let expected = 20.0 * (255.0 / d as f64).log10();
        assert!((psnr(&base, &shift(&base, d)).unwrap() - expected).abs() < 1e-9);
    }
    assert!(matches!(
        psnr(&a, &pattern(16, 8)),
        Err(EvalError::SizeMismatch(..))
    ));
}

#[test]
fn ssim_matches_the_closed_form() {
    let a = pattern(24, 20);
    assert!((ssim(&a, &a).unwrap() - 1.0).abs() < 1e-12);
    let c1 = (0.01f64 * 255.0).powi(2);
    for (x, y) in [(100u8, 120u8), (0, 255), (30, 31)] {
        let ia = RgbImage::from_pixel(16, 16, Rgb([x; 3]));
        let ib = RgbImage::from_pixel(16, 16, Rgb([y; 3]));
        let (x, y) = (x as f64, y as f64);
        let expected = (2.0 * x * y + c1) / (x * x + y * y + c1);
        assert!((ssim(&ia, &ib).unwrap() - expected).abs() < 1e-9);
    }
    let mut noisy = a.clone();
    noisy
        .pixels_mut()
        .enumerate()
        .for_each(|(i, p)| p.0[0] = p.0[0].wrapping_add((i % 7) as u8 * 9));
    let s = ssim(&a, &noisy).unwrap();
    assert!(s < 0.99 && s > 0.0, "{s}");
    assert!((s - ssim(&noisy, &a).unwrap()).abs() < 1e-12, "symmetric");
    // scikit-image 0.26 on the same two images: structural_similarity(a, b, channel_axis=2,
    // gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255) and
    // peak_signal_noise_ratio(a, b, data_range=255).
    assert!((s - 0.8090292898630609).abs() < 1e-9, "{s}");
    let p = psnr(&a, &noisy).unwrap();
    assert!((p - 16.038584748543514).abs() < 1e-9, "{p}");
    assert!(matches!(
        ssim(&pattern(8, 8), &pattern(8, 8)),
        Err(EvalError::TooSmall(_))
    ));
}

/// The official protocol's real sets (docs/reference.md §9): items `0 .. max(|A|, |B|)` pair `A[i mod |A|]`
/// with `B[i mod |B|]`, every visual saved under the A stem, so real_B ends with |A| files.
#[test]
fn the_official_test_sets_name_every_image_by_its_source() {
    use enco::eval::{OFFICIAL_NUM_TEST, resave_test_pairs};
    let root = std::env::temp_dir().join(format!("enco-test-pairs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let colour = |v: u8| RgbImage::from_pixel(8, 8, Rgb([v, 255 - v, v / 2]));
    let write = |dir: &str, names: &[&str], base: u8| {
        std::fs::create_dir_all(root.join(dir)).unwrap();
        for (i, name) in names.iter().enumerate() {
            enco::data::save_rgb(&colour(base + i as u8), &root.join(dir).join(name)).unwrap();
        }
    };
    let read = |dir: &str, name: &str| enco::data::load_rgb(&root.join(dir).join(name)).unwrap();
    // Horse→Zebra's shape: more targets than sources.
    write("a", &["h0.png", "h1.png", "h2.png"], 10);
    write(
        "b",
        &["z0.png", "z1.png", "z2.png", "z3.png", "z4.png"],
        100,
    );
    let pairs = resave_test_pairs(
        &root.join("a"),
        &root.join("b"),
        &root.join("real_A"),
        &root.join("real_B"),
        None,
        OFFICIAL_NUM_TEST,
    )
    .unwrap();
    assert_eq!(
        (pairs.items, pairs.real_a, pairs.real_b, pairs.overwritten),
        (5, 3, 3, 2)
    );
    assert_eq!(
        enco::data::image_files(&root.join("real_B")).unwrap().len(),
        3
    );
    // h0 and h1 were written with z0, z1, then overwritten by z3, z4; h2 keeps z2.
    assert_eq!(read("real_B", "h0.png"), colour(103));
    assert_eq!(read("real_B", "h1.png"), colour(104));
    assert_eq!(read("real_B", "h2.png"), colour(102));
    assert_eq!(read("real_A", "h2.png"), colour(12));
    // Fewer targets: they repeat; the item cap applies.
    let pairs = resave_test_pairs(
        &root.join("b"),
        &root.join("a"),
        &root.join("real_A2"),
        &root.join("real_B2"),
        None,
        4,
    )
    .unwrap();
    assert_eq!((pairs.items, pairs.real_b, pairs.overwritten), (4, 4, 0));
    assert_eq!(read("real_B2", "z3.png"), colour(10));
    assert!(!root.join("real_B2").join("z4.png").exists());
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_generator_is_scored_with_the_official_test_protocol() {
    use enco::data::SyntheticDatasetConfig;
    use enco::eval::{RealSets, TEST_PROTOCOL_FOLDERS, TestProtocol, evaluate_with_test_protocol};
    let dev = device();
    let dir = std::env::temp_dir().join(format!("enco-eval-protocol-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("data");
    SyntheticDatasetConfig::new()
        .with_size(32)
        .with_train_a(1)
        .with_train_b(1)
        .with_test(3)
        .write(&data)
        .unwrap();
    let g = ResnetGeneratorConfig::new()
        .with_ngf(4)
        .with_n_blocks(1)
        .init::<B>(&dev);
    let protocol = TestProtocol {
        size: Some(24),
        paired_target: Some(data.join("testB")),
        ..Default::default()
    };
    let mut stages = Vec::new();
    let report = evaluate_with_test_protocol(
        &g,
        &data,
        &dir.join("out"),
        &protocol,
        None,
        &dev,
        |stage, done, total| stages.push((stage.to_string(), done, total)),
    )
    .unwrap();
    assert_eq!(report.direction, "testA→testB");
    assert_eq!(report.size, Some(24));
    let RealSets::Official(pairs) = &report.real_sets else {
        panic!("the official protocol by default: {:?}", report.real_sets)
    };
    assert_eq!((pairs.items, pairs.real_a, pairs.real_b), (3, 3, 3));
    assert!(report.fid.is_none());
    let paired = report.paired.expect("paired targets given");
    assert_eq!(paired.pairs, 3);
    assert!(paired.psnr.is_finite() && paired.ssim.is_finite());
    assert_eq!(stages.last(), Some(&("translate".to_string(), 3, 3)));
    for folder in TEST_PROTOCOL_FOLDERS {
        let images = std::fs::read_dir(dir.join("out").join(folder))
            .unwrap()
            .count();
        assert_eq!(images, 3, "{folder}");
    }
    let fake = enco::data::load_rgb(
        &dir.join("out/fake_B").join(
            std::fs::read_dir(dir.join("out/fake_B"))
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .file_name(),
        ),
    )
    .unwrap();
    assert_eq!(fake.dimensions(), (24, 24), "the test-time size");
    let _ = std::fs::remove_dir_all(&dir);
}
