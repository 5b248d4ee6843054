//! [`Executor`]: how a program runs its steps on the CPU's threads.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rayon::{ThreadPool, ThreadPoolBuilder, Yield};

/// How a program runs a long sequence of operations (training steps, batches of translations)
/// on the CPU: [`Executor`], chosen by the application, never by the library.
///
/// The CPU kernels (flex's, and ndarray's) run their parallel loops with rayon. From a thread
/// outside every rayon pool, each loop is handed to rayon's global pool and the thread sleeps
/// until it is woken: correct, and what any program gets by default ([`Executor::Inline`]).
/// A thread that is itself a member of a pool instead forks and joins its loops within that
/// pool, without a wake-up per loop: [`Executor::CallerPool`] makes the calling thread thread 0
/// of a pool of its own (rayon's `use_current_thread`), for the rest of the process, and runs
/// the work there on itself. The work stays on its thread (and allocates from the same `malloc`
/// arena); no other thread ever hands work to that pool, so a pool thread never picks up a
/// second step while it waits inside a kernel of the first (which could block on the lock
/// Burn's autodiff takes around parts of a step). Other threads are not affected.
///
/// While the kernels run, the pool's other threads keep looking for work (stealing the halves of
/// thread 0's parallel loops, yielding the core between looks) for 2 ms after their last job
/// before they go back to sleep, as OpenMP runtimes keep their threads spinning between
/// parallel regions: a step forks and joins hundreds of loops, separated by short serial stretches
/// (the autodiff bookkeeping, the element-wise work of Burn's own operations), and waking a
/// sleeping thread for each one cost the calling thread a system call and the loop the time
/// the woken thread took to start.
///
/// The `enco` command, the examples and the benches run their training and translation through
/// `Executor::CallerPool`; a program that embeds the library chooses for itself:
///
/// ```
/// use enco_kernels::Executor;
///
/// // Default: a plain call, nothing about the calling thread changes.
/// assert_eq!(Executor::default().run(|| 2 + 2), 4);
/// // Faster steps on the CPU; this thread joins a rayon pool of its own for good.
/// let losses = Executor::CallerPool.run(|| "train here");
/// # let _ = losses;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Executor {
    /// A plain call on the calling thread; the kernels' parallel loops go to rayon's global
    /// pool. Changes nothing about the calling thread.
    #[default]
    Inline,
    /// The first calling thread outside every rayon pool becomes thread 0 of a pool of its own,
    /// as many threads as rayon's global pool, kept for the rest of the process, so that the
    /// kernels' parallel loops fork and join within it. The work runs on the calling thread.
    /// Threads other than that first one run their work as with [`Executor::Inline`].
    CallerPool,
}

/// How long a helper thread of the [`Executor::CallerPool`] pool keeps looking for work after its
/// last job before it goes back to rayon's sleep: longer than the serial stretches between the
/// parallel loops of a training step, short enough that a program between steps (loading data,
/// writing a checkpoint) has its cores back at once.
const HELPER_WAIT: Duration = Duration::from_millis(2);

/// The pool of [`Executor::CallerPool`], once a thread has made it.
static OWN_POOL: OnceLock<Option<ThreadPool>> = OnceLock::new();

/// Helper threads of [`OWN_POOL`] told to look for work that have not gone back to sleep yet.
static HELPERS_AWAKE: AtomicUsize = AtomicUsize::new(0);

impl Executor {
    /// Runs `work` on the calling thread as this executor says, and returns its result.
    pub fn run<R>(self, work: impl FnOnce() -> R) -> R {
        if self == Executor::CallerPool && rayon::current_thread_index().is_none() {
            OWN_POOL.get_or_init(pool_with_current_thread);
        }
        work()
    }
}

/// Called by the kernels before their parallel loops: on thread 0 of the
/// [`Executor::CallerPool`] pool, keeps the pool's other threads looking for work (for
/// [`HELPER_WAIT`] after their last job) unless they already are; anywhere else, nothing.
/// Costs an atomic load when they are awake.
#[cfg_attr(not(feature = "flex"), allow(dead_code))]
pub(crate) fn keep_helpers_awake() {
    if HELPERS_AWAKE.load(Ordering::Acquire) != 0 {
        return;
    }
    if let Some(Some(pool)) = OWN_POOL.get() {
        keep_awake(pool, &HELPERS_AWAKE);
    }
}

/// On thread 0 of `pool`, with no helper counted `awake`: counts `pool`'s other threads in
/// `awake` and has each look for work (`look_for_work`) until [`HELPER_WAIT`] passes without
/// a job, then leave the count, and returns `true`. Anywhere else, or with helpers still
/// counted, does nothing and returns `false`.
fn keep_awake(pool: &ThreadPool, awake: &'static AtomicUsize) -> bool {
    let helpers = pool.current_num_threads() - 1;
    if helpers == 0 || pool.current_thread_index() != Some(0) {
        return false;
    }
    if awake
        .compare_exchange(0, helpers, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return false;
    }
    // One job per thread; thread 0's own returns at once (it runs when thread 0 next waits
    // inside a join).
    pool.spawn_broadcast(move |context| {
        if context.index() != 0 {
            look_for_work(HELPER_WAIT);
            awake.fetch_sub(1, Ordering::AcqRel);
        }
    });
    true
}

/// On a pool thread: runs the pool's pending jobs as they come, yielding the core between
/// looks, until `wait` has passed without one.
fn look_for_work(wait: Duration) {
    let mut last_job = Instant::now();
    loop {
        match rayon::yield_now() {
            Some(Yield::Executed) => last_job = Instant::now(),
            Some(Yield::Idle) if last_job.elapsed() < wait => std::thread::yield_now(),
            _ => return,
        }
    }
}

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
                        let sum = Executor::CallerPool.run(|| {
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
        let inside = Executor::CallerPool.run(rayon::current_thread_index);
        assert!(matches!(inside, None | Some(0)), "{inside:?}");
        assert_eq!(inside, rayon::current_thread_index());
    }

    #[test]
    fn helpers_wake_on_thread_0_only_and_sleep_again_when_idle() {
        static AWAKE: AtomicUsize = AtomicUsize::new(0);
        let pool = thread::spawn(|| {
            let pool = ThreadPoolBuilder::new()
                .num_threads(3)
                .use_current_thread()
                .build()
                .expect("pool");
            // Thread 0 arms both helpers (the count may already be falling again when this
            // thread is descheduled for longer than HELPER_WAIT).
            assert!(keep_awake(&pool, &AWAKE), "thread 0 arms the helpers");
            assert!(AWAKE.load(Ordering::Acquire) <= 2);
            // The helpers run thread 0's parallel loops while they look for work.
            let sum: u64 = pool.install(|| {
                use rayon::prelude::*;
                (0..100_000u32)
                    .into_par_iter()
                    .with_max_len(100)
                    .map(u64::from)
                    .sum()
            });
            assert_eq!(sum, 99_999 * 100_000 / 2);
            // Idle for longer than HELPER_WAIT: both leave the count.
            let start = Instant::now();
            while AWAKE.load(Ordering::Acquire) != 0 {
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "helpers never slept"
                );
                thread::sleep(HELPER_WAIT);
            }
            pool
        })
        .join()
        .unwrap();
        // This thread is not the pool's thread 0: nothing happens.
        assert!(!keep_awake(&pool, &AWAKE));
        assert_eq!(AWAKE.load(Ordering::Acquire), 0);
    }

    #[test]
    fn nested_bodies_run_in_place() {
        assert_eq!(
            Executor::CallerPool.run(|| Executor::CallerPool.run(|| 7)),
            7
        );
        assert_eq!(Executor::Inline.run(|| 7), 7);
    }
}
