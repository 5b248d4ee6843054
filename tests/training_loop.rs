//! The training loop on a tiny image folder: schedules per epoch, checkpoints, and a resume that
//! continues bit-exactly.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use enco::data::image::{Rgb, RgbImage};
use enco::data::{Preprocess, Transform};
use enco::nn::{NLayerDiscriminatorConfig, ResnetGeneratorConfig};
use enco::sampling::DagSamplerConfig;
use enco::train::{EncoConfig, StepReport, TrainingConfig, TrainingRun};

fn dataset(name: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("enco-loop-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for (side, n) in [("trainA", 3u8), ("trainB", 2u8)] {
        std::fs::create_dir_all(root.join(side)).unwrap();
        for i in 0..n {
            let img = RgbImage::from_fn(40, 36, |x, y| {
                Rgb([
                    (x * 6) as u8,
                    (y * 7) as u8,
                    i * 60 + if side == "trainA" { 0 } else { 30 },
                ])
            });
            img.save(root.join(side).join(format!("{i}.png"))).unwrap();
        }
    }
    root
}

fn config(root: &Path) -> TrainingConfig {
    let model = EncoConfig::new()
        .with_generator(ResnetGeneratorConfig::new().with_ngf(4).with_n_blocks(2))
        .with_discriminator(NLayerDiscriminatorConfig::new().with_ndf(4))
        .with_head_nc(16)
        .with_nce_layers(vec![3, 7, 12, 13, 17, 21])
        .with_sampler(DagSamplerConfig::new().with_num_patches(16))
        .with_seed(2);
    TrainingConfig::new(model, root.to_path_buf())
        .with_transform(Transform {
            preprocess: Preprocess::ResizeAndCrop,
            load_size: 36,
            crop_size: 32,
            flip: true,
        })
        .with_n_epochs(1)
        .with_n_epochs_decay(1)
        .with_warmup_epochs(0)
        .with_checkpoint_every(2)
        .with_keep_checkpoints(2)
        .with_prefetch(2)
        .with_seed(5)
}

fn params(run: &TrainingRun<AB>) -> Vec<f32> {
    use enco::burn::module::{Module, ModuleVisitor, Param};
    use enco::burn::prelude::*;
    struct Collect(Vec<f32>);
    impl ModuleVisitor<AB> for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<AB, D>>) {
            self.0.extend(to_vec(param.val().inner()));
        }
    }
    let mut c = Collect(Vec::new());
    run.trainer.model.visit(&mut c);
    c.0
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
        let l = r.losses;
        assert!(
            [l.d, l.g, l.g_gan, l.content, l.identity]
                .iter()
                .all(|v| v.is_finite()),
            "{r:?}"
        );
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
    assert_eq!(params(&resumed), params(&straight), "resumed run diverged");
    let _ = std::fs::remove_dir_all(&root);
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
