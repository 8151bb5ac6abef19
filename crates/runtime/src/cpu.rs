//! Running the parent's cgroup work beside the init, on another CPU.
//!
//! The scheduler places a forked child on its parent's CPU, where it waits
//! until the parent blocks: on cgroup v1 the parent's ~0.6 ms of cgroup
//! mkdirs and limits and the init's namespaces and first mounts would run
//! one after the other even with an idle CPU next to them. So the parent
//! sends the init, queued and not yet running, to the other CPUs it may
//! use ([`send_away`]) and goes on with its own work where it is. The init
//! starts there as soon as that CPU wakes (25-75 us here); moving the
//! parent itself instead costs it the same and, through the migration
//! thread, delays the init's start as long.
//!
//! The init puts its CPU mask back ([`restore`]) as soon as it has the
//! parent's CGROUP message, which the parent sends only after the move:
//! the container gets the mask the runtime had, whatever the timing. (On
//! v1, entering the cpuset cgroup then sets it to the cpuset's CPUs, as
//! for any task.)
//!
//! Best effort on the parent's side: with one usable CPU, or if a call
//! fails, nothing moves.

use nix::sched::{sched_getaffinity, sched_getcpu, sched_setaffinity, CpuSet};
use nix::unistd::Pid;

/// Our CPU mask, which the init restores after the move; None if it
/// cannot be read (then nothing moves).
pub fn mask() -> Option<CpuSet> {
    sched_getaffinity(Pid::from_raw(0)).ok()
}

/// Move the just-cloned `child` (which has `mask`) off the CPU we run on,
/// to the other CPUs of `mask`. False if it stays.
pub fn send_away(child: Pid, mask: &CpuSet) -> bool {
    let Ok(here) = sched_getcpu() else {
        return false;
    };
    match without(mask, here) {
        Some(others) => sched_setaffinity(child, &others).is_ok(),
        None => false,
    }
}

/// In the init: take back the whole mask.
pub fn restore(mask: &CpuSet) -> nix::Result<()> {
    sched_setaffinity(Pid::from_raw(0), mask)
}

/// `set` without `cpu`, or None if nothing would be left.
fn without(set: &CpuSet, cpu: usize) -> Option<CpuSet> {
    let mut rest = *set;
    if rest.unset(cpu).is_err() {
        return None;
    }
    (0..CpuSet::count())
        .any(|c| rest.is_set(c).unwrap_or(false))
        .then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(cpus: &[usize]) -> CpuSet {
        let mut s = CpuSet::new();
        for &c in cpus {
            s.set(c).unwrap();
        }
        s
    }

    fn same(a: &CpuSet, b: &CpuSet) -> bool {
        (0..CpuSet::count()).all(|c| a.is_set(c) == b.is_set(c))
    }

    #[test]
    fn the_other_cpus_remain() {
        let rest = without(&set(&[0, 1, 3]), 1).unwrap();
        assert!(rest.is_set(0).unwrap() && rest.is_set(3).unwrap());
        assert!(!rest.is_set(1).unwrap());
    }

    #[test]
    fn a_single_cpu_stays() {
        assert!(without(&set(&[2]), 2).is_none());
        // Running on a CPU outside the mask (it changed meanwhile): the
        // mask is left as it is, which is still a valid one.
        assert!(same(&without(&set(&[0, 1]), 5).unwrap(), &set(&[0, 1])));
    }

    #[test]
    fn a_child_sent_away_gets_its_mask_back() {
        let full = mask().unwrap();
        let (r, w) = nix::unistd::pipe().unwrap();
        // SAFETY: the child only makes syscalls and exits.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                // Wait for the parent's move, then check and restore.
                let mut b = [0u8; 1];
                let _ = nix::unistd::read(&r, &mut b);
                let moved = mask().unwrap();
                let ok = restore(&full).is_ok() && same(&mask().unwrap(), &full);
                let narrowed = (0..CpuSet::count())
                    .filter(|&c| full.is_set(c).unwrap())
                    .count()
                    == 1
                    || !same(&moved, &full);
                // SAFETY: _exit in the forked child.
                unsafe { libc::_exit(if ok && narrowed { 0 } else { 1 }) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                send_away(child, &full);
                nix::unistd::write(&w, b"x").unwrap();
                let st = nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(st, nix::sys::wait::WaitStatus::Exited(child, 0));
            }
        }
    }
}
