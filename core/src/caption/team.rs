//! A small fork-join team for decoding: the caller plus one spinning helper per other
//! thread of the rayon pool, alive for one `generate` call.
//!
//! A decode step runs about 85 parallel products of 2-10 MB each, separated by a few
//! microseconds of serial work. Rayon's workers fall asleep in those gaps, and waking one
//! takes about as long as half a product, so many products ended up running on one thread.
//! The team's helpers spin between tasks instead (yielding now and then), for the length of
//! one `generate` call only. One team exists at a time; a concurrent call uses rayon.
//!
//! Only the thread that made a team runs on it: [`Team`] is neither `Send` nor `Sync`, so
//! [`Par`], which borrows it, cannot reach another thread, and a task (a `Sync` closure)
//! cannot capture it. Spinning burns the cores it runs on, so hosts that share theirs can
//! turn the team off (`SOCIALLENS_SPIN_TEAM=0`, or `VitGpt2::with_spin_team(false)`).

use crate::error::{Error, Result};
use rayon::prelude::*;
use std::any::Any;
use std::cell::Cell;
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

/// The environment variable that turns the team off (`0`, `false`, `off` or `no`).
pub(crate) const SPIN_TEAM_ENV: &str = "SOCIALLENS_SPIN_TEAM";

/// Whether decoding uses a team unless told otherwise: [`SPIN_TEAM_ENV`], read once.
pub(crate) fn spin_by_default() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| spin_from_env(std::env::var(SPIN_TEAM_ENV).ok().as_deref()))
}

fn spin_from_env(value: Option<&str>) -> bool {
    let off = ["0", "false", "off", "no"];
    !value.is_some_and(|v| off.iter().any(|o| v.trim().eq_ignore_ascii_case(o)))
}

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

/// The caller's handle on its helpers. Not `Send` or `Sync` (the marker): only the thread
/// that made it can reach [`Team::run`], so two threads can never publish jobs at once.
pub(crate) struct Team {
    helpers: usize,
    shared: Shared,
    _owner_only: PhantomData<*const ()>,
}

/// What the caller and its helpers share.
struct Shared {
    ticket: AtomicU64,
    job: AtomicPtr<()>,
    done: AtomicUsize,
    stop: AtomicBool,
    panicked: AtomicBool,
    /// The first panic of the current epoch, re-raised on the caller's thread.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

thread_local! {
    /// Set while this thread runs a team task: a nested `run` then runs serially.
    static IN_TASK: Cell<bool> = const { Cell::new(false) };
}

/// Set while a team exists. An atomic flag and a guard rather than a `Mutex`: a panic
/// while a mutex guard is held would poison it, and every later call would fall back to
/// rayon for the rest of the process.
static ONE_TEAM: AtomicBool = AtomicBool::new(false);

/// Holds a team slot; frees it however the call ends.
struct Claim<'a>(&'a AtomicBool);

impl<'a> Claim<'a> {
    fn take(slot: &'a AtomicBool) -> Option<Self> {
        slot.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| Claim(slot))
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Sets a flag when dropped, on every way out of a scope (return, error, unwind).
struct SetOnDrop<'a>(&'a AtomicBool, bool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(self.1, Ordering::Release);
    }
}

/// What [`with_team_in`] takes from its caller; tests pass their own.
struct Hooks<'h> {
    /// The one-team-at-a-time slot.
    slot: &'h AtomicBool,
    /// Runs before helper `i` is spawned; an error stands for the OS refusing a thread.
    before_spawn: &'h (dyn Fn(usize) -> std::io::Result<()> + Sync),
    /// Counts the helpers that have returned.
    exited: &'h AtomicUsize,
}

/// Runs `f` with a team of `rayon::current_num_threads() - 1` spinning helpers when `spin`
/// is set, or with [`Par::Rayon`] when it is not, when another call holds the team, or
/// when there is one thread.
///
/// A panic in `f` or in one of its tasks becomes [`Error::Internal`], and leaves nothing
/// behind: the next call gets a team again. If a helper thread cannot be spawned, the
/// helpers already started are stopped and joined, and the call fails with
/// [`Error::Internal`] without running `f`.
pub(crate) fn with_team<R>(spin: bool, f: impl FnOnce(Par<'_>) -> R) -> Result<R> {
    let helpers = if spin {
        rayon::current_num_threads().saturating_sub(1)
    } else {
        0
    };
    let exited = AtomicUsize::new(0);
    let hooks = Hooks {
        slot: &ONE_TEAM,
        before_spawn: &spawn_anyway,
        exited: &exited,
    };
    with_team_in(&hooks, helpers, f)
}

/// The `before_spawn` hook outside tests: lets every helper start.
fn spawn_anyway(_: usize) -> std::io::Result<()> {
    Ok(())
}

fn with_team_in<R>(hooks: &Hooks<'_>, helpers: usize, f: impl FnOnce(Par<'_>) -> R) -> Result<R> {
    let claim = if helpers > 0 {
        Claim::take(hooks.slot)
    } else {
        None
    };
    let result = catch_unwind(AssertUnwindSafe(|| {
        if claim.is_none() {
            return Ok(f(Par::Rayon));
        }
        let team = Team {
            helpers,
            shared: Shared {
                ticket: AtomicU64::new(0),
                job: AtomicPtr::new(std::ptr::null_mut()),
                done: AtomicUsize::new(0),
                stop: AtomicBool::new(false),
                panicked: AtomicBool::new(false),
                panic: Mutex::new(None),
            },
            _owner_only: PhantomData,
        };
        let shared = &team.shared;
        let exited = hooks.exited;
        std::thread::scope(|s| {
            // Stops the helpers however this closure ends (a spawn error, a panic), or the
            // scope would wait for them forever.
            let _stop = SetOnDrop(&shared.stop, true);
            for i in 0..helpers {
                let spawned = (hooks.before_spawn)(i).and_then(|()| {
                    std::thread::Builder::new()
                        .name("sociallens-team".into())
                        .spawn_scoped(s, move || {
                            struct Count<'a>(&'a AtomicUsize);
                            impl Drop for Count<'_> {
                                fn drop(&mut self) {
                                    self.0.fetch_add(1, Ordering::AcqRel);
                                }
                            }
                            let _count = Count(exited);
                            shared.help();
                        })
                });
                if let Err(e) = spawned {
                    return Err(Error::Internal(format!(
                        "cannot start decoding helper thread {} of {helpers}: {e}",
                        i + 1
                    )));
                }
            }
            Ok(f(Par::Team(&team)))
        })
    }));
    drop(claim);
    result.unwrap_or_else(|payload| Err(Error::from_panic(&*payload)))
}

impl Team {
    fn run(&self, n: usize, f: &(dyn Fn(usize) + Sync)) {
        if n <= 1 || self.helpers == 0 || IN_TASK.with(Cell::get) || n as u64 >= TASK_MASK {
            (0..n).for_each(f);
            return;
        }
        let s = &self.shared;
        let job: Job<'_> = f;
        s.job
            .store(&job as *const Job<'_> as *mut (), Ordering::Relaxed);
        s.done.store(0, Ordering::Relaxed);
        // Publishes the job, the task count and the reset of `done`.
        s.ticket.store((n as u64) << INDEX_BITS, Ordering::Release);
        s.work();
        while s.done.load(Ordering::Acquire) < n {
            std::hint::spin_loop();
        }
        if s.panicked.swap(false, Ordering::AcqRel) {
            let payload = s
                .panic
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            resume_unwind(payload.unwrap_or_else(|| Box::new("a decoding task panicked")));
        }
    }
}

impl Shared {
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
            let ok = {
                IN_TASK.with(|t| t.set(true));
                struct Leave;
                impl Drop for Leave {
                    fn drop(&mut self) {
                        IN_TASK.with(|t| t.set(false));
                    }
                }
                let _leave = Leave;
                catch_unwind(AssertUnwindSafe(|| job(i as usize)))
            };
            if let Err(payload) = ok {
                let mut first = self.panic.lock().unwrap_or_else(PoisonError::into_inner);
                first.get_or_insert(payload);
                drop(first);
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

    /// Hooks with a slot of their own, so that tests running at the same time (and any
    /// `generate` of other tests) cannot take each other's team.
    fn own_hooks<'h>(slot: &'h AtomicBool, exited: &'h AtomicUsize) -> Hooks<'h> {
        Hooks {
            slot,
            before_spawn: &spawn_anyway,
            exited,
        }
    }

    /// Runs `n` tasks on `par` and checks that each ran exactly once.
    fn each_task_once(par: Par<'_>, n: usize) {
        let hits: Vec<AtomicU32> = (0..n).map(|_| AtomicU32::new(0)).collect();
        par.for_each(n, &|i| {
            hits[i].fetch_add(1, Ordering::Relaxed);
        });
        assert!(
            hits.iter().all(|h| h.load(Ordering::Relaxed) == 1),
            "n = {n}"
        );
    }

    #[test]
    fn every_task_runs_once_per_call_across_many_calls() {
        let (slot, exited) = (AtomicBool::new(false), AtomicUsize::new(0));
        with_team_in(&own_hooks(&slot, &exited), 3, |par| {
            assert!(matches!(par, Par::Team(_)));
            for n in [0usize, 1, 2, 3, 17, 200] {
                for _ in 0..50 {
                    each_task_once(par, n);
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
        })
        .unwrap();
        assert_eq!(exited.load(Ordering::Acquire), 3);
    }

    #[test]
    fn a_second_concurrent_team_falls_back_to_rayon() {
        let (slot, exited) = (AtomicBool::new(false), AtomicUsize::new(0));
        let hooks = own_hooks(&slot, &exited);
        with_team_in(&hooks, 2, |outer| {
            assert!(matches!(outer, Par::Team(_)));
            let inner_is_rayon = std::thread::scope(|s| {
                s.spawn(|| with_team_in(&hooks, 2, |p| matches!(p, Par::Rayon)).unwrap())
                    .join()
                    .unwrap()
            });
            assert!(inner_is_rayon);
            each_task_once(outer, 40);
        })
        .unwrap();
    }

    #[test]
    fn a_helper_that_cannot_start_is_an_error_and_the_started_ones_are_joined() {
        let (slot, exited) = (AtomicBool::new(false), AtomicUsize::new(0));
        let started = AtomicUsize::new(0);
        let third_fails = |i: usize| {
            if i == 2 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::WouldBlock,
                    "no more threads",
                ));
            }
            started.fetch_add(1, Ordering::AcqRel);
            Ok(())
        };
        let hooks = Hooks {
            slot: &slot,
            before_spawn: &third_fails,
            exited: &exited,
        };
        let ran = AtomicBool::new(false);
        let err = with_team_in(&hooks, 4, |_| ran.store(true, Ordering::Release)).unwrap_err();
        assert!(
            matches!(&err, Error::Internal(m) if m.contains("thread 3 of 4") && m.contains("no more threads")),
            "{err}"
        );
        assert!(
            !ran.load(Ordering::Acquire),
            "f must not run without its team"
        );
        // Both helpers that started have returned: none is left spinning.
        assert_eq!(started.load(Ordering::Acquire), 2);
        assert_eq!(exited.load(Ordering::Acquire), 2);
        // The slot is free again: the next call gets a full team.
        let ok = with_team_in(&own_hooks(&slot, &exited), 4, |par| {
            each_task_once(par, 33);
            matches!(par, Par::Team(_))
        });
        assert!(ok.unwrap());
        assert_eq!(exited.load(Ordering::Acquire), 6);
    }

    #[test]
    fn a_panic_is_an_error_and_the_team_works_for_the_next_calls() {
        let (slot, exited) = (AtomicBool::new(false), AtomicUsize::new(0));
        let hooks = own_hooks(&slot, &exited);
        // A task panics: the caller gets the panic's message as an error.
        let err = with_team_in(&hooks, 3, |par| {
            assert!(matches!(par, Par::Team(_)));
            par.for_each(8, &|i| assert!(i != 5, "task 5 fails"));
        })
        .unwrap_err();
        assert!(
            matches!(&err, Error::Internal(m) if m.contains("task 5 fails")),
            "{err}"
        );
        // Within one call, the team still works after a failed run.
        with_team_in(&hooks, 3, |par| {
            let caught = catch_unwind(AssertUnwindSafe(|| {
                par.for_each(8, &|i| assert!(i != 2, "task 2 fails"))
            }));
            assert!(caught.is_err());
            each_task_once(par, 8);
        })
        .unwrap();
        // The caller itself panics between runs.
        let err = with_team_in(&hooks, 3, |par| {
            each_task_once(par, 8);
            panic!("the caller fails");
        })
        .unwrap_err();
        assert!(matches!(&err, Error::Internal(m) if m.contains("the caller fails")));
        // Nothing is left poisoned: every later call gets a team and runs each task once.
        for _ in 0..1000 {
            let had_team = with_team_in(&hooks, 3, |par| {
                each_task_once(par, 17);
                matches!(par, Par::Team(_))
            });
            assert!(had_team.unwrap());
        }
        assert_eq!(exited.load(Ordering::Acquire), 3 * 1003);
        assert!(!IN_TASK.with(Cell::get));
    }

    /// Compiles only for a type that is not `Sync`: for a `Sync` one both impls apply and
    /// `check` is ambiguous.
    trait NotSync<Which> {
        fn check() {}
    }
    impl<T: ?Sized> NotSync<()> for T {}
    struct IsSync;
    impl<T: ?Sized + Sync> NotSync<IsSync> for T {}

    /// The same for `Send`.
    trait NotSend<Which> {
        fn check() {}
    }
    impl<T: ?Sized> NotSend<()> for T {}
    struct IsSend;
    impl<T: ?Sized + Send> NotSend<IsSend> for T {}

    #[test]
    fn only_the_thread_that_made_a_team_can_run_on_it() {
        // Checked when this test compiles: a `Team` cannot be shared or moved, so neither
        // a `Par` nor a task closure holding one can reach a second thread, and only the
        // thread in `with_team` can enter `Team::run`.
        <Team as NotSync<_>>::check();
        <Team as NotSend<_>>::check();
        <Par<'static> as NotSend<_>>::check();
        <Par<'static> as NotSync<_>>::check();
        // What can cross threads is the shared state the helpers spin on.
        fn shared_is_sync<T: Sync>() {}
        shared_is_sync::<Shared>();
    }

    #[test]
    fn the_team_can_be_turned_off() {
        assert!(with_team(false, |par| matches!(par, Par::Rayon)).unwrap());
        let hits: Vec<AtomicU32> = (0..9).map(|_| AtomicU32::new(0)).collect();
        with_team(false, |par| {
            par.for_each(9, &|i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
            })
        })
        .unwrap();
        assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
        // A panic on the rayon path is an error too.
        let err = with_team(false, |par| par.for_each(4, &|i| assert!(i != 3, "boom")));
        assert!(matches!(err, Err(Error::Internal(m)) if m.contains("boom")));
    }

    #[test]
    fn the_env_var_turns_the_team_off_with_0_false_off_or_no() {
        for off in ["0", "false", "OFF", " no ", "False"] {
            assert!(!spin_from_env(Some(off)), "{off:?}");
        }
        for on in [
            None,
            Some(""),
            Some("1"),
            Some("true"),
            Some("yes"),
            Some("on"),
        ] {
            assert!(spin_from_env(on), "{on:?}");
        }
    }
}
