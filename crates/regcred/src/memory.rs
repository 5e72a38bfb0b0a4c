//! The allocator, and the one call regcred makes into it.
//!
//! mimalloc, not glibc's malloc: glibc's per-thread arenas kept what a full delivery pass over a
//! large location had freed (2 GB resident after one pass over 100,000 pull secrets). mimalloc
//! gives freed memory back by itself, but only once it has been free for its purge delay (one
//! second) and some later allocation looks: a server that goes quiet after a pass kept about
//! 170 MB of that pass resident until then. [`give_back_freed`] returns it at once; the server
//! calls it after each full pass (`Deliverer::after_full_pass`).
//!
//! mimalloc also asks the kernel for transparent huge pages on its arenas (`MADV_HUGEPAGE`).
//! Where THP is on, khugepaged later fills a 2 MiB range back in around one live 4 KiB page,
//! resident again what [`give_back_freed`] had returned: measured, 112 MB after the passes
//! became 150 MB a minute later, 100 MB of it in huge pages, and how much came back varied from
//! run to run (116 to 170 MB). [`keep_pages_small`] turns THP off for the server's process.

// The only unsafe code of the workspace: its lints deny it elsewhere, which the server crate's
// `tests/layout.rs` checks.
#![allow(unsafe_code)]

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Frees the calling thread's empty pages and gives every free page of the process back to the
/// system now, instead of after the purge delay. A few milliseconds after a pass over 100,000
/// pull secrets.
pub fn give_back_freed() {
    // SAFETY: `mi_collect` takes no pointer, reads and writes only mimalloc's own state, and
    // may be called from any thread at any time; it releases only pages with no live block.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

/// Turns transparent huge pages off for this process (`PR_SET_THP_DISABLE`): its memory stays
/// in small pages, which the kernel never fills back in once the allocator has returned them.
pub fn keep_pages_small() -> std::io::Result<()> {
    Ok(rustix::thread::disable_transparent_huge_pages(true)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This process's resident memory in KiB.
    fn resident_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/self/status")
    }

    #[test]
    fn huge_pages_are_turned_off() {
        keep_pages_small().unwrap();
        assert!(rustix::thread::transparent_huge_pages_are_disabled().unwrap());
    }

    /// What a pass does to memory: many small allocations, all freed. Without the call, mimalloc
    /// keeps them resident for its purge delay; with it, they are gone at once.
    #[test]
    fn freed_memory_leaves_at_once() {
        let before = resident_kib();
        let held: Vec<Box<[u8]>> = (0..200_000)
            .map(|i| vec![u8::try_from(i % 251).unwrap_or(0); 500].into_boxed_slice())
            .collect();
        let peak = resident_kib();
        assert!(
            peak >= before + 80_000,
            "{before} KiB before, {peak} KiB holding 100 MB"
        );
        drop(held);
        let freed = resident_kib();
        give_back_freed();
        let after = resident_kib();
        assert!(
            after <= before + 20_000,
            "{before} KiB before, {peak} KiB at the peak, {freed} KiB freed, {after} KiB after"
        );
    }
}
