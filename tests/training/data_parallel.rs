//! Data-parallel training on two flex replicas with Burn's collective: the all-reduced gradients
//! are the mean of the replicas', two replicas of batch 1 update the networks as one device with
//! batch 2 does, the replicas stay identical, and a data-parallel run resumes exactly.
//!
//! Everything runs in this process (Burn's local collective, one thread per replica); the tests
//! take turns, as one collective session per backend runs at a time.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::common::*;
use burn::collective::{CollectiveConfig, finish_collective, register};
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::Distribution;
use enco::burn;
use enco::nn::{HeadNorm, NLayerDiscriminatorConfig};
use enco::train::{
    EncoConfig, EncoTrainer, GradientSync, ModelConfig, PeerId, StepLosses, TrainError,
    TrainingConfig, TrainingRun,
};
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

/// The collective of one backend serves one group of peers at a time.
static COLLECTIVE: Mutex<()> = Mutex::new(());

/// A test's turn with the collective, bounded in time: a replica that waits forever in an
/// all-reduce ends the whole test process with a failure after two minutes instead of hanging it.
struct Turn {
    _lock: std::sync::MutexGuard<'static, ()>,
    done: std::sync::mpsc::Sender<()>,
}

fn turn() -> Turn {
    let lock = COLLECTIVE.lock().unwrap_or_else(|e| e.into_inner());
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let test = std::thread::current().name().unwrap_or("?").to_string();
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
            finished.recv_timeout(std::time::Duration::from_secs(120))
        {
            eprintln!("{test}: no progress in 120 s (a replica waits in the collective)");
            std::process::exit(101);
        }
    });
    Turn { _lock: lock, done }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let _ = self.done.send(());
    }
}

/// Runs `work(replica)` for replicas 0 and 1 on two threads registered as the two peers of one
/// collective, and returns their results in order.
fn on_two_replicas<T: Send>(work: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let config = CollectiveConfig::default().with_num_devices(2);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2usize)
            .map(|r| {
                let work = &work;
                let config = config.clone();
                scope.spawn(move || {
                    register::<B>(PeerId::from(r), device(), config).expect("register");
                    let out = work(r);
                    finish_collective::<B>(PeerId::from(r)).expect("finish");
                    out
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Every parameter of `module`, in visiting order.
fn params<M: Module<AB>>(module: &M) -> Vec<f32> {
    struct Collect(Vec<f32>);
    impl ModuleVisitor<AB> for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<AB, D>>) {
            self.0.extend(to_vec(param.val().inner()));
        }
    }
    let mut c = Collect(Vec::new());
    module.visit(&mut c);
    c.0
}

/// The gradient of every parameter of `module` in `grads`, in visiting order.
fn gradients<M: Module<AB>>(grads: &GradientsParams, module: &M) -> Vec<f32> {
    struct Collect<'a>(&'a GradientsParams, Vec<f32>);
    impl ModuleVisitor<AB> for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<AB, D>>) {
            let grad = self
                .0
                .get::<B, D>(param.id)
                .expect("a gradient per parameter");
            self.1.extend(to_vec(grad));
        }
    }
    let mut c = Collect(grads, Vec::new());
    module.visit(&mut c);
    c.1
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn random_images(seed: u64, n: usize) -> Tensor<AB, 4> {
    let dev = device();
    <B as Backend>::seed(&dev, seed);
    Tensor::random([n, 3, 32, 32], Distribution::Uniform(-1.0, 1.0), &dev)
}

#[test]
fn all_reduced_gradients_are_the_mean_of_the_replicas() {
    let _turn = turn();
    let discriminator = NLayerDiscriminatorConfig::new()
        .with_ndf(4)
        .init::<AB>(&device());
    let inputs = [random_images(1, 1), random_images(2, 1)];
    // Each replica forks the network (same parameter ids, leaves of its own autograd graph).
    let local = |r: usize| {
        let discriminator = discriminator.clone().fork(&device());
        let loss = discriminator
            .forward(inputs[r].clone())
            .unwrap()
            .powi_scalar(2)
            .mean();
        GradientsParams::from_grads(loss.backward(), &discriminator)
    };
    let own: Vec<Vec<f32>> = (0..2)
        .map(|r| gradients(&local(r), &discriminator))
        .collect();
    let reduced = on_two_replicas(|r| {
        let grads = GradientSync::Mean(PeerId::from(r))
            .apply::<AB>(local(r))
            .expect("all-reduce");
        gradients(&grads, &discriminator)
    });
    let mean: Vec<f32> = own[0]
        .iter()
        .zip(&own[1])
        .map(|(x, y)| 0.5 * (x + y))
        .collect();
    assert!(
        max_abs_diff(&own[0], &own[1]) > 1e-4,
        "the replicas' inputs differ"
    );
    for (r, grads) in reduced.iter().enumerate() {
        let scale = mean.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let err = max_abs_diff(grads, &mean);
        assert!(err <= 1e-6 * scale, "replica {r}: {err} (scale {scale})");
    }
    assert_eq!(reduced[0], reduced[1], "every replica gets the same mean");
}

/// Tiny EnCo with layer-norm heads (per-sample, like the generator's instance norms), and an
/// Adam ε of 1e-3 that makes Adam's step a smooth function of the gradient. With the default
/// 1e-8, a gradient that is zero in exact arithmetic (the bias of a convolution followed by an
/// instance norm) is float noise of either sign, and Adam's first steps turn any such noise
/// into ±lr: the comparison would measure that noise, not the data parallelism.
fn tiny_with_layer_norm_heads() -> EncoConfig {
    tiny_enco(11)
        .with_head_norm(HeadNorm::LayerNorm)
        .with_adam_epsilon(1e-3)
}

/// The same 16 patch positions per image for every pair of taps (all within the 8×8 maps).
fn patch_ids(images: usize) -> Vec<Vec<Vec<usize>>> {
    let ids = |image: usize| {
        (0..16)
            .map(|k| (k * 3 + image * 5) % 64)
            .collect::<Vec<_>>()
    };
    (0..3).map(|_| (0..images).map(ids).collect()).collect()
}

/// A replica of `trainer`: the same parameters and ids, forked (leaves of its own autograd
/// graph, as `ModelTrainer::fork` makes them), so that two threads never share a graph.
fn replica_of(trainer: &EncoTrainer<AB>) -> EncoTrainer<AB> {
    let mut copy = trainer.clone();
    copy.model = copy.model.fork(&device());
    copy
}

fn all_params(trainer: &EncoTrainer<AB>) -> Vec<f32> {
    let mut all = params(&trainer.model.generator);
    all.extend(params(&trainer.model.discriminator));
    all.extend(params(&trainer.model.heads));
    all
}

#[test]
fn two_replicas_of_batch_1_update_as_one_device_of_batch_2() {
    let _turn = turn();
    let config = tiny_with_layer_norm_heads();
    let model = config.init::<AB>(&device()).unwrap();
    let initial = EncoTrainer::new(model, config);
    let (a, b) = (random_images(3, 2), random_images(4, 2));
    let steps = 3;

    let mut single = replica_of(&initial);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let ids = patch_ids(2);
    let single_losses: Vec<StepLosses> = (0..steps)
        .map(|i| {
            single
                .step(a.clone(), b.clone(), i == 0, 1.0, Some(&ids), &mut rng)
                .unwrap()
        })
        .collect();

    let replicas = on_two_replicas(|r| {
        let mut trainer = replica_of(&initial);
        trainer.set_gradient_sync(GradientSync::Mean(PeerId::from(r)));
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        // Replica r gets image r and its patch ids.
        let ids: Vec<Vec<Vec<usize>>> = patch_ids(2)
            .into_iter()
            .map(|pair| vec![pair[r].clone()])
            .collect();
        let (a, b) = (a.clone().narrow(0, r, 1), b.clone().narrow(0, r, 1));
        let losses: Vec<StepLosses> = (0..steps)
            .map(|i| {
                trainer
                    .step(a.clone(), b.clone(), i == 0, 1.0, Some(&ids), &mut rng)
                    .unwrap()
            })
            .collect();
        (all_params(&trainer), losses)
    });

    let before = all_params(&initial);
    let after = all_params(&single);
    let moved = max_abs_diff(&before, &after);
    assert!(moved > 1e-4, "the steps changed the networks ({moved})");
    for (r, (replica, _)) in replicas.iter().enumerate() {
        // The updates, compared as vectors: |Δ_replica − Δ_one device| / |Δ_one device|.
        let (mut diff, mut norm) = (0.0f64, 0.0f64);
        for ((x, y), x0) in replica.iter().zip(&after).zip(&before) {
            diff += f64::from(x - y).powi(2);
            norm += f64::from(y - x0).powi(2);
        }
        let relative = (diff / norm).sqrt();
        eprintln!("replica {r}: relative difference of the updates {relative:e}");
        assert!(
            relative < 1e-4,
            "replica {r}: the update differs from one device's by {relative} (relative)"
        );
    }
    assert_eq!(replicas[0].0, replicas[1].0, "the replicas are identical");
    // The mean of the replicas' losses is the loss of the whole batch.
    for (i, s) in single_losses.iter().enumerate() {
        let (l0, l1) = (replicas[0].1[i], replicas[1].1[i]);
        for (name, x, y, whole) in [
            ("d", l0.d, l1.d, s.d),
            ("g_gan", l0.g_gan, l1.g_gan, s.g_gan),
            ("content", l0.content, l1.content, s.content),
            ("identity", l0.identity, l1.identity, s.identity),
            ("g", l0.g, l1.g, s.g),
        ] {
            let mean = 0.5 * (x + y);
            assert!(
                (mean - whole).abs() <= 1e-4 * whole.abs().max(1e-3),
                "step {i} {name}: replicas {x}, {y} (mean {mean}) against {whole}"
            );
        }
    }
}

#[test]
fn replicas_with_their_own_data_and_patches_stay_identical_over_five_steps() {
    let _turn = turn();
    // Batch-norm heads (the default) and DAG sampling from each replica's own generator.
    let config = tiny_enco(5);
    let model = config.init::<AB>(&device()).unwrap();
    let initial = EncoTrainer::new(model, config);
    let replicas = on_two_replicas(|r| {
        let mut trainer = replica_of(&initial);
        trainer.set_gradient_sync(GradientSync::Mean(PeerId::from(r)));
        let mut rng = ChaCha8Rng::seed_from_u64(100 + r as u64);
        for step in 0..5u64 {
            let a = random_images(10 * step + r as u64, 1);
            let b = random_images(10 * step + 5 + r as u64, 1);
            trainer.step(a, b, step < 2, 1.0, None, &mut rng).unwrap();
        }
        all_params(&trainer)
    });
    assert!(max_abs_diff(&replicas[0], &all_params(&initial)) > 1e-4);
    assert_eq!(replicas[0], replicas[1], "the replicas diverged");
}

fn dataset(name: &str) -> PathBuf {
    image_folders("dp", name, 4, 3)
}

fn run_config(root: &Path, model: ModelConfig) -> TrainingConfig {
    tiny_run(model, root, 36)
        .with_batch_size(2)
        .with_sample_every(0)
        .with_seed(9)
}

fn two_devices() -> Vec<burn::tensor::Device<AB>> {
    vec![device(), device()]
}

#[test]
fn a_data_parallel_run_trains_and_resumes_exactly() {
    let _turn = turn();
    let root = dataset("resume");
    let dev = device();
    let config = run_config(&root, tiny_enco(3).into());

    let straight_out = root.join("straight");
    let mut straight = TrainingRun::<AB>::new(config.clone(), &straight_out, &dev).unwrap();
    straight.set_devices(two_devices()).unwrap();
    assert_eq!(straight.batches_per_epoch(), 2);
    let mut reports = Vec::new();
    straight.run(None, |r| reports.push(*r)).unwrap();
    assert_eq!(reports.len(), 4);
    assert!(reports.iter().all(|r| r.losses.g.is_finite()));

    let out = root.join("resumed");
    let mut first = TrainingRun::<AB>::new(config.clone(), &out, &dev).unwrap();
    first.set_devices(two_devices()).unwrap();
    first.run(Some(3), |_| {}).unwrap();
    drop(first);
    let mut resumed = TrainingRun::<AB>::resume(&out, &dev).unwrap();
    resumed.set_devices(two_devices()).unwrap();
    let mut rest = Vec::new();
    resumed.run(None, |r| rest.push(*r)).unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].losses, reports[3].losses);
    assert_eq!(run_weights(&resumed), run_weights(&straight));

    // One device trains on its own stream: another run, not the same one.
    let single_out = root.join("single");
    let mut single = TrainingRun::<AB>::new(config, &single_out, &dev).unwrap();
    single.run(None, |_| {}).unwrap();
    assert_ne!(run_weights(&single), run_weights(&straight));
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_cut_run_trains_on_two_replicas() {
    let _turn = turn();
    let root = dataset("cut");
    let model = enco::train::CutConfig::cut()
        .with_generator(
            enco::nn::ResnetGeneratorConfig::new()
                .with_ngf(4)
                .with_n_blocks(2),
        )
        .with_discriminator(NLayerDiscriminatorConfig::new().with_ndf(4))
        .with_head_nc(16)
        .with_nce_layers(vec![0, 4, 8, 12, 13])
        .with_num_patches(16)
        .with_seed(3);
    let mut run = TrainingRun::<AB>::new(
        run_config(&root, model.into()),
        &root.join("out"),
        &device(),
    )
    .unwrap();
    run.set_devices(two_devices()).unwrap();
    let mut reports = Vec::new();
    run.run(Some(2), |r| reports.push(*r)).unwrap();
    assert_eq!(reports.len(), 2);
    assert!(
        reports
            .iter()
            .all(|r| r.losses.d.is_finite() && r.losses.g.is_finite())
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn devices_that_cannot_share_the_batch_are_refused() {
    let _turn = turn();
    let root = dataset("refused");
    let dev = device();
    let odd = run_config(&root, tiny_enco(3).into()).with_batch_size(3);
    let mut run = TrainingRun::<AB>::new(odd, &root.join("odd"), &dev).unwrap();
    let err = run.set_devices(two_devices()).unwrap_err();
    assert!(
        matches!(
            err,
            TrainError::InvalidOption {
                option: "devices",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("does not split evenly"), "{err}");
    assert!(run.set_devices(Vec::new()).is_err());
    assert_eq!(run.devices().len(), 1);

    let cyclegan = enco::train::CycleGanConfig::new()
        .with_generator(
            enco::nn::ResnetGeneratorConfig::new()
                .with_ngf(4)
                .with_n_blocks(2),
        )
        .with_discriminator(NLayerDiscriminatorConfig::new().with_ndf(4))
        .with_pool_size(2);
    let mut run = TrainingRun::<AB>::new(
        run_config(&root, cyclegan.into()),
        &root.join("cyclegan"),
        &dev,
    )
    .unwrap();
    let err = run.set_devices(two_devices()).unwrap_err();
    assert!(err.to_string().contains("CycleGAN"), "{err}");

    // A batch edited after the devices were set is refused at the step, not cut short.
    let mut run = TrainingRun::<AB>::new(
        run_config(&root, tiny_enco(3).into()),
        &root.join("edited"),
        &dev,
    )
    .unwrap();
    run.set_devices(two_devices()).unwrap();
    run.config.batch_size = 3;
    let err = run.run(Some(1), |_| {}).unwrap_err();
    assert!(
        matches!(
            err,
            TrainError::InvalidOption {
                option: "batch_size",
                ..
            }
        ),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&root);
}
