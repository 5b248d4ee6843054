//! The training loop on a tiny image folder: schedules per epoch, checkpoints, and a resume that
//! continues bit-exactly.

use std::path::{Path, PathBuf};

use crate::common::*;
use enco::burn::config::Config;
use enco::data::{Preprocess, SyntheticDatasetConfig, Transform, image_files, synthetic_mapping};
use enco::nn::{NLayerDiscriminatorConfig, ResnetGeneratorConfig};
use enco::sampling::DagSamplerConfig;
use enco::train::{
    CAPTION_HEIGHT, CutConfig, CycleGanConfig, DatasetPreset, EncoConfig, LOSS_CURVE_FILE,
    LOSS_LOG_FILE, ModelConfig, ModelKind, SAMPLES_DIR, StepReport, TITLE_HEIGHT, TrainingConfig,
    TrainingRun, load_translator, read_loss_log,
};

fn dataset(name: &str) -> PathBuf {
    image_folders("loop", name, 3, 2)
}

/// Whether every loss of a step is finite.
fn losses_are_finite(r: &StepReport) -> bool {
    let l = r.losses;
    [l.d, l.g, l.g_gan, l.content, l.identity]
        .iter()
        .all(|v| v.is_finite())
}

fn config(root: &Path) -> TrainingConfig {
    tiny_run(tiny_enco(2).into(), root, 36)
        .with_keep_checkpoints(2)
        .with_sample_every(3)
        .with_seed(5)
}

#[test]
fn a_stopped_and_resumed_run_ends_where_a_straight_run_ends() {
    let root = dataset("resume");
    let dev = device();
    let out_straight = root.join("out-straight");
    let mut straight = TrainingRun::<AB>::new(config(&root), &out_straight, &dev).unwrap();
    assert_eq!(straight.batches_per_epoch(), 3);
    let mut reports: Vec<StepReport> = Vec::new();
    straight.run(None, |r| reports.push(*r)).unwrap();
    assert_eq!(reports.len(), 6);
    for r in &reports {
        assert!(losses_are_finite(r), "{r:?}");
    }
    // Epoch 1: identity on, factor 1; epoch 2 (decay half): identity off, factor 1 - 1/2.
    assert!(
        reports[..3]
            .iter()
            .all(|r| r.epoch == 1 && r.losses.identity > 0.0 && r.lr_factor == 1.0)
    );
    assert!(
        reports[3..]
            .iter()
            .all(|r| r.epoch == 2 && r.losses.identity == 0.0 && r.lr_factor == 0.5)
    );
    let kept = std::fs::read_dir(out_straight.join("checkpoints"))
        .unwrap()
        .count();
    assert_eq!(kept, 2, "only the newest checkpoints are kept");

    let out = root.join("out-resumed");
    let mut first = TrainingRun::<AB>::new(config(&root), &out, &dev).unwrap();
    first.run(Some(4), |_| {}).unwrap();
    assert_eq!(first.position.iteration, 4);
    drop(first);
    let mut resumed = TrainingRun::<AB>::resume(&out, &dev).unwrap();
    assert_eq!((resumed.position.epoch, resumed.position.batch), (2, 1));
    let mut rest = Vec::new();
    resumed.run(None, |r| rest.push(*r)).unwrap();
    assert_eq!(rest.len(), 2);
    assert_eq!(rest[1].losses, reports[5].losses);
    assert_eq!(
        run_weights(&resumed),
        run_weights(&straight),
        "resumed run diverged"
    );
    // The loss log of the resumed run reads as the straight run's: iterations 1..=6 once each,
    // the same values (the lines of iterations trained after the last checkpoint are dropped).
    let log_straight = read_loss_log(&out_straight.join(LOSS_LOG_FILE)).unwrap();
    let log_resumed = read_loss_log(&out.join(LOSS_LOG_FILE)).unwrap();
    assert_eq!(
        log_straight.iter().map(|r| r.iteration).collect::<Vec<_>>(),
        (1..=6).collect::<Vec<_>>()
    );
    assert_eq!(log_resumed, log_straight);
    for dir in [&out_straight, &out] {
        let curve = enco::data::load_rgb(&dir.join(LOSS_CURVE_FILE)).unwrap();
        assert!(curve.width() > 100 && curve.height() > 100);
        // Samples at iterations 3 and 6: 4 columns (real A, fake B, real B, idt B) of 32 px,
        // enlarged to 256 px under the title and caption bands.
        for it in [3, 6] {
            let grid =
                enco::data::load_rgb(&dir.join(SAMPLES_DIR).join(format!("iter_{it:010}.png")))
                    .unwrap();
            assert_eq!(
                grid.dimensions(),
                (4 * 256, TITLE_HEIGHT + CAPTION_HEIGHT + 256)
            );
        }
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn the_same_seed_gives_the_same_run_and_another_seed_another() {
    let root = dataset("seeded");
    let dev = device();
    let train = |seed: u64, name: &str| {
        let mut config = config(&root).with_sample_every(0).with_seed(seed);
        config.model = config.model.with_seed(seed);
        let mut run = TrainingRun::<AB>::new(config, &root.join(name), &dev).unwrap();
        run.run(Some(3), |_| {}).unwrap();
        run_weights(&run)
    };
    let a = train(11, "a");
    let b = train(11, "b");
    let c = train(12, "c");
    assert_eq!(a, b, "same seed, same config: identical parameters");
    assert_ne!(a, c, "another seed must give another run");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_run_of_another_architecture_does_not_resume_silently() {
    let root = dataset("otherarch");
    let dev = device();
    let out = root.join("out");
    let mut run = TrainingRun::<AB>::new(config(&root), &out, &dev).unwrap();
    run.run(Some(1), |_| {}).unwrap();
    drop(run);
    // Someone edits training.json to a wider generator: the checkpoint no longer fits.
    let mut edited = TrainingConfig::load(out.join("training.json")).unwrap();
    let ModelConfig::Enco(model) = &mut edited.model else {
        panic!("an EnCo run")
    };
    model.generator.ngf = 8;
    edited.save(out.join("training.json")).unwrap();
    let err = TrainingRun::<AB>::resume(&out, &dev).err().unwrap();
    assert!(err.to_string().contains("checkpoint"), "{err}");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn the_synthetic_data_set_has_known_targets_and_trains() {
    let root = std::env::temp_dir().join(format!("enco-loop-{}-synthetic", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    SyntheticDatasetConfig::new()
        .with_size(32)
        .with_train_a(3)
        .with_train_b(2)
        .with_test(2)
        .write(&root)
        .unwrap();
    for (side, n) in [("trainA", 3), ("trainB", 2), ("testA", 2), ("testB", 2)] {
        assert_eq!(image_files(&root.join(side)).unwrap().len(), n, "{side}");
    }
    let err = SyntheticDatasetConfig::new()
        .with_size(4)
        .write(&root.join("tiny"))
        .unwrap_err();
    assert!(err.to_string().contains("8 px"), "{err}");
    // testB is exactly the mapping of testA, file by file; the identity is far from it.
    for name in ["0000.png", "0001.png"] {
        let a = enco::data::load_rgb(&root.join("testA").join(name)).unwrap();
        let b = enco::data::load_rgb(&root.join("testB").join(name)).unwrap();
        assert_eq!(synthetic_mapping(&a), b);
        assert!(enco::eval::psnr(&a, &b).unwrap() < 20.0);
    }
    let config = config(&root).with_transform(Transform {
        preprocess: Preprocess::None,
        load_size: 32,
        crop_size: 32,
        flip: true,
    });
    let mut run = TrainingRun::<AB>::new(config, &root.join("out"), &device()).unwrap();
    run.run(Some(2), |_| {}).unwrap();
    assert_eq!(run.position.iteration, 2);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn presets_carry_the_readme_values() {
    for preset in DatasetPreset::ALL {
        assert_eq!(DatasetPreset::from_name(preset.name()), Some(preset));
        let c = preset.training_config("data");
        assert_eq!(
            (c.n_epochs, c.n_epochs_decay, c.warmup_epochs),
            (100, 100, 20)
        );
        let ModelConfig::Enco(model) = &c.model else {
            panic!("presets train EnCo")
        };
        assert_eq!(model.lambda_nce, 2.0);
        assert!(c.flip_equivariance);
        assert!(!preset.data_hint().is_empty());
    }
    assert_eq!("horse2zebra".parse(), Ok(DatasetPreset::Horse2zebra));
    let err = "dogs".parse::<DatasetPreset>().unwrap_err();
    assert!(err.contains("cat2dog"), "{err}");
    let city = DatasetPreset::Cityscapes.training_config("data");
    assert_eq!(city.direction, enco::data::Direction::BtoA);
    let paper =
        DatasetPreset::Horse2zebra.paper_epochs(DatasetPreset::Horse2zebra.training_config("data"));
    assert_eq!(paper.n_epochs + paper.n_epochs_decay, 400);
    let paper = DatasetPreset::Cat2dog.paper_epochs(DatasetPreset::Cat2dog.training_config("data"));
    assert_eq!(paper.n_epochs + paper.n_epochs_decay, 200);
}

#[test]
fn missing_data_and_missing_checkpoints_are_clear_errors() {
    let dev = device();
    let root = std::env::temp_dir().join(format!("enco-loop-{}-none", std::process::id()));
    let err = TrainingRun::<AB>::new(config(&root), &root.join("out"), &dev)
        .err()
        .unwrap();
    assert!(err.to_string().contains("trainA"), "{err}");
    let err = TrainingRun::<AB>::resume(&root.join("nowhere"), &dev)
        .err()
        .unwrap();
    assert!(err.to_string().contains("training.json"), "{err}");
}

/// The baselines on tiny networks: CUT (taps 0, 4, 8 and both residual blocks), FastCUT and
/// CycleGAN (a pool smaller than the run, so stored fakes are drawn and checkpointed).
fn baseline_models() -> Vec<(&'static str, ModelConfig)> {
    let generator = ResnetGeneratorConfig::new().with_ngf(4).with_n_blocks(2);
    let discriminator = NLayerDiscriminatorConfig::new().with_ndf(4);
    let cut = |c: CutConfig| {
        c.with_generator(generator.clone())
            .with_discriminator(discriminator.clone())
            .with_head_nc(16)
            .with_nce_layers(vec![0, 4, 8, 12, 13])
            .with_num_patches(16)
            .with_seed(3)
    };
    vec![
        ("cut", cut(CutConfig::cut()).into()),
        ("fastcut", cut(CutConfig::fastcut()).into()),
        (
            "cyclegan",
            CycleGanConfig::new()
                .with_generator(generator.clone())
                .with_discriminator(discriminator.clone())
                .with_pool_size(2)
                .with_seed(3)
                .into(),
        ),
    ]
}

#[test]
fn every_model_trains_resumes_exactly_and_translates() {
    let root = dataset("models");
    let dev = device();
    for (name, model) in baseline_models() {
        let config = {
            let mut c = config(&root).with_sample_every(3);
            c.model = model.clone();
            c
        };
        let out_straight = root.join(format!("{name}-straight"));
        let mut straight = TrainingRun::<AB>::new(config.clone(), &out_straight, &dev).unwrap();
        let mut reports: Vec<StepReport> = Vec::new();
        straight.run(None, |r| reports.push(*r)).unwrap();
        assert_eq!(reports.len(), 6, "{name}");
        for r in &reports {
            assert!(losses_are_finite(r), "{name}: {r:?}");
            assert!(
                r.losses.content > 0.0,
                "{name}: the content / cycle term is on"
            );
        }
        let out = root.join(format!("{name}-resumed"));
        let mut first = TrainingRun::<AB>::new(config, &out, &dev).unwrap();
        first.run(Some(4), |_| {}).unwrap();
        drop(first);
        let mut resumed = TrainingRun::<AB>::resume(&out, &dev).unwrap();
        assert_eq!(resumed.trainer.config().kind(), model.kind(), "{name}");
        let mut rest = Vec::new();
        resumed.run(None, |r| rest.push(*r)).unwrap();
        assert_eq!(rest[1].losses, reports[5].losses, "{name}: resumed losses");
        assert_eq!(
            run_weights(&resumed),
            run_weights(&straight),
            "{name}: resumed run diverged"
        );

        // Translation from the last checkpoint, both ways for CycleGAN only.
        let checkpoint = std::fs::read_dir(out.join("checkpoints"))
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .max()
            .unwrap();
        let image = enco::data::load_rgb(&root.join("trainA").join("0.png")).unwrap();
        let g = load_translator::<B>(&checkpoint, false, &dev).unwrap();
        let fake = enco::eval::translate_image(&g, &image, &dev).unwrap();
        assert_eq!(fake.dimensions(), image.dimensions(), "{name}");
        let inverse = load_translator::<B>(&checkpoint, true, &dev);
        match model {
            ModelConfig::CycleGan(_) => {
                let g_b = inverse.unwrap();
                let back = enco::eval::translate_image(&g_b, &fake, &dev).unwrap();
                assert_eq!(back.dimensions(), image.dimensions());
            }
            _ => {
                let err = inverse.err().unwrap();
                assert!(err.to_string().contains("one way"), "{name}: {err}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn models_have_names_defaults_and_epoch_budgets() {
    for kind in ModelKind::ALL {
        assert_eq!(kind.name().parse::<ModelKind>(), Ok(kind));
        assert_eq!(kind.default_config().kind(), kind);
        let c = TrainingConfig::for_model(kind, "data");
        let (n, d, w) = kind.default_epochs();
        assert_eq!((c.n_epochs, c.n_epochs_decay, c.warmup_epochs), (n, d, w));
    }
    assert_eq!(ModelKind::FastCut.default_epochs(), (150, 50, 0));
    let ModelConfig::Cut(fast) = ModelKind::FastCut.default_config() else {
        panic!("FastCUT is a CUT configuration")
    };
    assert!(!fast.nce_idt && fast.flip_equivariance && fast.lambda_nce == 10.0);
    let err = "pix2pix".parse::<ModelKind>().unwrap_err();
    assert!(err.contains("cyclegan"), "{err}");
    let bad = CutConfig::cut().with_nce_layers(vec![4, 0]);
    let err = bad.init::<AB>(&device()).err().unwrap();
    assert!(err.to_string().contains("ascending"), "{err}");
}

/// Every model, trained 2 epochs on the generated day → dusk data set (small networks, 32 px),
/// keeps finite losses and translates the test scenes closer to their known targets than the
/// untranslated input is (PSNR).
#[test]
fn every_model_beats_the_identity_baseline_in_two_epochs() {
    let root = std::env::temp_dir().join(format!("enco-loop-{}-baseline", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let data = root.join("data");
    SyntheticDatasetConfig::new()
        .with_size(32)
        .with_train_a(60)
        .with_train_b(60)
        .with_test(8)
        .write(&data)
        .unwrap();
    let identity = enco::eval::paired_scores(&data.join("testA"), &data.join("testB")).unwrap();
    let generator = ResnetGeneratorConfig::new().with_ngf(8).with_n_blocks(3);
    let discriminator = NLayerDiscriminatorConfig::new().with_ndf(8);
    let enco_model = EncoConfig::new()
        .with_generator(generator.clone())
        .with_discriminator(discriminator.clone())
        .with_nce_layers(vec![3, 7, 12, 14, 18, 22])
        .with_head_nc(32)
        .with_sampler(DagSamplerConfig::new().with_num_patches(32))
        .with_lr_g(2e-4)
        .with_lr_f(2e-4);
    let cut = |c: CutConfig| {
        c.with_generator(generator.clone())
            .with_discriminator(discriminator.clone())
            .with_nce_layers(vec![0, 4, 8, 12, 14])
            .with_head_nc(32)
            .with_num_patches(32)
    };
    let models: Vec<(&str, ModelConfig)> = vec![
        ("enco", enco_model.into()),
        ("cut", cut(CutConfig::cut()).into()),
        ("fastcut", cut(CutConfig::fastcut()).into()),
        (
            "cyclegan",
            CycleGanConfig::new()
                .with_generator(generator.clone())
                .with_discriminator(discriminator.clone())
                .into(),
        ),
    ];
    let dev = device();
    for (name, model) in models {
        let config = TrainingConfig::new(model, data.clone())
            .with_transform(Transform {
                preprocess: Preprocess::None,
                load_size: 32,
                crop_size: 32,
                flip: true,
            })
            .with_n_epochs(1)
            .with_n_epochs_decay(1)
            .with_warmup_epochs(0)
            .with_checkpoint_every(0)
            .with_sample_every(0);
        let out = root.join(name);
        let mut run = TrainingRun::<AB>::new(config, &out, &dev).unwrap();
        let mut finite = true;
        run.run(None, |r| finite &= losses_are_finite(r)).unwrap();
        assert!(finite, "{name}: a loss went non-finite");
        let checkpoint = run.checkpoint().unwrap();
        let g = load_translator::<B>(&checkpoint, false, &dev).unwrap();
        let translated = out.join("translated");
        enco::eval::translate_folder(&g, &data.join("testA"), &translated, 8, &dev, |_, _| {})
            .unwrap();
        let scores = enco::eval::paired_scores(&translated, &data.join("testB")).unwrap();
        println!(
            "{name}: PSNR {:.2} dB (identity {:.2} dB)",
            scores.psnr, identity.psnr
        );
        assert!(
            scores.psnr > identity.psnr,
            "{name}: {:.2} dB does not beat the identity baseline's {:.2} dB",
            scores.psnr,
            identity.psnr
        );
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// A CUT configuration edited after the model was built is checked again at the step, with an
/// error rather than a panic.
#[test]
fn a_cut_step_with_no_taps_is_an_error() {
    use enco::burn::prelude::*;
    let config = CutConfig::cut()
        .with_generator(ResnetGeneratorConfig::new().with_ngf(4).with_n_blocks(2))
        .with_discriminator(NLayerDiscriminatorConfig::new().with_ndf(4))
        .with_nce_layers(vec![0, 4])
        .with_head_nc(8)
        .with_num_patches(4);
    let dev = device();
    let mut trainer = enco::train::CutTrainer::new(config.init::<AB>(&dev).unwrap(), config);
    trainer.config.nce_layers.clear();
    let image = || Tensor::<AB, 4>::zeros([1, 3, 32, 32], &dev);
    let mut rng = <rand::rngs::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
    let before = trainer.model.discriminator.clone();
    let err = trainer.step(image(), image(), 1.0, &mut rng).unwrap_err();
    assert!(err.to_string().contains("nce_layers"), "{err}");
    // Nothing was updated.
    let d = |m: &enco::nn::NLayerDiscriminator<AB>| match &m.model[0] {
        enco::nn::Layer::Conv(c) => to_vec(c.weight.val().inner()),
        _ => unreachable!(),
    };
    assert_eq!(d(&trainer.model.discriminator), d(&before));
}

/// CycleGAN's pool: its first `capacity` images come back unchanged; after that about half the
/// queries return an earlier fake (which the new one replaces), the rest the new fake itself.
#[test]
fn the_image_pool_passes_its_first_images_through_then_swaps_about_half() {
    use enco::burn::prelude::*;
    use enco::train::ImagePool;
    let dev = device();
    let image = |v: f32| Tensor::<B, 4>::full([1, 1, 2, 2], v, &dev);
    let mut rng = <rand::rngs::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(4);
    let mut pool = ImagePool::new(2);
    for v in [1.0, 2.0] {
        assert_eq!(to_vec(pool.query(image(v), &mut rng)), vec![v; 4]);
    }
    let mut swapped = 0;
    for i in 3..203 {
        let v = i as f32;
        let out = to_vec(pool.query(image(v), &mut rng));
        assert!(out.iter().all(|&x| x == out[0]), "one image, not a mix");
        if out[0] != v {
            swapped += 1;
            assert!(out[0] < v, "a swap returns an earlier fake");
        }
        assert_eq!(pool.images().len(), 2);
    }
    assert!(
        (70..=130).contains(&swapped),
        "{swapped} swaps in 200 queries"
    );
    // A batch is treated image by image; capacity 0 returns the batch itself.
    let batch = Tensor::cat(vec![image(7.0), image(8.0)], 0);
    let out = ImagePool::new(0).query(batch.clone(), &mut rng);
    assert_eq!(to_vec(out), to_vec(batch));
}

/// Periodic evaluation: scores every N iterations and at the end into eval.jsonl, the best
/// checkpoint in best/ (outside the rotation), epoch snapshots outside the rotation, and a
/// resume that keeps the evaluations up to its checkpoint.
#[test]
fn periodic_evaluation_keeps_the_best_checkpoint_and_snapshots() {
    use enco::train::{
        BEST_DIR, EVAL_CURVE_FILE, EVAL_LOG_FILE, EvalRecord, EvaluationConfig, SNAPSHOTS_DIR,
        read_json_lines,
    };
    let root = std::env::temp_dir().join(format!("enco-loop-{}-eval", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    SyntheticDatasetConfig::new()
        .with_size(32)
        .with_train_a(4)
        .with_train_b(4)
        .with_test(3)
        .write(&root)
        .unwrap();
    let config = config(&root)
        .with_transform(Transform {
            preprocess: Preprocess::ResizeAndCrop,
            load_size: 32,
            crop_size: 32,
            flip: true,
        })
        .with_keep_checkpoints(1)
        .with_save_epoch_freq(1)
        .with_evaluation(Some(
            EvaluationConfig::new(3).with_paired_target(Some(root.join("testB"))),
        ));
    let out = root.join("run");
    let dev = device();
    let mut run = TrainingRun::<AB>::new(config.clone(), &out, &dev).unwrap();
    run.run(Some(5), |_| {}).unwrap();
    let records: Vec<EvalRecord> = read_json_lines(&out.join(EVAL_LOG_FILE)).unwrap();
    assert_eq!(
        records.iter().map(|r| r.iteration).collect::<Vec<_>>(),
        vec![3]
    );
    // Resume to the end (4 iterations per epoch, 2 epochs): evaluations at 6 and at the end, 8.
    drop(run);
    let mut run = TrainingRun::<AB>::resume(&out, &dev).unwrap();
    run.run(None, |_| {}).unwrap();
    let records: Vec<EvalRecord> = read_json_lines(&out.join(EVAL_LOG_FILE)).unwrap();
    assert_eq!(
        records.iter().map(|r| r.iteration).collect::<Vec<_>>(),
        vec![3, 6, 8]
    );
    for r in &records {
        assert_eq!(r.images, 3);
        assert!(r.fid.is_none());
        assert!(r.psnr.unwrap().is_finite() && r.ssim.unwrap().is_finite());
    }
    // best/ holds the checkpoint of the highest PSNR so far, with its scores.
    let best = records
        .iter()
        .max_by(|a, b| a.psnr.partial_cmp(&b.psnr).unwrap())
        .unwrap();
    assert!(records.iter().filter(|r| r.best).any(|r| r == best));
    let saved: EvalRecord = serde_json::from_str(
        &std::fs::read_to_string(out.join(BEST_DIR).join("eval.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(&saved, best);
    load_translator::<B>(&out.join(BEST_DIR), false, &dev).unwrap();
    assert!(out.join(EVAL_CURVE_FILE).is_file());
    // One rotating checkpoint, two permanent epoch snapshots.
    assert_eq!(
        std::fs::read_dir(out.join("checkpoints")).unwrap().count(),
        1
    );
    for epoch in ["epoch_0001", "epoch_0002"] {
        load_translator::<B>(&out.join(SNAPSHOTS_DIR).join(epoch), false, &dev).unwrap();
    }
    // Without FID weights or targets there is nothing to score: an error before any work.
    let bad = config.with_evaluation(Some(EvaluationConfig::new(3)));
    let err = TrainingRun::<AB>::new(bad, &root.join("bad"), &dev)
        .err()
        .unwrap();
    assert!(err.to_string().contains("fid_weights"), "{err}");
    assert!(!root.join("bad").exists());
    std::fs::remove_dir_all(&root).unwrap();
}
