//! The `enco` process under faults: SIGKILL at random moments (inside checkpoint writes too)
//! and resume, SIGINT / SIGTERM, two processes on one run folder, unusable data, and a write
//! failure (a file-size limit).
//!
//! The weights are read back on the flex backend, so these tests need the `flex` feature (the
//! default).
#![cfg(feature = "flex")]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{SMALL_NETWORKS, TAPS, data, stderr, workdir};
use enco_train::{CHECKPOINT_PAUSE_ENV, LOCK_FILE, load_translator};

type Flex = burn::backend::Flex;

fn enco() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_enco"));
    command.stdout(Stdio::null()).stderr(Stdio::piped());
    command
}

/// Small networks, 2 epochs of 4 iterations, a checkpoint after every iteration.
fn train_args(root: &Path, output: &Path) -> Vec<String> {
    let mut args: Vec<String> = ["train", "--dataroot"].map(String::from).to_vec();
    args.push(root.display().to_string());
    args.extend(["--output".to_string(), output.display().to_string()]);
    args.extend(SMALL_NETWORKS.iter().chain(TAPS).map(|a| a.to_string()));
    args.extend(
        [
            "--n-epochs",
            "1",
            "--n-epochs-decay",
            "1",
            "--warmup-epochs",
            "0",
            "--checkpoint-every",
            "1",
            "--keep-checkpoints",
            "2",
        ]
        .map(String::from),
    );
    args
}

fn resume_args(output: &Path) -> Vec<String> {
    vec![
        "resume".into(),
        "--output".into(),
        output.display().to_string(),
    ]
}

fn finish(child: Child) -> Output {
    child.wait_with_output().expect("enco ran")
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_for(path: &Path, limit: Duration) {
    let start = Instant::now();
    while !path.exists() {
        assert!(start.elapsed() < limit, "{} did not appear", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether a checkpoint write is under way (or was cut) in a run: a `.….tmp` folder.
fn unfinished_write(output: &Path) -> bool {
    std::fs::read_dir(output.join("checkpoints"))
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        })
        .unwrap_or(false)
}

/// Every parameter of every network of a checkpoint (G, D, heads), in visiting order.
fn weights(checkpoint: &Path) -> Vec<f32> {
    use burn::module::{ModuleVisitor, Param};
    use burn::prelude::*;
    type Train = burn::backend::Autodiff<Flex>;
    struct Collect(Vec<f32>);
    impl ModuleVisitor<Train> for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<Train, D>>) {
            let data = param.val().into_data();
            self.0.extend(data.to_vec::<f32>().unwrap());
        }
    }
    let config = enco_train::checkpoint_config(checkpoint).unwrap();
    let (trainer, _) =
        enco_train::load_checkpoint::<Train>(checkpoint, config, &Default::default()).unwrap();
    let mut collect = Collect(Vec::new());
    trainer.visit(&mut collect);
    assert!(!collect.0.is_empty());
    collect.0
}

/// Every checkpoint folder of a run (not the unfinished `.…tmp` ones) loads.
fn every_checkpoint_loads(output: &Path) {
    let Ok(entries) = std::fs::read_dir(output.join("checkpoints")) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') {
            load_translator::<Flex>(&entry.path(), false, &Default::default())
                .unwrap_or_else(|e| panic!("{name} does not load: {e}"));
        }
    }
}

#[test]
fn killed_at_random_moments_the_run_resumes_to_the_same_weights() {
    let dir = workdir("faults", "kill");
    let root = data(&dir, 4);
    let reference = dir.join("reference");
    let out = enco().args(train_args(&root, &reference)).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    let crashed = dir.join("crashed");
    // Kills alternate: at a pseudo-random moment (xorshift, 30–600 ms after the start), and inside
    // a checkpoint write (a test-only pause holds every write open for 120 ms).
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut kills = 0;
    for round in 0..8 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let args = if crashed.join("training.json").exists() {
            resume_args(&crashed)
        } else {
            train_args(&root, &crashed)
        };
        let mut child = enco()
            .args(args)
            .env(CHECKPOINT_PAUSE_ENV, "120")
            .spawn()
            .unwrap();
        if round % 2 == 1 {
            // Inside a checkpoint write: as soon as a `.iter_….tmp` folder appears.
            let start = Instant::now();
            while !unfinished_write(&crashed) && child.try_wait().unwrap().is_none() {
                assert!(
                    start.elapsed() < Duration::from_secs(60),
                    "no checkpoint write seen"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        } else {
            std::thread::sleep(Duration::from_millis(30 + state % 570));
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        let _ = child.wait();
        every_checkpoint_loads(&crashed);
    }
    assert!(
        kills >= 4,
        "only {kills} of the processes were still running when killed"
    );
    let args = if crashed.join("training.json").exists() {
        resume_args(&crashed)
    } else {
        train_args(&root, &crashed)
    };
    let out = enco().args(args).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    every_checkpoint_loads(&crashed);
    // The final weights of the interrupted run are those of the straight one, bit for bit.
    let last = |run: &Path| run.join("checkpoints/iter_0000000008");
    assert_eq!(weights(&last(&crashed)), weights(&last(&reference)));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_signal_stops_with_a_checkpoint_and_a_second_one_at_once() {
    let dir = workdir("faults", "signals");
    let root = data(&dir, 4);
    for (name, status) in [("INT", 130), ("TERM", 143)] {
        let output = dir.join(format!("run-{name}"));
        let child = enco()
            .args(train_args(&root, &output))
            .env(CHECKPOINT_PAUSE_ENV, "200")
            .spawn()
            .unwrap();
        wait_for(&output.join("checkpoints"), Duration::from_secs(60));
        signal(&child, name);
        let out = finish(child);
        let message = stderr(&out);
        assert_eq!(out.status.code(), Some(status), "{message}");
        assert!(
            message.contains("stopped by signal at iteration"),
            "{message}"
        );
        assert!(message.contains(&format!("enco resume --output {}", output.display())));
        let iteration: u64 = message
            .split("stopped by signal at iteration ")
            .nth(1)
            .and_then(|rest| rest.split(';').next())
            .and_then(|n| n.parse().ok())
            .expect("the iteration is printed");
        load_translator::<Flex>(
            &output.join(format!("checkpoints/iter_{iteration:010}")),
            false,
            &Default::default(),
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(output.join(LOCK_FILE)).unwrap(),
            "",
            "the lock is released"
        );
    }
    // Two signals: the second ends the process inside a (3 s) checkpoint write.
    let output = dir.join("run-twice");
    let child = enco()
        .args(train_args(&root, &output))
        .env(CHECKPOINT_PAUSE_ENV, "3000")
        .spawn()
        .unwrap();
    wait_for(&output.join("checkpoints"), Duration::from_secs(60));
    signal(&child, "INT");
    std::thread::sleep(Duration::from_millis(200));
    let second = Instant::now();
    signal(&child, "INT");
    let out = finish(child);
    assert!(
        second.elapsed() < Duration::from_millis(2000),
        "the second signal waited"
    );
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    // The interrupted write left no checkpoint behind, and the run resumes.
    every_checkpoint_loads(&output);
    let out = enco().args(resume_args(&output)).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn two_processes_never_train_in_one_folder() {
    let dir = workdir("faults", "lock");
    let root = data(&dir, 4);
    let output = dir.join("run");
    let mut first = enco()
        .args(train_args(&root, &output))
        .env(CHECKPOINT_PAUSE_ENV, "1000")
        .spawn()
        .unwrap();
    wait_for(&output.join("checkpoints"), Duration::from_secs(60));
    let second = enco().args(resume_args(&output)).output().unwrap();
    let message = stderr(&second);
    assert!(!second.status.success());
    assert!(
        message.contains(&format!("in use by process {}", first.id())),
        "{message}"
    );
    let mut retrain = train_args(&root, &output);
    retrain.push("--overwrite".into());
    let third = enco().args(retrain).output().unwrap();
    assert!(!third.status.success());
    assert!(stderr(&third).contains("in use"), "{}", stderr(&third));
    first.kill().unwrap();
    first.wait().unwrap();
    // The killed process's lock is stale: the next one takes it over and says so.
    let out = enco().args(resume_args(&output)).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no longer running"),
        "{}",
        stderr(&out)
    );
    // A finished run's folder refuses a new run, and --overwrite moves it aside.
    let again = enco().args(train_args(&root, &output)).output().unwrap();
    assert!(
        stderr(&again).contains("already holds a run"),
        "{}",
        stderr(&again)
    );
    let mut replace = train_args(&root, &output);
    replace.push("--overwrite".into());
    let out = enco().args(replace).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("the previous run was moved to"));
    let siblings = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("run.replaced-"))
        .count();
    assert_eq!(siblings, 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_data_lists_unusable_files_and_training_can_skip_them() {
    let dir = workdir("faults", "check");
    let root = data(&dir, 4);
    let clean = enco()
        .args(["check-data", root.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(clean.status.success(), "{}", stderr(&clean));
    std::fs::write(root.join("trainA/empty.png"), b"").unwrap();
    std::fs::write(root.join("trainB/fake.jpg"), b"not a jpeg").unwrap();
    std::fs::write(root.join("trainB/readme.txt"), b"notes").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_enco"))
        .args(["check-data", root.to_str().unwrap()])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    for name in ["empty.png", "fake.jpg", "readme.txt"] {
        assert!(listing.contains(name), "{name} not listed:\n{listing}");
    }
    // Training refuses them up front, or leaves them out when asked.
    let refused = enco()
        .args(train_args(&root, &dir.join("refused")))
        .output()
        .unwrap();
    assert!(
        stderr(&refused).contains("2 unusable image files"),
        "{}",
        stderr(&refused)
    );
    assert!(!dir.join("refused").exists());
    let mut skip = train_args(&root, &dir.join("skipped"));
    skip.extend(["--skip-bad-images", "--max-iterations", "1"].map(String::from));
    let out = enco().args(skip).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("training without 2 unusable images"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_write_failure_leaves_the_previous_checkpoints_intact() {
    let dir = workdir("faults", "write");
    let root = data(&dir, 4);
    let output = dir.join("run");
    let mut first = train_args(&root, &output);
    first.extend(["--max-iterations", "2"].map(String::from));
    let out = enco().args(first).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // Files of at most 16 KiB: the next checkpoint's G cannot be written (EFBIG; SIGXFSZ is
    // ignored so the write returns the error).
    let script = format!(
        "ulimit -f 16; trap '' XFSZ; exec {} resume --output {} --max-iterations 2",
        env!("CARGO_BIN_EXE_enco"),
        output.display()
    );
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    let message = stderr(&out);
    assert!(!out.status.success(), "{message}");
    assert!(message.contains("error: checkpoint"), "{message}");
    load_translator::<Flex>(
        &output.join("checkpoints/iter_0000000002"),
        false,
        &Default::default(),
    )
    .unwrap();
    assert!(!output.join("checkpoints/iter_0000000003").exists());
    // With the limit gone, the run goes on from the intact checkpoint.
    let out = enco().args(resume_args(&output)).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&dir);
}
