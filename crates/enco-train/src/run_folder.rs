//! Who owns a run folder: a new run refuses a folder that already holds one (or moves it aside
//! on request, never deleting anything), and every process that trains in a folder holds an
//! exclusive advisory lock on it for as long as it runs.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::TrainError;

/// The lock file of a run folder.
pub const LOCK_FILE: &str = "run.lock";

/// What a run folder holds that belongs to a run (and would be mixed with a new one's).
const RUN_ENTRIES: [&str; 10] = [
    "training.json",
    "checkpoints",
    "losses.jsonl",
    "loss_curve.png",
    "samples",
    "eval.jsonl",
    "eval_curve.png",
    "best",
    "snapshots",
    "report.html",
];

/// The entries of `output` that belong to a run, empty when there is none.
pub fn run_contents(output: &Path) -> Vec<String> {
    RUN_ENTRIES
        .iter()
        .filter(|e| output.join(e).exists())
        .map(|e| e.to_string())
        .collect()
}

/// Moves the run in `output` to a sibling named after it and the current time
/// (`<name>.replaced-<unix seconds>`), and returns where it went.
pub fn move_run_aside(output: &Path) -> Result<PathBuf, TrainError> {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".into());
    let mut target = output.with_file_name(format!("{name}.replaced-{seconds}"));
    let mut n = 1;
    while target.exists() {
        target = output.with_file_name(format!("{name}.replaced-{seconds}-{n}"));
        n += 1;
    }
    std::fs::rename(output, &target).map_err(|e| {
        TrainError::RunFolder(format!(
            "{} could not be moved to {}: {e}",
            output.display(),
            target.display()
        ))
    })?;
    Ok(target)
}

/// An exclusive advisory lock on a run folder (`run.lock`, holding the owner's process id),
/// released (and the file emptied) when dropped. The operating system releases it too when the
/// process dies, so a lock file that still names a process but whose lock is free was left by a
/// killed process: it is detected as stale and taken over.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    /// The process id a stale lock file named, when this lock took one over.
    pub stale_owner: Option<String>,
}

impl RunLock {
    /// Locks `folder` (which must exist) for this process, or fails naming the process that
    /// holds it.
    pub fn acquire(folder: &Path) -> Result<Self, TrainError> {
        let path = folder.join(LOCK_FILE);
        let named =
            |e: &dyn std::fmt::Display| TrainError::RunFolder(format!("{}: {e}", path.display()));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| named(&e))?;
        let previous = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .trim()
            .to_string();
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let owner = if previous.is_empty() {
                    "another process".to_string()
                } else {
                    format!("process {previous}")
                };
                return Err(TrainError::RunFolder(format!(
                    "{} is in use by {owner} (a training or resume still running); wait for it \
                     to end or stop it first",
                    folder.display()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(named(&e)),
        }
        file.set_len(0).map_err(|e| named(&e))?;
        write!(file, "{}", std::process::id()).map_err(|e| named(&e))?;
        file.sync_all().map_err(|e| named(&e))?;
        Ok(Self {
            file,
            stale_owner: (!previous.is_empty()).then_some(previous),
        })
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Emptied, not deleted: a process that opened the same file waits on the same lock, so
        // two processes can never hold locks on two different files of one folder. An empty
        // file marks a clean release; a process id in a file whose lock is free marks a killed
        // owner.
        let _ = self.file.set_len(0);
        let _ = self.file.sync_all();
        let _ = self.file.unlock();
    }
}
