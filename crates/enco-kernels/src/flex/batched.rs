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

use rayon::{ThreadPool, ThreadPoolBuilder};

/// A pool of as many threads as rayon's global pool whose thread 0 is the calling thread, from
/// then on a member of it.
fn pool_with_current_thread() -> Option<ThreadPool> {
    ThreadPoolBuilder::new()
        .num_threads(rayon::current_num_threads())
        .use_current_thread()
        .thread_name(|i| format!("enco-kernels-{i}"))
        .build()
        .ok()
}

/// Runs `work` on the calling thread. The first caller outside every rayon pool becomes thread
/// 0 of a pool kept for the rest of the process, so that its `work` (this call's and every
/// later one's) forks and joins within that pool; other threads run `work` as a plain call.
pub(super) fn run<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    static OWN_POOL: OnceLock<Option<ThreadPool>> = OnceLock::new();
    if rayon::current_thread_index().is_none() {
        OWN_POOL.get_or_init(pool_with_current_thread);
    }
    work()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::thread;

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
    fn the_building_thread_is_thread_0_of_its_pool() {
        let (inside, after, threads) = thread::spawn(|| {
            assert_eq!(rayon::current_thread_index(), None);
            let pool = pool_with_current_thread().expect("pool");
            let inside = pool.install(rayon::current_thread_index);
            (
                inside,
                rayon::current_thread_index(),
                pool.current_num_threads(),
            )
        })
        .join()
        .unwrap();
        assert_eq!(inside, Some(0));
        assert_eq!(after, Some(0), "the thread stays a member of the pool");
        assert_eq!(threads, rayon::current_num_threads());
    }

    #[test]
    fn the_caller_belongs_to_a_pool_after_its_first_call() {
        // Either this thread was first (thread 0 of the pool) or another one was, and this one
        // stays outside every pool.
        let inside = run(rayon::current_thread_index);
        assert!(matches!(inside, None | Some(0)), "{inside:?}");
        assert_eq!(inside, rayon::current_thread_index());
    }

    #[test]
    fn nested_bodies_run_in_place() {
        assert_eq!(run(|| run(|| 7)), 7);
    }
}
