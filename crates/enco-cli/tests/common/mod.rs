//! Helpers of the `enco` binary's tests: scratch folders, a small generated data set, output.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use enco_data::SyntheticDatasetConfig;

/// A fresh scratch folder for one test (`<tmp>/enco-<suite>-<pid>-<name>`).
pub fn workdir(suite: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("enco-{suite}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The generated data set (32 px, `n` training images per domain, 2 test pairs) in `dir/data`.
pub fn data(dir: &Path, n: usize) -> PathBuf {
    let root = dir.join("data");
    SyntheticDatasetConfig::new()
        .with_size(32)
        .with_train_a(n)
        .with_train_b(n)
        .with_test(2)
        .write(&root)
        .unwrap();
    root
}

/// A process's standard error as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Small networks at 32 px, no sample grids: a 2-block generator has 25 modules.
pub const SMALL_NETWORKS: &[&str] = &[
    "--ngf",
    "4",
    "--ndf",
    "4",
    "--n-blocks",
    "2",
    "--head-nc",
    "16",
    "--num-patches",
    "16",
    "--load-size",
    "32",
    "--crop-size",
    "32",
    "--sample-every",
    "0",
];

/// EnCo's taps of the small generator: pairs (3, 21), (7, 17), (12, 13) (the README's 3, 7, 13 |
/// 18, 24, 28 for 9 blocks).
pub const TAPS: &[&str] = &["--nce-layers", "3,7,12,13,17,21"];
