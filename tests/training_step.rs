//! The full training iteration on a tiny model: it runs, updates all three networks, is
//! reproducible from the seeds, and the identity phase changes the objective.

mod common;

use burn::prelude::*;
use burn::tensor::Distribution;
use common::*;
use enco::burn;
use enco::nn::{NLayerDiscriminatorConfig, ResnetGeneratorConfig};
use enco::sampling::DagSamplerConfig;
use enco::train::{EncoConfig, EncoTrainer};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn tiny() -> EncoConfig {
    EncoConfig::new()
        .with_generator(ResnetGeneratorConfig::new().with_ngf(4).with_n_blocks(2))
        .with_discriminator(NLayerDiscriminatorConfig::new().with_ndf(4))
        .with_head_nc(16)
        .with_nce_layers(vec![3, 7, 12, 13, 17, 21])
        .with_sampler(DagSamplerConfig::new().with_num_patches(16))
        .with_seed(11)
}

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
    let config = tiny();
    let model = config.init::<AB>(&device()).unwrap();
    let mut trainer = EncoTrainer::new(model, config);
    let mut rng = StdRng::seed_from_u64(3);
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
    let config = tiny();
    let model = config.init::<AB>(&device()).unwrap();
    let before = (
        flat_params(&model.generator),
        flat_params(&model.discriminator),
        flat_params(&model.heads),
    );
    let mut trainer = EncoTrainer::new(model, config);
    let (a, b) = images(2);
    let mut rng = StdRng::seed_from_u64(0);
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

    let mut straight = EncoTrainer::new(tiny().init::<AB>(&dev).unwrap(), tiny());
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    train(&mut straight, &mut rng, 0..4);

    let mut first = EncoTrainer::new(tiny().init::<AB>(&dev).unwrap(), tiny());
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    train(&mut first, &mut rng, 0..2);
    let position = TrainingPosition {
        epoch: 1,
        batch: 2,
        iteration: 2,
        rng,
    };
    let ckpt = save_checkpoint(&dir, "iter_2", &ModelTrainer::Enco(first), &position).unwrap();
    let (resumed, position) = load_checkpoint::<AB>(&ckpt, tiny().into(), &dev).unwrap();
    let ModelTrainer::Enco(mut resumed) = resumed else {
        panic!("an EnCo checkpoint restores an EnCo trainer")
    };
    assert_eq!(position.iteration, 2);
    let mut rng = position.rng;
    train(&mut resumed, &mut rng, 2..4);
    assert_eq!(snapshot(&resumed), snapshot(&straight), "resume diverged");

    // A checkpoint of another architecture is a clear error.
    let other = tiny().with_head_nc(32);
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
    let config = tiny();
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
    let config = tiny()
        .with_content_loss(ContentLoss::PatchNce)
        .with_nce_t(0.1);
    let model = config.init::<AB>(&device()).unwrap();
    let (a, b) = images(5);
    let pass = model.generate(&config, a, b.clone(), false).unwrap();
    let mut rng = StdRng::seed_from_u64(1);
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
