//! The training stack end to end, in one test binary so that the generic training code is
//! compiled once for all of them: one step against the official fixtures
//! (`training_step`), the training loop and its schedules (`training_loop`), the run report
//! (`report`), atomic checkpoints and resumes (`reliability`) and data-parallel training over
//! two flex replicas (`data_parallel`).
//!
//! `cargo test --test training training_loop` runs one of them.

#[path = "../common/mod.rs"]
mod common;

mod data_parallel;
mod reliability;
mod report;
mod training_loop;
mod training_step;
