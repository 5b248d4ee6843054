//! Runs that never lose work: run-folder ownership and its lock, a stop request, the guard
//! against non-finite losses, unusable images, a failure mid-run, and translations that never
//! overwrite. (The process-level faults, signals and SIGKILL, are in
//! `crates/enco-cli/tests/reliability.rs`.)

use std::path::{Path, PathBuf};

use crate::common::*;
use enco::data::image::{Rgb, RgbImage};
use enco::eval::{EvalError, ExistingOutputs, output_paths};
use enco::train::{
    BAD_IMAGES_FILE, LOCK_FILE, NanPolicy, RunEnd, TrainError, TrainingConfig, TrainingRun,
    load_translator,
};

fn dataset(name: &str, a: u8, b: u8) -> PathBuf {
    let root = std::env::temp_dir().join(format!("enco-reliability-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for (side, n) in [("trainA", a), ("trainB", b)] {
        std::fs::create_dir_all(root.join(side)).unwrap();
        for i in 0..n {
            let img = RgbImage::from_fn(32, 32, |x, y| Rgb([(x * 7) as u8, (y * 5) as u8, i * 40]));
            img.save(root.join(side).join(format!("{i}.png"))).unwrap();
        }
    }
    root
}

fn config(root: &Path) -> TrainingConfig {
    tiny_run(tiny_enco(3).into(), root, 32)
        .with_sample_every(0)
        .with_seed(1)
}

#[test]
fn a_run_folder_is_owned_by_one_run_and_one_process() {
    let root = dataset("owner", 3, 3);
    let dev = device();
    let out = root.join("run");
    let mut run = TrainingRun::<AB>::new(config(&root), &out, &dev).unwrap();
    assert!(out.join(LOCK_FILE).is_file());
    // While it trains, nobody else may: neither a resume nor a replacement.
    let busy = TrainingRun::<AB>::resume(&out, &dev)
        .err()
        .unwrap()
        .to_string();
    assert!(busy.contains("in use by process"), "{busy}");
    let busy = TrainingRun::<AB>::replace(config(&root), &out, &dev)
        .err()
        .unwrap();
    assert!(busy.to_string().contains("in use"), "{busy}");
    run.run(Some(2), |_| {}).unwrap();
    drop(run);
    assert_eq!(
        std::fs::read_to_string(out.join(LOCK_FILE)).unwrap(),
        "",
        "the lock is released (and its file emptied) on exit"
    );
    // A new run refuses the folder, says what is there, and changes nothing.
    let before = std::fs::read_to_string(out.join("losses.jsonl")).unwrap();
    let refused = TrainingRun::<AB>::new(config(&root).with_seed(9), &out, &dev)
        .err()
        .unwrap()
        .to_string();
    assert!(
        refused.contains("already holds a run") && refused.contains("training.json"),
        "{refused}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("losses.jsonl")).unwrap(),
        before
    );
    // Replacing moves the old run aside, whole.
    let (run, moved) = TrainingRun::<AB>::replace(config(&root).with_seed(9), &out, &dev).unwrap();
    let moved = moved.expect("the old run was moved");
    assert!(
        moved
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("run.replaced-")
    );
    assert_eq!(
        std::fs::read_to_string(moved.join("losses.jsonl")).unwrap(),
        before
    );
    assert!(moved.join("checkpoints").is_dir());
    assert_eq!(
        std::fs::read_to_string(out.join("losses.jsonl")).unwrap(),
        ""
    );
    drop(run);
    // A lock file left by a killed process is stale: taken over, and reported.
    std::fs::write(out.join(LOCK_FILE), "4194999").unwrap();
    let resumed = TrainingRun::<AB>::resume(&out, &dev).unwrap();
    assert_eq!(resumed.stale_lock_owner(), Some("4194999"));
    drop(resumed);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_stop_request_ends_with_a_checkpoint_and_the_resumed_run_ends_as_a_straight_one() {
    let root = dataset("stop", 3, 3);
    let dev = device();
    let mut straight = TrainingRun::<AB>::new(config(&root), &root.join("straight"), &dev).unwrap();
    assert_eq!(straight.run(None, |_| {}).unwrap(), RunEnd::Finished);
    let out = root.join("stopped");
    let mut run = TrainingRun::<AB>::new(config(&root), &out, &dev).unwrap();
    let stop = run.stop_flag();
    let end = run
        .run(None, |r| {
            if r.iteration == 3 {
                stop.stop();
            }
        })
        .unwrap();
    assert_eq!(end, RunEnd::Stopped);
    assert_eq!(run.position.iteration, 3);
    load_translator::<B>(&out.join("checkpoints/iter_0000000003"), false, &dev).unwrap();
    drop(run);
    let mut resumed = TrainingRun::<AB>::resume(&out, &dev).unwrap();
    assert_eq!(resumed.run(None, |_| {}).unwrap(), RunEnd::Finished);
    assert_eq!(run_weights(&resumed), run_weights(&straight));
    // A run stopped before its first checkpoint starts over on resume.
    let early = root.join("early");
    let run = TrainingRun::<AB>::new(config(&root), &early, &dev).unwrap();
    drop(run);
    let mut again = TrainingRun::<AB>::resume(&early, &dev).unwrap();
    assert_eq!(again.position.iteration, 0);
    again.run(None, |_| {}).unwrap();
    assert_eq!(run_weights(&again), run_weights(&straight));
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn non_finite_losses_stop_the_run_or_undo_the_step() {
    let root = dataset("nan", 3, 3);
    let dev = device();
    // λ_GAN = 1e39 overflows float32: the G objective is infinite at the first step.
    let exploding = |policy| {
        let mut c = config(&root).with_nan_policy(policy);
        if let enco::train::ModelConfig::Enco(m) = &mut c.model {
            m.lambda_gan = 1e39;
        }
        c
    };
    let out = root.join("stop");
    let mut run = TrainingRun::<AB>::new(exploding(NanPolicy::Stop), &out, &dev).unwrap();
    match run.run(None, |_| {}) {
        Err(TrainError::NonFinite {
            iteration,
            loss,
            value,
        }) => {
            assert_eq!(iteration, 1);
            assert!(loss.starts_with("loss_G"), "{loss}");
            assert!(!value.is_finite());
        }
        other => panic!("expected a non-finite stop, got {other:?}"),
    }
    assert!(
        !out.join("checkpoints").exists(),
        "no checkpoint of a non-finite state"
    );
    // Skipping: every step is undone, so the model ends as it started, and it checkpoints.
    let out = root.join("skip");
    let mut run = TrainingRun::<AB>::new(exploding(NanPolicy::SkipStep), &out, &dev).unwrap();
    let initial = run_weights(&run);
    let mut skipped = 0;
    assert_eq!(
        run.run(None, |r| skipped += usize::from(r.skipped))
            .unwrap(),
        RunEnd::Finished
    );
    assert_eq!(skipped, 6);
    assert_eq!(run_weights(&run), initial);
    assert_eq!(
        std::fs::read_to_string(out.join("losses.jsonl")).unwrap(),
        ""
    );
    load_translator::<B>(&out.join("checkpoints/iter_0000000006"), false, &dev).unwrap();
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn unusable_images_are_found_before_training_and_can_be_skipped() {
    let root = dataset("bad", 4, 4);
    let dev = device();
    std::fs::write(root.join("trainA/empty.png"), b"").unwrap();
    std::fs::write(root.join("trainA/notes.png"), b"this is text, not a PNG").unwrap();
    // Truncated after its header: only a full decode finds it.
    let png = std::fs::read(root.join("trainB/0.png")).unwrap();
    std::fs::write(root.join("trainB/truncated.png"), &png[..png.len() / 2]).unwrap();
    // WebP is read like any other image.
    RgbImage::from_pixel(32, 32, Rgb([10, 200, 30]))
        .save(root.join("trainB/green.webp"))
        .unwrap();
    let out = root.join("run");
    let refused = TrainingRun::<AB>::new(config(&root), &out, &dev)
        .err()
        .unwrap()
        .to_string();
    assert!(
        refused.contains("2 unusable image files")
            && refused.contains("empty.png")
            && refused.contains("notes.png"),
        "{refused}"
    );
    assert!(!out.exists(), "nothing written");
    let mut run =
        TrainingRun::<AB>::new(config(&root).with_skip_bad_images(true), &out, &dev).unwrap();
    let skipped: Vec<String> = run
        .skipped_images()
        .iter()
        .map(|b| b.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(skipped, ["empty.png", "notes.png", "truncated.png"]);
    // 4 usable A, 5 usable B (the WebP one included): 5 iterations per epoch.
    assert_eq!(run.batches_per_epoch(), 5);
    let listed = std::fs::read_to_string(out.join(BAD_IMAGES_FILE)).unwrap();
    assert_eq!(listed.lines().count(), 3);
    run.run(Some(2), |_| {}).unwrap();
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_failure_mid_run_leaves_a_checkpoint_of_the_last_completed_iteration() {
    let root = dataset("midrun", 3, 3);
    let dev = device();
    let out = root.join("run");
    let mut run =
        TrainingRun::<AB>::new(config(&root).with_checkpoint_every(0), &out, &dev).unwrap();
    // A file goes bad after the start-up check: the loader meets it mid-epoch.
    let good = std::fs::read(root.join("trainA/1.png")).unwrap();
    std::fs::write(root.join("trainA/1.png"), b"gone bad").unwrap();
    let err = run.run(None, |_| {}).err().unwrap();
    let TrainError::Interrupted { cause, saved } = &err else {
        panic!("expected an interrupted run, got {err}")
    };
    assert!(cause.to_string().contains("1.png"), "{cause}");
    assert!(saved.contains("progress saved in"), "{saved}");
    let done = run.position.iteration;
    let checkpoint = out.join(format!("checkpoints/iter_{done:010}"));
    load_translator::<B>(&checkpoint, false, &dev).unwrap();
    drop(run);
    std::fs::write(root.join("trainA/1.png"), good).unwrap();
    let mut resumed = TrainingRun::<AB>::resume(&out, &dev).unwrap();
    assert_eq!(resumed.position.iteration, done);
    assert_eq!(resumed.run(None, |_| {}).unwrap(), RunEnd::Finished);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn translations_never_overwrite_each_other_or_their_inputs() {
    let root = std::env::temp_dir().join(format!("enco-reliability-{}-names", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let files: Vec<PathBuf> = ["x.bmp", "x.tiff", "y.png"]
        .iter()
        .map(|f| root.join(f))
        .collect();
    for f in &files {
        RgbImage::from_pixel(8, 8, Rgb([1, 2, 3])).save(f).unwrap();
    }
    let out = root.join("out");
    let targets = output_paths(&files, &root, &out, ExistingOutputs::Refuse).unwrap();
    assert_eq!(
        targets,
        [
            out.join("x.bmp.png"),
            out.join("x.tiff.png"),
            out.join("y.png")
        ]
    );
    // Into the input folder itself: y.png would be written over.
    match output_paths(&files, &root, &root, ExistingOutputs::Overwrite) {
        Err(EvalError::WouldOverwriteInput(p)) => assert_eq!(p, root.join("y.png")),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Existing outputs: refused unless asked to overwrite.
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("y.png"), b"old").unwrap();
    match output_paths(&files, &root, &out, ExistingOutputs::Refuse) {
        Err(EvalError::OutputExists { count, first }) => {
            assert_eq!((count, first), (1, out.join("y.png")))
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(output_paths(&files, &root, &out, ExistingOutputs::Overwrite).is_ok());
    let _ = std::fs::remove_dir_all(&root);
}
