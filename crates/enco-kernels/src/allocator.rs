//! [`keep_freed_memory`]: the C allocator told to reuse freed memory instead of handing it back
//! to the system.

/// Tells the C allocator (glibc's `malloc`) to keep the memory a program frees for its next
/// allocations, instead of returning it to the system, for the rest of the process. Returns
/// whether the allocator took the settings: `false`, changing nothing, where the C library is
/// not glibc.
///
/// A training step at 256 px frees and allocates tensors of 4–40 MiB by the hundred. glibc
/// serves allocations from 128 KiB (up to 32 MiB as it adapts) with fresh `mmap` regions and
/// gives them back on `free`, so every such tensor is paid for again in page faults (a fault,
/// and a zeroed page, per 4 KiB). With `mmap` off (`M_MMAP_MAX` 0) and the heap never trimmed
/// (`M_TRIM_THRESHOLD` at its maximum), freed tensors are reused as they are; the process keeps
/// its peak memory until it exits, a peak that these settings do not raise (measured in
/// `docs/performance.md`).
///
/// The setting is the program's to choose, like [`Executor`](crate::Executor): the `enco`
/// command, the examples and the benches call it first thing; a program that embeds the library
/// and wants the same speed calls it itself:
///
/// ```
/// let kept = enco_kernels::keep_freed_memory();
/// # #[cfg(all(target_os = "linux", target_env = "gnu"))]
/// assert!(kept);
/// ```
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallopt` only sets glibc's allocation parameters, under the allocator's own
        // lock; memory allocated before keeps working as before.
        unsafe {
            libc::mallopt(libc::M_MMAP_MAX, 0) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    /// Page faults this thread has taken that needed no I/O.
    fn minor_faults() -> i64 {
        // SAFETY: `getrusage` fills the zeroed struct it is given.
        unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            assert_eq!(libc::getrusage(libc::RUSAGE_THREAD, &mut usage), 0);
            usage.ru_minflt
        }
    }

    #[test]
    fn a_freed_block_comes_back_without_page_faults() {
        assert!(keep_freed_memory());
        let len = 8 << 20; // 32 MiB of f32: 8192 pages.
        // `black_box`: an optimised build would otherwise drop the unused first block altogether.
        let first = std::hint::black_box(vec![1f32; len]);
        assert_eq!(first[len - 1], 1.0);
        drop(first);
        let before = minor_faults();
        let second = std::hint::black_box(vec![2f32; len]);
        let faults = minor_faults() - before;
        assert_eq!(second[len - 1], 2.0);
        // Without the settings the block is a fresh `mmap` region: one fault per page written.
        assert!(
            faults < 1000,
            "{faults} page faults for a reused 32 MiB block"
        );
    }
}
