//! A small fork-join team for decoding: the caller plus one spinning helper per other
//! thread of the rayon pool, alive for one `generate` call.
//!
//! A decode step runs about 85 parallel products of 2-10 MB each, separated by a few
//! microseconds of serial work. Rayon's workers fall asleep in those gaps, and waking one
//! takes about as long as half a product, so many products ended up running on one thread.
//! The team's helpers spin between tasks instead (yielding now and then), for the length of
//! one `generate` call only. One team exists at a time; a concurrent call uses rayon.

use rayon::prelude::*;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Where the parallel parts of a kernel run.
#[derive(Clone, Copy)]
pub(crate) enum Par<'a> {
    /// The global rayon pool.
    Rayon,
    /// A [`Team`] made by [`with_team`].
    Team(&'a Team),
}

impl Par<'_> {
    /// Runs `f(0)`, ..., `f(n - 1)`, in parallel, and returns when all are done.
    pub(crate) fn for_each(self, n: usize, f: &(dyn Fn(usize) + Sync)) {
        match self {
            Par::Rayon => (0..n).into_par_iter().for_each(f),
            Par::Team(team) => team.run(n, f),
        }
    }

    /// Runs `f(i, chunk_i)` over the `len`-long chunks of `data` in parallel.
    pub(crate) fn for_each_chunk<T: Send>(
        self,
        data: &mut [T],
        len: usize,
        f: &(dyn Fn(usize, &mut [T]) + Sync),
    ) {
        let len = len.max(1);
        let n = data.len().div_ceil(len);
        let total = data.len();
        let base = SendPtr(data.as_mut_ptr());
        self.for_each(n, &|i| {
            let start = i * len;
            let end = (start + len).min(total);
            // SAFETY: task i owns elements start..end, disjoint from every other task's,
            // and `data` outlives the call (for_each returns after every task).
            let chunk =
                unsafe { std::slice::from_raw_parts_mut(base.get().add(start), end - start) };
            f(i, chunk)
        });
    }
}

/// A pointer handed to parallel tasks that each touch their own disjoint part of it.
pub(crate) struct SendPtr<T>(pub(crate) *mut T);
impl<T> SendPtr<T> {
    pub(crate) fn get(&self) -> *mut T {
        self.0
    }
}
// SAFETY: users write through it only to disjoint parts (`for_each_chunk`, and the column
// panels of `PackedLinear::forward_in`).
unsafe impl<T: Send> Send for SendPtr<T> {}
unsafe impl<T: Send> Sync for SendPtr<T> {}

/// The job of the current epoch: a pointer to the caller's `&dyn Fn`, valid while the
/// caller waits in [`Team::run`].
type Job<'a> = &'a (dyn Fn(usize) + Sync);

/// Tickets pack `tasks:32 | next index:32`: claiming a task and learning whether it exists
/// is one atomic step, and a claimed task keeps the caller waiting, so its job is alive.
const INDEX_BITS: u32 = 32;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
const TASK_MASK: u64 = u32::MAX as u64;

pub(crate) struct Team {
    helpers: usize,
    ticket: AtomicU64,
    job: AtomicPtr<()>,
    done: AtomicUsize,
    stop: AtomicBool,
    panicked: AtomicBool,
}

thread_local! {
    /// Set while this thread runs a team task: a nested `run` then runs serially.
    static IN_TASK: Cell<bool> = const { Cell::new(false) };
}

static ONE_TEAM: Mutex<()> = Mutex::new(());

/// Runs `f` with a team of `rayon::current_num_threads() - 1` spinning helpers, or with
/// [`Par::Rayon`] when another call holds the team or there is one thread.
pub(crate) fn with_team<R>(f: impl FnOnce(Par<'_>) -> R) -> R {
    let helpers = rayon::current_num_threads().saturating_sub(1);
    let guard = match ONE_TEAM.try_lock() {
        Ok(g) if helpers > 0 => g,
        _ => return f(Par::Rayon),
    };
    let team = Team {
        helpers,
        ticket: AtomicU64::new(0),
        job: AtomicPtr::new(std::ptr::null_mut()),
        done: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        panicked: AtomicBool::new(false),
    };
    let out = std::thread::scope(|s| {
        for _ in 0..helpers {
            s.spawn(|| team.help());
        }
        // Stop the helpers however `f` ends, or the scope would wait for them forever.
        struct StopOnDrop<'a>(&'a AtomicBool);
        impl Drop for StopOnDrop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Release);
            }
        }
        let _stop = StopOnDrop(&team.stop);
        f(Par::Team(&team))
    });
    drop(guard);
    out
}

impl Team {
    fn run(&self, n: usize, f: &(dyn Fn(usize) + Sync)) {
        if n <= 1 || self.helpers == 0 || IN_TASK.with(Cell::get) || n as u64 >= TASK_MASK {
            (0..n).for_each(f);
            return;
        }
        let job: Job<'_> = f;
        self.job
            .store(&job as *const Job<'_> as *mut (), Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
        // Publishes the job, the task count and the reset of `done`.
        self.ticket
            .store((n as u64) << INDEX_BITS, Ordering::Release);
        self.work();
        while self.done.load(Ordering::Acquire) < n {
            std::hint::spin_loop();
        }
        if self.panicked.swap(false, Ordering::AcqRel) {
            panic!("a decoding task panicked");
        }
    }

    /// Claims and runs tasks of the current epoch until none is left.
    fn work(&self) {
        loop {
            let v = self.ticket.load(Ordering::Acquire);
            let (n, i) = ((v >> INDEX_BITS) & TASK_MASK, v & INDEX_MASK);
            if i >= n {
                return;
            }
            let v = self.ticket.fetch_add(1, Ordering::AcqRel);
            let (n, i) = ((v >> INDEX_BITS) & TASK_MASK, v & INDEX_MASK);
            if i >= n {
                return;
            }
            // SAFETY: task i of this epoch is claimed and not yet done, so the caller is
            // still waiting in `run` and the job it points to is alive.
            let job = unsafe { *(self.job.load(Ordering::Acquire) as *const Job<'_>) };
            IN_TASK.with(|t| t.set(true));
            let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(i as usize)));
            IN_TASK.with(|t| t.set(false));
            if ok.is_err() {
                self.panicked.store(true, Ordering::Release);
            }
            self.done.fetch_add(1, Ordering::Release);
        }
    }

    fn help(&self) {
        let mut idle = 0u32;
        while !self.stop.load(Ordering::Acquire) {
            let v = self.ticket.load(Ordering::Acquire);
            if v & INDEX_MASK < (v >> INDEX_BITS) & TASK_MASK {
                self.work();
                idle = 0;
            } else {
                idle = idle.wrapping_add(1);
                if idle.is_multiple_of(4096) {
                    // Let other threads of the machine in now and then.
                    std::thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn every_task_runs_once_per_call_across_many_calls() {
        with_team(|par| {
            for n in [0usize, 1, 2, 3, 17, 200] {
                for _ in 0..50 {
                    let hits: Vec<AtomicU32> = (0..n).map(|_| AtomicU32::new(0)).collect();
                    par.for_each(n, &|i| {
                        hits[i].fetch_add(1, Ordering::Relaxed);
                    });
                    assert!(
                        hits.iter().all(|h| h.load(Ordering::Relaxed) == 1),
                        "n = {n}"
                    );
                }
            }
            let mut data = vec![0u32; 103];
            par.for_each_chunk(&mut data, 10, &|i, chunk| {
                for x in chunk.iter_mut() {
                    *x += i as u32 + 1;
                }
            });
            assert!(data
                .iter()
                .enumerate()
                .all(|(k, &x)| x == (k / 10) as u32 + 1));
        });
    }

    #[test]
    fn a_second_concurrent_team_falls_back_to_rayon_and_a_panic_reaches_the_caller() {
        with_team(|outer| {
            let inner_is_rayon = std::thread::scope(|s| {
                s.spawn(|| with_team(|p| matches!(p, Par::Rayon)))
                    .join()
                    .unwrap()
            });
            if matches!(outer, Par::Team(_)) {
                assert!(inner_is_rayon);
            }
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                outer.for_each(8, &|i| assert!(i != 5, "task 5 fails"));
            }));
            assert!(caught.is_err());
            // The team still works after a failed call.
            let sum = AtomicU32::new(0);
            outer.for_each(8, &|i| {
                sum.fetch_add(i as u32, Ordering::Relaxed);
            });
            assert_eq!(sum.load(Ordering::Relaxed), 28);
        });
    }
}
