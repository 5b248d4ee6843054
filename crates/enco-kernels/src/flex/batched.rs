//! A rayon pool of which the thread that runs the training steps is itself a member, for
//! [`EncoBackend::run_batched`](crate::EncoBackend::run_batched).
//!
//! A step whose thread belongs to a rayon pool forks and joins its kernels' parallel loops
//! within that pool; from a thread outside every pool, each kernel instead hands its loop to the
//! global pool and sleeps until it is woken. Running the step as a job of a pool would do the
//! first, but a pool thread that picked up a second step (from another thread) while waiting
//! inside a kernel of the first could block on the process-wide lock Burn's autodiff takes
//! around parts of a step, under the first step's feet. So the first thread that calls
//! [`run`] becomes thread 0 of a pool of its own (rayon's `use_current_thread`) and runs its
//! steps there on itself; no other thread ever hands work to that pool, and other threads run
//! their steps as they would without it (kernels on the global pool). The step also stays on
//! its thread, and so allocates from the same `malloc` arena, as it did before.

use std::sync::OnceLock;
use std::thread::{self, ThreadId};

use rayon::{ThreadPool, ThreadPoolBuilder};

/// The pool and the thread that is its thread 0.
struct OwnPool {
    owner: ThreadId,
    pool: ThreadPool,
}

/// Set by the first call of [`run`] from a thread outside every rayon pool (`None` if the pool
/// could not be started).
static OWN_POOL: OnceLock<Option<OwnPool>> = OnceLock::new();

/// Runs `work` on the calling thread, within the pool if this thread is its thread 0 (which the
/// first caller becomes), as a plain call otherwise.
pub(super) fn run<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        // Already a pool thread (of this pool after the first call, or of another pool).
        return work();
    }
    let own = OWN_POOL.get_or_init(|| {
        ThreadPoolBuilder::new()
            .num_threads(rayon::current_num_threads())
            .use_current_thread()
            .thread_name(|i| format!("enco-kernels-{i}"))
            .build()
            .ok()
            .map(|pool| OwnPool {
                owner: thread::current().id(),
                pool,
            })
    });
    match own {
        // The owner is the pool's thread 0: `install` runs `work` right here.
        Some(own) if own.owner == thread::current().id() => own.pool.install(work),
        _ => work(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[test]
    fn concurrent_bodies_all_complete() {
        // Four threads run bodies that themselves run parallel loops and take a shared lock
        // inside them: the shape that would deadlock if a pool thread could pick up a second
        // body while waiting inside the first.
        let lock = Mutex::new(0u64);
        std::thread::scope(|scope| {
            for t in 0..4u64 {
                let lock = &lock;
                scope.spawn(move || {
                    for i in 0..50 {
                        let sum = run(|| {
                            use rayon::prelude::*;
                            let mut guard = lock.lock().unwrap();
                            let sum: u64 = (0..200_000u32)
                                .into_par_iter()
                                .with_max_len(1000)
                                .map(|x| (u64::from(x) ^ (t + i)).wrapping_mul(u64::from(x)) >> 7)
                                .sum();
                            *guard += 1;
                            sum
                        });
                        assert!(sum > 0);
                    }
                });
            }
        });
        assert_eq!(*lock.lock().unwrap(), 200);
    }

    #[test]
    fn the_first_caller_runs_its_work_as_thread_0_of_the_pool() {
        let index = run(rayon::current_thread_index);
        let owner = OWN_POOL
            .get()
            .and_then(|own| own.as_ref().map(|own| own.owner));
        if owner == Some(thread::current().id()) {
            assert_eq!(index, Some(0));
        } else {
            assert_eq!(index, None);
        }
    }

    #[test]
    fn nested_bodies_run_in_place() {
        assert_eq!(run(|| run(|| 7)), 7);
    }
}
