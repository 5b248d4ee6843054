//! Data-parallel training with the `enco` binary: two replicas in one process
//! (`--devices cpu:2`) train, stop and resume to the same networks, bit for bit; devices that
//! cannot share the batch are refused before anything is written.
//!
//! Every process is killed after a time limit.
#![cfg(feature = "flex")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{SMALL_NETWORKS, TAPS, data, stderr, workdir};

/// The longest any process of these tests may run.
const LIMIT: Duration = Duration::from_secs(240);

/// Small networks, batch 2, 2 epochs of 2 iterations, no identity phase difference between
/// the runs (all the same options).
fn train(root: &Path, output: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_enco"));
    command
        .args(["train", "--dataroot"])
        .arg(root)
        .arg("--output")
        .arg(output)
        .args(SMALL_NETWORKS)
        .args(TAPS)
        .args([
            "--batch-size",
            "2",
            "--n-epochs",
            "1",
            "--n-epochs-decay",
            "1",
            "--warmup-epochs",
            "0",
            "--seed",
            "4",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Waits for `child` at most [`LIMIT`], killing it past that.
fn finish(mut child: Child, what: &str) -> Output {
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!("{what} ran past {LIMIT:?}: {}", stderr(&out));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

/// The networks of the newest checkpoint of a run, as stored (`G.mpk`, `D.mpk`, `F.mpk`).
fn networks(output: &Path) -> Vec<Vec<u8>> {
    let checkpoints = output.join("checkpoints");
    let newest: PathBuf = std::fs::read_dir(&checkpoints)
        .expect("checkpoints")
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("iter_")
        })
        .max()
        .expect("a checkpoint");
    assert!(
        newest.ends_with("iter_0000000004"),
        "{} is not the last iteration's",
        newest.display()
    );
    ["G.mpk", "D.mpk", "F.mpk"]
        .iter()
        .map(|f| std::fs::read(newest.join(f)).expect("a network file"))
        .collect()
}

#[test]
fn two_cpu_replicas_train_and_resume_exactly() {
    let dir = workdir("distributed", "resume");
    let root = data(&dir, 4);
    let straight = dir.join("straight");
    let out = finish(
        train(&root, &straight, &["--devices", "cpu:2"])
            .spawn()
            .unwrap(),
        "the two-replica run",
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let resumed = dir.join("resumed");
    let out = finish(
        train(
            &root,
            &resumed,
            &["--devices", "cpu:2", "--max-iterations", "3"],
        )
        .spawn()
        .unwrap(),
        "the first part",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let mut resume = Command::new(env!("CARGO_BIN_EXE_enco"));
    resume
        .args(["--devices", "cpu:2", "resume", "--output"])
        .arg(&resumed)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let out = finish(resume.spawn().unwrap(), "the resumed part");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        networks(&resumed) == networks(&straight),
        "the resumed run differs from the straight one"
    );

    // `--devices cpu:2` did train two replicas: one device draws other patches.
    let single = dir.join("single");
    let out = finish(
        train(&root, &single, &[]).spawn().unwrap(),
        "the one-device run",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        networks(&single) != networks(&straight),
        "--devices cpu:2 trained as one device"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn devices_that_do_not_fit_are_refused_before_anything_is_written() {
    let dir = workdir("distributed", "refused");
    let root = data(&dir, 4);
    let output = dir.join("run");
    let out = finish(
        train(&root, &output, &["--devices", "cpu:4"])
            .spawn()
            .unwrap(),
        "a refused run",
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("does not split evenly"),
        "{}",
        stderr(&out)
    );
    assert!(!output.exists(), "nothing is written");
    let out = finish(
        train(&root, &output, &["--devices", "0,1"])
            .spawn()
            .unwrap(),
        "a refused run",
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cpu:N"), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&dir);
}
