//! The full training iteration on a tiny model: it runs, updates all three networks, is
//! reproducible from the seeds, and the identity phase changes the objective.

use crate::common::*;
use burn::prelude::*;
use burn::tensor::Distribution;
use enco::burn;
use enco::train::EncoTrainer;
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

fn images(seed: u64) -> (Tensor<AB, 4>, Tensor<AB, 4>) {
    let dev = device();
    <B as Backend>::seed(&dev, seed);
    let a = Tensor::<AB, 4>::random([1, 3, 32, 32], Distribution::Uniform(-1.0, 1.0), &dev);
    let b = Tensor::<AB, 4>::random([1, 3, 32, 32], Distribution::Uniform(-1.0, 1.0), &dev);
    (a, b)
}

fn flat_params<M: burn::module::Module<AB>>(m: &M) -> Vec<f32> {
    use burn::module::ModuleVisitor;
    struct Collect(Vec<f32>);
    impl ModuleVisitor<AB> for Collect {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<AB, D>>) {
            self.0.extend(to_vec(param.val().inner()));
        }
    }
    let mut c = Collect(Vec::new());
    m.visit(&mut c);
    c.0
}

fn run(steps: usize) -> (Vec<f32>, Vec<enco::train::StepLosses>) {
    let config = tiny_enco(11);
    let model = config.init::<AB>(&device()).unwrap();
    let mut trainer = EncoTrainer::new(model, config);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let (a, b) = images(1);
    let losses = (0..steps)
        .map(|i| {
            trainer
                .step(a.clone(), b.clone(), i % 2 == 0, 1.0, None, &mut rng)
                .unwrap()
        })
        .collect();
    let mut all = flat_params(&trainer.model.generator);
    all.extend(flat_params(&trainer.model.discriminator));
    all.extend(flat_params(&trainer.model.heads));
    (all, losses)
}

#[test]
fn a_step_updates_every_network_and_reports_finite_losses() {
    let config = tiny_enco(11);
    let model = config.init::<AB>(&device()).unwrap();
    let before = (
        flat_params(&model.generator),
        flat_params(&model.discriminator),
        flat_params(&model.heads),
    );
    let mut trainer = EncoTrainer::new(model, config);
    let (a, b) = images(2);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let losses = trainer.step(a, b, true, 1.0, None, &mut rng).unwrap();
    for v in [
        losses.d,
        losses.g_gan,
        losses.content,
        losses.identity,
        losses.g,
    ] {
        assert!(v.is_finite(), "{losses:?}");
    }
    assert!(losses.identity > 0.0);
    // Official weighting in the identity phase: g = gan + 0.5 (content + identity).
    let expected = losses.g_gan + 0.5 * (losses.content + losses.identity);
    assert!(
        (losses.g - expected).abs() < 1e-5 * expected.abs().max(1.0),
        "{losses:?}"
    );
    assert_ne!(
        flat_params(&trainer.model.generator),
        before.0,
        "G not updated"
    );
    assert_ne!(
        flat_params(&trainer.model.discriminator),
        before.1,
        "D not updated"
    );
    assert_ne!(
        flat_params(&trainer.model.heads),
        before.2,
        "heads not updated"
    );
}

#[test]
fn same_seeds_give_the_same_parameters() {
    let (p1, l1) = run(3);
    let (p2, l2) = run(3);
    assert_eq!(l1, l2);
    assert_eq!(p1, p2);
    assert!(l1.iter().skip(1).step_by(2).all(|l| l.identity == 0.0));
}

#[test]
fn learning_rate_factor_at_the_spec_epochs() {
    use enco::train::LrSchedule;
    let s = LrSchedule {
        n_epochs: 100,
        n_epochs_decay: 100,
        warmup_epochs: 20,
    };
    let expect = [
        (1, 0.05),
        (2, 0.10),
        (3, 0.15),
        (19, 0.95),
        (20, 1.0),
        (21, 1.0),
        (100, 1.0),
        (101, 0.990099),
        (102, 0.980198),
        (199, 0.019802),
        (200, 0.009901),
    ];
    for (epoch, factor) in expect {
        assert!(
            (s.factor(epoch) - factor).abs() < 1e-6,
            "epoch {epoch}: {}",
            s.factor(epoch)
        );
    }
    assert!(!s.is_finetuning(100) && s.is_finetuning(101));
    let no_warmup = LrSchedule {
        warmup_epochs: 0,
        ..s
    };
    assert_eq!(no_warmup.factor(1), 1.0);
}

/// Training N steps straight and N/2 + checkpoint + resume + N/2 give identical parameters.
#[test]
fn resume_from_a_checkpoint_continues_bit_exactly() {
    use enco::train::{
        ChaCha8Rng, ModelTrainer, TrainingPosition, load_checkpoint, save_checkpoint,
    };
    let dir = std::env::temp_dir().join(format!("enco-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dev = device();
    let batches: Vec<_> = (0..4).map(|i| images(10 + i)).collect();
    let train =
        |trainer: &mut EncoTrainer<AB>, rng: &mut ChaCha8Rng, range: std::ops::Range<usize>| {
            for i in range {
                let (a, b) = batches[i].clone();
                trainer.step(a, b, i < 2, 0.5, None, rng).unwrap();
            }
        };
    let snapshot = |t: &EncoTrainer<AB>| {
        let mut all = flat_params(&t.model.generator);
        all.extend(flat_params(&t.model.discriminator));
        all.extend(flat_params(&t.model.heads));
        all
    };

    let mut straight = EncoTrainer::new(tiny_enco(11).init::<AB>(&dev).unwrap(), tiny_enco(11));
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    train(&mut straight, &mut rng, 0..4);

    let mut first = EncoTrainer::new(tiny_enco(11).init::<AB>(&dev).unwrap(), tiny_enco(11));
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    train(&mut first, &mut rng, 0..2);
    let position = TrainingPosition {
        epoch: 1,
        batch: 2,
        iteration: 2,
        rng,
    };
    let ckpt = save_checkpoint(&dir, "iter_2", &ModelTrainer::Enco(first), &position).unwrap();
    let (resumed, position) = load_checkpoint::<AB>(&ckpt, tiny_enco(11).into(), &dev).unwrap();
    let ModelTrainer::Enco(mut resumed) = resumed else {
        panic!("an EnCo checkpoint restores an EnCo trainer")
    };
    assert_eq!(position.iteration, 2);
    let mut rng = position.rng;
    train(&mut resumed, &mut rng, 2..4);
    assert_eq!(snapshot(&resumed), snapshot(&straight), "resume diverged");

    // A checkpoint of another architecture is a clear error.
    let other = tiny_enco(11).with_head_nc(32);
    let err = load_checkpoint::<AB>(&ckpt, other.into(), &dev)
        .err()
        .expect("mismatch");
    assert!(err.to_string().contains("head_nc"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// An all-zero projection row (dead ReLU features) must not turn the gradients into NaN.
#[test]
fn all_zero_rows_give_finite_gradients() {
    let dev = device();
    let x = Tensor::<AB, 2>::from_data([[0.0f32, 0.0, 0.0], [1.0, 2.0, 2.0]], &dev).require_grad();
    let k = Tensor::<AB, 2>::from_data([[1.0f32, 0.0, 0.0], [0.0, 1.0, 0.0]], &dev);
    let q = enco::nn::l2_normalize(x.clone());
    let loss = enco::loss::enco_pair_loss(q.clone(), k);
    let grads = loss.backward();
    let g = to_vec(x.grad(&grads).unwrap());
    assert!(g.iter().all(|v| v.is_finite()), "{g:?}");
    let q = to_vec(q.inner());
    assert_eq!(&q[..3], &[0.0, 0.0, 0.0]);
    assert!((q[3] - 1.0 / 3.0).abs() < 1e-6);
}

#[test]
fn a_generator_output_without_the_tapped_features_is_an_error() {
    let config = tiny_enco(11);
    let model = config.init::<AB>(&device()).unwrap();
    let (a, _) = images(3);
    let output = model.generator.forward_features(a, &[]).unwrap();
    let err = enco::train::GeneratorPass::from_output(&model.generator, &config, output, 1, false)
        .unwrap_err();
    assert!(
        err.to_string().contains("lacks the feature of layer"),
        "unexpected error: {err}"
    );
}

/// "CUT + EnCo": PatchNCE on EnCo's pairs gives λ_NCE times the mean over pairs of the mean
/// PatchNCE of each pair's (q, k), and still trains.
#[test]
fn the_patchnce_content_loss_replaces_encos_on_the_same_pairs() {
    use enco::loss::{ContentLoss, patch_nce_loss};
    let config = tiny_enco(11)
        .with_content_loss(ContentLoss::PatchNce)
        .with_nce_t(0.1);
    let model = config.init::<AB>(&device()).unwrap();
    let (a, b) = images(5);
    let pass = model.generate(&config, a, b.clone(), false).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let losses = model
        .generator_losses(&config, &pass, b, None, &mut rng)
        .unwrap();
    let pairs: Vec<f32> = losses
        .q
        .iter()
        .zip(&losses.k)
        .map(|(q, k)| to_vec(patch_nce_loss(q.clone(), k.clone(), 1, 0.1).mean().inner())[0])
        .collect();
    let expected = config.lambda_nce as f32 * pairs.iter().sum::<f32>() / pairs.len() as f32;
    let content = to_vec(losses.content.clone().inner())[0];
    assert!(
        (content - expected).abs() <= 1e-5 * expected.abs(),
        "{content} vs {expected}"
    );
    // PatchNCE of n patches is near ln(n) at initialisation, far from EnCo's 2 − 2·cos ≤ 4.
    assert!(pairs.iter().all(|&p| p > 1.0), "{pairs:?}");
    let mut trainer = EncoTrainer::new(model, config);
    let (a, b) = images(6);
    let step = trainer.step(a, b, true, 1.0, None, &mut rng).unwrap();
    assert!(step.content.is_finite() && step.g.is_finite());
}

/// The folder of a checkpoint written in format 2 (Burn's bincode recorder, before format 3)
/// and the values it must give back: `tests/data/legacy`, or `ENCO_LEGACY_CHECKPOINT_DIR`.
fn legacy_dir() -> std::path::PathBuf {
    std::env::var_os("ENCO_LEGACY_CHECKPOINT_DIR")
        .map(Into::into)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/legacy")
        })
}

/// A format-2 checkpoint still loads: the same weights, position and random stream; it trains
/// on (the optimiser states load), and saves again as the current format, which reads back
/// identically.
#[test]
fn a_checkpoint_of_format_2_still_loads_and_resaves_as_the_current_format() {
    use enco::train::{CHECKPOINT_FORMAT, ModelTrainer, load_checkpoint, save_checkpoint};
    use rand::Rng;
    let dir = legacy_dir();
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("checkpoint_format_2.expected.json")).unwrap(),
    )
    .unwrap();
    let floats = |key: &str| -> Vec<f32> {
        expected[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect()
    };
    let dev = device();
    let config = tiny_enco(11);
    let (trainer, mut position) = load_checkpoint::<AB>(
        &dir.join("checkpoint_format_2"),
        config.clone().into(),
        &dev,
    )
    .unwrap();
    let ModelTrainer::Enco(mut trainer) = trainer else {
        panic!("an EnCo checkpoint restores an EnCo trainer")
    };
    assert_eq!(
        (position.epoch, position.batch, position.iteration),
        (1, 1, 1)
    );
    let weights = |t: &EncoTrainer<AB>| {
        [
            flat_params(&t.model.generator),
            flat_params(&t.model.discriminator),
            flat_params(&t.model.heads),
        ]
    };
    for (values, name) in weights(&trainer).iter().zip(["G", "D", "F"]) {
        assert_eq!(values[..8], floats(&format!("{name}_first"))[..], "{name}");
        let sum: f64 = values.iter().map(|&v| v as f64).sum();
        let stored = expected[format!("{name}_sum")].as_f64().unwrap();
        assert!((sum - stored).abs() < 1e-9, "{name}: {sum} vs {stored}");
    }
    let mut stream = enco::train::copy_rng(&position.rng);
    let next: Vec<u64> = (0..4).map(|_| stream.next_u64()).collect();
    let stored: Vec<u64> = expected["rng_next_u64"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(next, stored, "the random stream continues where it stopped");

    let (a, b) = images(12);
    let losses = trainer
        .step(a, b, true, 0.5, None, &mut position.rng)
        .unwrap();
    assert!(losses.g.is_finite() && losses.d.is_finite());

    let out = std::env::temp_dir().join(format!("enco-format-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let before = weights(&trainer);
    let saved = save_checkpoint(&out, "now", &ModelTrainer::Enco(trainer), &position).unwrap();
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(saved.join("checkpoint.json")).unwrap())
            .unwrap();
    assert_eq!(meta["format"].as_u64(), Some(CHECKPOINT_FORMAT as u64));
    assert!(saved.join("G.mpk").is_file() && !saved.join("G.bin").exists());
    let (reloaded, _) = load_checkpoint::<AB>(&saved, config.into(), &dev).unwrap();
    let ModelTrainer::Enco(reloaded) = reloaded else {
        panic!("an EnCo checkpoint restores an EnCo trainer")
    };
    assert_eq!(weights(&reloaded), before);
    let _ = std::fs::remove_dir_all(&out);
}

/// A checkpoint that says it has a format this version does not know is refused, and the
/// message names the formats this version reads.
#[test]
fn a_checkpoint_of_an_unknown_format_is_refused() {
    let out = std::env::temp_dir().join(format!("enco-format-future-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let legacy = legacy_dir().join("checkpoint_format_2");
    std::fs::create_dir_all(&out).unwrap();
    for entry in std::fs::read_dir(&legacy).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), out.join(entry.file_name())).unwrap();
    }
    let meta = std::fs::read_to_string(out.join("checkpoint.json")).unwrap();
    let future = meta.replacen("\"format\": 2", "\"format\": 99", 1);
    assert_ne!(meta, future);
    std::fs::write(out.join("checkpoint.json"), future).unwrap();
    let err = enco::train::load_checkpoint::<AB>(&out, tiny_enco(11).into(), &device())
        .err()
        .expect("a future format is refused");
    let text = format!("{err} {:?}", std::error::Error::source(&err));
    assert!(
        text.contains("format 99") && text.contains("formats 1 to"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&out);
}
