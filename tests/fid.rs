//! Parity of the pytorch-fid compatible FID (`enco::eval::fid`) with pytorch-fid 0.3.0, on the
//! fixture `fid/` of the shared fixtures (random-weight FID Inception, four images, features,
//! Fréchet distances; see the fixtures README, section C).
//!
//! The fixture folder is `ENCO_FID_FIXTURE`, or `../shared/fixtures/fid` next to the repository.
//! When it is absent the parity tests print a notice and pass, except with `CI=true`, where a
//! missing fixture is a failure. Run with `--nocapture` to see the worst errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use enco::backend::{Backend as B, default_device};
use enco::burn::prelude::*;
use enco::burn::tensor::TensorData;
use enco::eval::fid::{
    ActivationStatistics, FID_DIMS, FID_WEIGHTS_URL, FidError, FidInception, fid_between_folders,
    fid_image_files, frechet_distance,
};
use safetensors::{Dtype, SafeTensors};

const IMAGES: [&str; 4] = [
    "img_0_64x64",
    "img_1_64x64",
    "img_2_300x200",
    "img_3_300x200",
];

fn fixture_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("ENCO_FID_FIXTURE") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/fid"),
    };
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "FID fixture folder {} is missing (set ENCO_FID_FIXTURE)",
            dir.display()
        );
    }
    eprintln!(
        "notice: FID fixture folder {} is absent, skipping the FID parity test (set \
         ENCO_FID_FIXTURE)",
        dir.display()
    );
    None
}

/// A host copy of one fixture tensor, in f64 (f32 values widened exactly).
struct Host {
    shape: Vec<usize>,
    values: Vec<f64>,
}

fn read_tensors(path: &Path) -> BTreeMap<String, Host> {
    let bytes =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let st = SafeTensors::deserialize(&bytes).expect("valid safetensors");
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        let data = view.data();
        let values: Vec<f64> = match view.dtype() {
            Dtype::F32 => data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            Dtype::F64 => data
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
            _ => continue,
        };
        out.insert(
            name.to_string(),
            Host {
                shape: view.shape().to_vec(),
                values,
            },
        );
    }
    out
}

fn tensors(dir: &Path) -> &'static BTreeMap<String, Host> {
    static T: OnceLock<BTreeMap<String, Host>> = OnceLock::new();
    T.get_or_init(|| read_tensors(&dir.join("tensors.safetensors")))
}

fn model(dir: &Path) -> &'static FidInception<B> {
    static M: OnceLock<FidInception<B>> = OnceLock::new();
    M.get_or_init(|| {
        let start = Instant::now();
        let m = FidInception::<B>::load_safetensors(
            dir.join("inception_fid_random.safetensors"),
            &default_device(),
        )
        .expect("fixture weights load");
        println!("loaded the FID Inception in {:.2?}", start.elapsed());
        m
    })
}

fn get<'a>(t: &'a BTreeMap<String, Host>, name: &str) -> &'a Host {
    t.get(name)
        .unwrap_or_else(|| panic!("fixture lacks tensor {name}"))
}

fn to_f64<const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    t.into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .unwrap()
        .into_iter()
        .map(|v| v as f64)
        .collect()
}

/// (max |a − r|, max |r|).
fn max_abs_error(actual: &[f64], reference: &[f64]) -> (f64, f64) {
    assert_eq!(actual.len(), reference.len(), "length mismatch");
    let err = actual
        .iter()
        .zip(reference)
        .fold(0.0f64, |m, (a, r)| m.max((a - r).abs()));
    let scale = reference.iter().fold(0.0f64, |m, r| m.max(r.abs()));
    assert!(err.is_finite(), "non-finite values");
    (err, scale)
}

fn input_tensor(t: &BTreeMap<String, Host>, names: &[&str]) -> Tensor<B, 4> {
    let first = get(t, &format!("input_{}", names[0]));
    let mut values = Vec::new();
    for name in names {
        let h = get(t, &format!("input_{name}"));
        assert_eq!(h.shape, first.shape);
        values.extend(h.values.iter().map(|&v| v as f32));
    }
    let shape = [names.len(), first.shape[0], first.shape[1], first.shape[2]];
    Tensor::from_data(TensorData::new(values, shape), &default_device())
}

#[test]
fn running_statistics_are_loaded() {
    let Some(dir) = fixture_dir() else { return };
    let weights = read_tensors(&dir.join("inception_fid_random.safetensors"));
    let m = model(&dir);
    for (key, actual) in [
        (
            "Conv2d_1a_3x3.bn.running_mean",
            m.conv2d_1a_3x3.bn.running_mean.value(),
        ),
        (
            "Mixed_7c.branch_pool.bn.running_var",
            m.mixed_7c.branch_pool.bn.running_var.value(),
        ),
        (
            "Mixed_6e.branch7x7dbl_5.bn.weight",
            m.mixed_6e.branch7x7dbl_5.bn.gamma.val(),
        ),
    ] {
        let (err, _) = max_abs_error(&to_f64(actual), &get(&weights, key).values);
        assert_eq!(err, 0.0, "{key} not loaded");
    }
    let (err, _) = max_abs_error(
        &to_f64(m.mixed_6b.branch7x7_2.conv.weight.val()),
        &get(&weights, "Mixed_6b.branch7x7_2.conv.weight").values,
    );
    assert_eq!(err, 0.0, "conv weight not loaded");
}

#[test]
fn images_and_network_input_match() {
    let Some(dir) = fixture_dir() else { return };
    let t = tensors(&dir);
    let m = model(&dir);
    let mut worst = 0.0f64;
    for name in IMAGES {
        // Image decoding + ToTensor, bit-exact.
        let image = enco::data::load_rgb(&dir.join(format!("{name}.png"))).unwrap();
        let (w, h) = image.dimensions();
        let hw = (w * h) as usize;
        let mut values = vec![0.0f64; 3 * hw];
        for (p, px) in image.as_raw().chunks_exact(3).enumerate() {
            for c in 0..3 {
                values[c * hw + p] = (px[c] as f32 / 255.0) as f64;
            }
        }
        let input = get(t, &format!("input_{name}"));
        assert_eq!(input.shape, vec![3, h as usize, w as usize]);
        assert_eq!(values, input.values, "ToTensor of {name}");
        // Resize to 299 (bilinear, align_corners=False) + 2x − 1.
        let x = m.preprocess(input_tensor(t, &[name])).unwrap();
        assert_eq!(x.dims(), [1, 3, 299, 299]);
        let reference = get(t, &format!("net_input_299_{name}"));
        let (err, scale) = max_abs_error(&to_f64(x), &reference.values);
        println!("net_input_299 {name}: max abs error {err:.3e} (max |x| {scale:.3})");
        worst = worst.max(err);
    }
    println!("net_input_299: worst max abs error {worst:.3e}");
    assert!(worst < 1e-5, "resize + normalisation differ: {worst:.3e}");
}

#[test]
fn pool3_features_match() {
    let Some(dir) = fixture_dir() else { return };
    let t = tensors(&dir);
    let m = model(&dir);
    let mut worst = (0.0f64, 0.0f64);
    for group in [&IMAGES[0..2], &IMAGES[2..4]] {
        let start = Instant::now();
        let features = m.forward_features(input_tensor(t, group)).unwrap();
        println!(
            "forward of 2 images ({}): {:.2?}",
            group[0],
            start.elapsed()
        );
        assert_eq!(features.dims(), [2, FID_DIMS]);
        let rows = to_f64(features);
        for (i, name) in group.iter().enumerate() {
            let reference = get(t, &format!("pool3_f32_{name}"));
            let (err, scale) =
                max_abs_error(&rows[i * FID_DIMS..(i + 1) * FID_DIMS], &reference.values);
            println!("pool3 {name}: max abs error {err:.3e} (max |x| {scale:.3})");
            if err > worst.0 {
                worst = (err, err / scale);
            }
        }
    }
    println!(
        "pool3 (fixture input tensors): worst max abs error {:.3e} (relative to max |x| {:.3e})",
        worst.0, worst.1
    );
    assert!(worst.0 < 1e-4, "pool3 features differ: {:.3e}", worst.0);
}

#[test]
fn folder_activations_match() {
    let Some(dir) = fixture_dir() else { return };
    let t = tensors(&dir);
    let m = model(&dir);
    let files = fid_image_files(&dir).unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, IMAGES);
    let mut calls = Vec::new();
    let start = Instant::now();
    let rows = m
        .activations(&files, 50, &default_device(), |d, n| calls.push((d, n)))
        .unwrap();
    println!("folder activations of 4 images: {:.2?}", start.elapsed());
    // Two size groups: two batches.
    assert_eq!(calls, vec![(2, 4), (4, 4)]);
    let reference = get(t, "pool3_f64_all");
    assert_eq!(reference.shape, vec![4, FID_DIMS]);
    let (err, scale) = max_abs_error(&rows, &reference.values);
    println!("pool3_f64_all via the folder path: max abs error {err:.3e} (max |x| {scale:.3})");
    assert!(err < 1e-4, "folder activations differ: {err:.3e}");

    // The same rows through the streaming statistics (batches of 3 and 1: size groups).
    let mut stats = ActivationStatistics::new(FID_DIMS);
    stats.push(&reference.values).unwrap();
    let ours = m
        .activation_statistics(&files, 3, &default_device(), |_, _| {})
        .unwrap();
    let (a, b) = (stats.finish().unwrap(), ours.finish().unwrap());
    let (err_mu, _) = max_abs_error(&b.mu, &a.mu);
    let (err_sigma, scale_sigma) = max_abs_error(&b.sigma, &a.sigma);
    println!(
        "folder statistics (batch 3): mu max abs error {err_mu:.3e}, sigma {err_sigma:.3e} \
         (max |sigma| {scale_sigma:.3e})"
    );
    assert!(err_mu < 1e-4 && err_sigma < 1e-4 * scale_sigma.max(1.0));
}

#[test]
fn fid_between_two_folders_runs() {
    let Some(dir) = fixture_dir() else { return };
    let m = model(&dir);
    let root = std::env::temp_dir().join(format!("enco-fid-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for (sub, imgs) in [("a", &IMAGES[0..2]), ("b", &IMAGES[0..2])] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
        for name in imgs {
            std::fs::copy(
                dir.join(format!("{name}.png")),
                root.join(sub).join(format!("{name}.png")),
            )
            .unwrap();
        }
    }
    // Not images for pytorch-fid: upper-case extension, subfolder.
    std::fs::write(root.join("a/notes.txt"), "x").unwrap();
    std::fs::create_dir_all(root.join("b/sub")).unwrap();
    std::fs::copy(dir.join("img_2_300x200.png"), root.join("b/sub/img_2.png")).unwrap();
    let mut seen = Vec::new();
    let report = fid_between_folders(
        &root.join("a"),
        &root.join("b"),
        m,
        1,
        &default_device(),
        |d, n| seen.push((d, n)),
    )
    .unwrap();
    println!("FID of two identical 2-image folders: {:.3e}", report.fid);
    assert_eq!((report.n_a, report.n_b, report.dims), (2, 2, FID_DIMS));
    assert_eq!(seen, vec![(1, 4), (2, 4), (3, 4), (4, 4)]);
    assert!(report.fid.abs() < 1e-6, "{}", report.fid);
    let json = serde_json::to_string(&report).unwrap();
    assert!(json.contains("\"fid\""));
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn kid_matches_numpy_and_rejects_bad_input() {
    use enco::eval::fid::{KidConfig, kernel_inception_distance};
    let Some(dir) = fixture_dir() else { return };
    let f = read_tensors(&dir.join("frechet.safetensors"));
    // Expected values: clean-fid's `kernel_distance` formula in numpy (float64) on the same rows.
    // With 40 rows on both sides every subset is the whole set, so the draws do not matter.
    let rows = |key: &str, n: usize| {
        let t = get(&f, key);
        t.values[..n * t.shape[1]].to_vec()
    };
    let config = KidConfig {
        subsets: 3,
        subset_size: 1000,
        seed: 7,
    };
    for (a, b, expected) in [
        (
            "full_rank.feats1",
            "full_rank.feats2",
            -0.022643441801118058,
        ),
        (
            "rank_deficient.feats1",
            "rank_deficient.feats2",
            0.7141565992217664,
        ),
    ] {
        let r = kernel_inception_distance(&rows(a, 40), &rows(b, 40), 64, config).unwrap();
        let rel = (r.kid - expected).abs() / expected.abs();
        println!(
            "KID {a} vs {b}: {} (numpy {expected}), rel error {rel:.2e}",
            r.kid
        );
        assert!(rel < 1e-10, "KID {} vs {expected}", r.kid);
        assert!(
            r.kid_std < 1e-12 * expected.abs().max(1.0),
            "whole-set subsets agree"
        );
        assert_eq!(r.subset_size, 40);
    }
    // Subsets of 20 out of 40: another value per draw, reproducible for a seed.
    let small = KidConfig {
        subset_size: 20,
        ..config
    };
    let (a, b) = (rows("full_rank.feats1", 40), rows("full_rank.feats2", 40));
    let r1 = kernel_inception_distance(&a, &b, 64, small).unwrap();
    let r2 = kernel_inception_distance(&a, &b, 64, small).unwrap();
    assert_eq!(r1, r2);
    assert!(r1.kid_std > 0.0);
    assert!(
        kernel_inception_distance(&a[..64], &b, 64, config).is_err(),
        "one row"
    );
    assert!(
        kernel_inception_distance(&a[..63], &b, 64, config).is_err(),
        "ragged"
    );
}

#[test]
fn statistics_and_frechet_match() {
    let Some(dir) = fixture_dir() else { return };
    let f = read_tensors(&dir.join("frechet.safetensors"));
    for (case, tolerance) in [("full_rank", 1e-8), ("rank_deficient", 1e-6)] {
        let mut stats = Vec::new();
        for i in ["1", "2"] {
            let feats = get(&f, &format!("{case}.feats{i}"));
            let dim = feats.shape[1];
            // All rows at once (numpy's two-pass computation) and in uneven chunks (merged).
            let mut whole = ActivationStatistics::new(dim);
            whole.push(&feats.values).unwrap();
            let mut chunked = ActivationStatistics::new(dim);
            for chunk in feats.values.chunks(7 * dim) {
                chunked.push(chunk).unwrap();
            }
            assert_eq!(chunked.count(), feats.shape[0]);
            let mu = &get(&f, &format!("{case}.mu{i}")).values;
            let sigma = &get(&f, &format!("{case}.sigma{i}")).values;
            for (how, acc) in [("one batch", &whole), ("chunks of 7", &chunked)] {
                let s = acc.finish().unwrap();
                let (em, sm) = max_abs_error(&s.mu, mu);
                let (es, ss) = max_abs_error(&s.sigma, sigma);
                println!(
                    "{case} stats{i} ({how}): mu max abs error {em:.3e} (rel {:.3e}), sigma {es:.3e} \
                     (rel to max |sigma| {:.3e})",
                    em / sm,
                    es / ss
                );
                assert!(em / sm < 1e-12 && es / ss < 1e-12, "{case} stats{i} {how}");
            }
            stats.push(whole.finish().unwrap());
        }
        let expected = get(&f, &format!("{case}.fid")).values[0];
        let from_fixture = frechet_distance(
            &get(&f, &format!("{case}.mu1")).values,
            &get(&f, &format!("{case}.sigma1")).values,
            &get(&f, &format!("{case}.mu2")).values,
            &get(&f, &format!("{case}.sigma2")).values,
        )
        .unwrap();
        let from_ours = stats[0].frechet_distance(&stats[1]).unwrap();
        for (how, value) in [
            ("fixture mu/sigma", from_fixture),
            ("our mu/sigma", from_ours),
        ] {
            let rel = (value - expected).abs() / expected.abs();
            println!(
                "{case} FID ({how}): {value:.12} vs pytorch-fid {expected:.12}: abs error \
                 {:.3e}, rel {rel:.3e}",
                (value - expected).abs()
            );
            assert!(rel < tolerance, "{case} FID {value} vs {expected}");
        }
    }
}

/// A small deterministic pseudo-random generator for synthetic features.
fn lcg(seed: u64) -> impl FnMut() -> f64 {
    let mut state = seed;
    move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[test]
fn frechet_handles_constant_features_and_is_symmetric() {
    // 12 samples of 6 features, feature 2 constant in set A, feature 4 constant in both.
    let mut rnd = lcg(7);
    let (n, d) = (12, 6);
    let mut a: Vec<f64> = (0..n * d).map(|_| rnd() * 3.0).collect();
    let mut b: Vec<f64> = (0..n * d).map(|_| rnd() * 2.0 + 0.5).collect();
    for r in 0..n {
        a[r * d + 2] = 1.5;
        a[r * d + 4] = 0.25;
        b[r * d + 4] = 0.75;
    }
    let stats = |rows: &[f64], dims: &[usize]| {
        let mut s = ActivationStatistics::new(dims.len());
        let picked: Vec<f64> = rows
            .chunks_exact(d)
            .flat_map(|row| dims.iter().map(move |&j| row[j]))
            .collect();
        s.push(&picked).unwrap();
        s.finish().unwrap()
    };
    let all: Vec<usize> = (0..d).collect();
    let (sa, sb) = (stats(&a, &all), stats(&b, &all));
    let ab = sa.frechet_distance(&sb).unwrap();
    let ba = sb.frechet_distance(&sa).unwrap();
    println!("constant features: FID(a, b) = {ab:.15}, FID(b, a) = {ba:.15}");
    assert!((ab - ba).abs() < 1e-12 * ab, "{ab} vs {ba}");
    // Dropping the feature constant in both sets changes only the mean term.
    let kept = [0, 1, 2, 3, 5];
    let reduced = stats(&a, &kept)
        .frechet_distance(&stats(&b, &kept))
        .unwrap();
    let mean_term = (0.25f64 - 0.75).powi(2);
    assert!(
        (ab - reduced - mean_term).abs() < 1e-12 * ab,
        "{ab} vs {reduced} + {mean_term}"
    );
    // Rank-deficient self-distance (fewer samples than features) is zero up to the rounding
    // noise of square roots of rounding-level eigenvalues (√ε·tr Σ), as in pytorch-fid.
    let few = stats(&a[..3 * d], &all);
    let zero = few.frechet_distance(&few).unwrap();
    let trace: f64 = (0..d).map(|i| few.sigma[i * d + i]).sum();
    println!("rank-deficient self-distance: {zero:.3e} (trace {trace:.3})");
    assert!(zero.abs() < 1e-6 * trace, "{zero}");
    // All-constant sets: only the mean term remains.
    let flat = |v: f64| enco::eval::GaussianStatistics {
        dim: 2,
        count: 3,
        mu: vec![v, v],
        sigma: vec![0.0; 4],
    };
    assert_eq!(flat(1.0).frechet_distance(&flat(3.0)).unwrap(), 8.0);
}

#[test]
fn errors_are_reported() {
    // Missing weights: the message says where to download them.
    let missing = Path::new("/nonexistent/pt_inception-2015-12-05-6726825d.pth");
    let device = default_device();
    for result in [
        FidInception::<B>::load_pth(missing, &device),
        FidInception::<B>::load_safetensors(missing, &device),
    ] {
        let err = result.expect_err("missing weights must fail");
        assert!(matches!(err, FidError::MissingWeights { .. }));
        assert!(err.to_string().contains(FID_WEIGHTS_URL), "{err}");
    }
    // Shape mismatches of the Fréchet distance.
    let eye = |d: usize| -> Vec<f64> {
        (0..d * d)
            .map(|i| if i % (d + 1) == 0 { 1.0 } else { 0.0 })
            .collect()
    };
    let r = frechet_distance(&[0.0; 3], &eye(3), &[0.0; 2], &eye(2));
    assert!(matches!(r, Err(FidError::Shape(_))), "{r:?}");
    let r = frechet_distance(&[0.0; 3], &eye(3), &[0.0; 3], &eye(2));
    assert!(matches!(r, Err(FidError::Shape(_))), "{r:?}");
    let r = frechet_distance(&[], &[], &[], &[]);
    assert!(matches!(r, Err(FidError::Shape(_))), "{r:?}");
    let r = frechet_distance(&[f64::NAN; 2], &eye(2), &[0.0; 2], &eye(2));
    assert!(matches!(r, Err(FidError::NonFinite(_))), "{r:?}");
    assert!(
        (frechet_distance(&[1.0, 0.0], &eye(2), &[0.0, 0.0], &eye(2)).unwrap() - 1.0).abs() < 1e-12
    );
    // Statistics: ragged rows, too few samples.
    let mut s = ActivationStatistics::new(3);
    assert!(matches!(s.push(&[1.0f32; 4]), Err(FidError::Shape(_))));
    s.push(&[1.0f32, 2.0, 3.0]).unwrap();
    assert!(matches!(
        s.covariance(),
        Err(FidError::NotEnoughSamples { .. })
    ));
    assert!(matches!(
        ActivationStatistics::new(3).mean(),
        Err(FidError::NotEnoughSamples { .. })
    ));
    // Bad network input and a missing folder (the network is not run: random weights do).
    let m = enco::eval::FidInceptionConfig::new().init::<B>(&device);
    let gray = Tensor::<B, 4>::zeros([1, 1, 8, 8], &device);
    assert!(matches!(m.forward_features(gray), Err(FidError::Shape(_))));
    let r = fid_between_folders(
        Path::new("/nonexistent/a"),
        Path::new("/nonexistent/b"),
        &m,
        50,
        &device,
        |_, _| {},
    );
    assert!(matches!(r, Err(FidError::Data(_))), "{r:?}");
    assert!(matches!(
        m.activations(&[], 0, &device, |_, _| {}),
        Err(FidError::Config(_))
    ));
    // An unreadable image after a good one (images are decoded on a thread of their own, a
    // batch ahead): the batch before it is done, then the error names the file.
    let dir = std::env::temp_dir().join(format!("enco-fid-bad-image-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    enco::data::image::RgbImage::new(8, 8)
        .save(dir.join("a.png"))
        .unwrap();
    std::fs::write(dir.join("b.png"), b"not a png").unwrap();
    let files = [dir.join("a.png"), dir.join("b.png"), dir.join("a.png")];
    let mut seen = Vec::new();
    let r = m.activations(&files, 1, &device, |done, total| seen.push((done, total)));
    std::fs::remove_dir_all(&dir).unwrap();
    let err = r.expect_err("an unreadable image must fail");
    assert!(matches!(err, FidError::Data(_)), "{err:?}");
    assert!(err.to_string().contains("b.png"), "{err}");
    assert_eq!(seen, vec![(1, 3)]);
}

/// Optional: `ENCO_FID_PTH` names a PyTorch `.pth` holding the fixture's state_dict (or the
/// official `pt_inception-2015-12-05-6726825d.pth` with `ENCO_FID_PTH_OFFICIAL=1`). The fixture
/// copy must give the same features as the safetensors file; the official weights must load
/// and give finite features.
#[test]
fn pth_weights_load() {
    let Some(pth) = std::env::var_os("ENCO_FID_PTH") else {
        eprintln!("notice: ENCO_FID_PTH not set, skipping the .pth loading test");
        return;
    };
    let Some(dir) = fixture_dir() else { return };
    let t = tensors(&dir);
    let from_pth = FidInception::<B>::load_pth(&pth, &default_device()).expect("the .pth loads");
    let x = input_tensor(t, &IMAGES[0..1]);
    let a = to_f64(from_pth.forward_features(x.clone()).unwrap());
    assert!(a.iter().all(|v| v.is_finite()));
    if std::env::var("ENCO_FID_PTH_OFFICIAL").is_ok_and(|v| v == "1") {
        println!(
            "official weights: pool3 of {} starts {:?}",
            IMAGES[0],
            &a[..4]
        );
        return;
    }
    let b = to_f64(model(&dir).forward_features(x).unwrap());
    assert_eq!(a, b, ".pth and safetensors weights give different features");
    println!(".pth weights give the same features as the safetensors file");
}

#[test]
fn wrong_weights_file_is_rejected() {
    let Some(dir) = fixture_dir() else { return };
    // A safetensors file without the network's tensors.
    let r = FidInception::<B>::load_safetensors(dir.join("frechet.safetensors"), &default_device());
    let err = r.expect_err("a file without the weights must fail");
    println!("wrong weights file: {err}");
    assert!(
        matches!(
            err,
            FidError::MissingWeight { .. } | FidError::UnexpectedWeight { .. }
        ),
        "{err}"
    );
}
