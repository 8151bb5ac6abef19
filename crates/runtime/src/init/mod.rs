//! The container's init process: everything that happens between the
//! clone and execve, in order. Each step's input was computed by the parent
//! (`InitPlan`), so this code only makes syscalls and reports errors.
//!
//! Order (and why):
//!  1. v2: enter the cgroup (the clone put us there already; see
//!     [`CgroupPlan`])
//!  2. wait for uid/gid maps (new user namespace), become non-dumpable
//!  3. v1, "early" cases only: wait for the parent's cgroup and enter it
//!  4. join namespaces by path, become root of a user namespace, unshare
//!     the late namespaces (the cgroup one only if already in the cgroup)
//!  5. mounts that do not need the cgroup; then (v1) wait for the parent's
//!     cgroup, enter it and unshare the cgroup namespace, so it is rooted at
//!     the container's cgroup; then the other mounts, devices
//!  6. hostname; prestart/createRuntime hooks in the parent and
//!     createContainer hooks here, before pivot_root
//!  7. pivot_root, terminal, sysctls, masked/read-only paths
//!  8. rlimits, scheduler, user and capabilities, cwd
//!  9. report READY and block on the exec fifo (the start barrier)
//! 10. startContainer hooks, close stray fds, no_new_privs, execve
//!
//! On cgroup v1 the parent makes the cgroup after the clone, while the init
//! does steps 4-5 on another CPU (the parent sends it there, `crate::cpu`; the
//! ~0.6 ms of mkdirs and limits are off the critical path; so is the setup
//! of the mount, network, IPC and UTS namespaces, which the init unshares
//! in step 4 on v1). The init waits for it before the first thing that
//! depends on it ([`rootfs::prepare`]: a /sys/fs/cgroup mount, which binds
//! the container's cgroup directories, a bind of a source not there yet, a
//! block device, or else the device nodes), so it is in its cgroup, with
//! its limits, before any hook or container code runs.
//!
//! The channel (`sync`) carries, in this order:
//! - parent -> init: MAPPED (new user namespace only), then CGROUP (v1
//!   only: the `tasks` fds, or none when rootless had no cgroup);
//! - init -> parent: HOOKS (answered by HOOKS_DONE) when there are hooks,
//!   SECCOMP plus the fd for a notify filter, then READY; ERROR instead,
//!   at any point, when a step fails (the parent then kills the init and
//!   removes what it made, the cgroup included).
//!
//! The parent sends MAPPED and CGROUP without waiting for the init, and
//! reads only after sending them, so neither side can block on the other.
//! An init that fails before it reads CGROUP makes the parent's send fail
//! (EPIPE), or, if it exits after the send, the parent's next read fail
//! once with ECONNRESET (skipped by `sync::Channel::recv`); either way the
//! parent then reads the init's ERROR and reports it.

pub mod clone;
pub mod namespaces;
pub mod process;

use std::convert::Infallible;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};

use nix::sched::CloneFlags;
use oci_spec::runtime::Hook;

use crate::error::{Error, Result, SysContext};
use crate::rootfs::{self, RootfsPlan};
use crate::sync::{self, Channel};
use namespaces::NamespacePlan;
use process::ProcessPlan;

pub struct InitPlan {
    pub id: String,
    pub ns: NamespacePlan,
    pub rootfs: RootfsPlan,
    pub process: ProcessPlan,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub sysctls: Vec<(String, String)>,
    pub create_container_hooks: Vec<Hook>,
    pub start_container_hooks: Vec<Hook>,
    /// Ask the parent for the hook round trip (any hook before start).
    pub wants_hooks: bool,
    pub cgroup: CgroupPlan,
    /// The start barrier (create): an O_PATH fd of the state root, through
    /// which the exec fifo (`<id>.fifo`) is opened after pivot_root, when
    /// the host path is no longer reachable. None for `run`, whose parent
    /// starts the container right away: the init goes on to execve after
    /// READY and reports on the channel instead.
    pub barrier: Option<OwnedFd>,
    pub console: Option<OwnedFd>,
    pub preserve_fds: u32,
    /// Join a fresh session keyring named after the container (runc's
    /// default; --no-new-keyring keeps the caller's).
    pub new_keyring: bool,
    /// setgroups(2) is allowed: false in a user namespace whose
    /// /proc/PID/setgroups the (unprivileged) parent set to "deny".
    pub setgroups: bool,
    /// Compiled by the parent; the child only loads it.
    pub seccomp: Option<onggi_seccomp::Filter>,
    /// The exec trampoline's sealed memfd (close-on-exec): the final execve
    /// goes through it (CVE-2019-5736, see `crate::trampoline`). None when
    /// /proc/self/exe is already protected: exec directly.
    pub trampoline: Option<OwnedFd>,
    /// v1: the runtime's CPU mask. The parent moves the init to another
    /// CPU right after the clone (`crate::cpu`); the init restores this
    /// when the CGROUP message comes, which the parent sends after.
    pub cpu_mask: Option<nix::sched::CpuSet>,
}

/// Entry point in the cloned child. Never returns.
pub fn main(plan: &InitPlan, chan: &Channel) -> ! {
    let err = match run(plan, chan) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    // Before the barrier (and without one, for `run`) the parent listens
    // on the channel.
    let _ = chan.send(sync::ERROR, err.to_string().as_bytes());
    // SAFETY: _exit is always safe; skip atexit handlers of the parent's copy.
    unsafe { libc::_exit(1) }
}

fn run(plan: &InitPlan, chan: &Channel) -> Result<Infallible> {
    // Until execve this process is the runtime, holding fds of the host
    // (state root, cgroup files): non-dumpable, so nothing in the container
    // can open its /proc/PID/exe or /proc/PID/fd (CVE-2019-5736, and
    // CVE-2024-21626's fd class). execve resets it for the container's
    // own program. With a new user namespace, only once the parent has
    // written the id maps (a non-dumpable process's /proc files belong to
    // root, which an unprivileged parent is not).
    if !plan.ns.new_user {
        set_non_dumpable();
    }
    let mut cgroup = CgroupStep::new(plan, chan);
    if !matches!(plan.cgroup, CgroupPlan::Deferred { .. }) {
        // v2: the clone put us in the cgroup already (nothing to write);
        // marks the cgroup step done, so the cgroup namespace can follow.
        cgroup.enter()?;
    }
    if plan.ns.new_user {
        match chan.recv().ctx(|| "wait for id maps".into())? {
            Some((sync::MAPPED, _)) => set_non_dumpable(),
            _ => {
                return Err(Error::Unsupported(
                    "parent went away before mapping ids".into(),
                ))
            }
        }
    }
    if matches!(plan.cgroup, CgroupPlan::Deferred { early: true }) {
        cgroup.enter()?;
    }
    for j in &plan.ns.joins {
        namespaces::join(j)?;
    }
    if plan.ns.in_userns {
        // Become root of the user namespace (id 0 must be mapped).
        let root = nix::unistd::Uid::from_raw(0);
        let rootg = nix::unistd::Gid::from_raw(0);
        nix::unistd::setresgid(rootg, rootg, rootg)
            .ctx(|| "setgid 0 in the user namespace".into())?;
        nix::unistd::setresuid(root, root, root).ctx(|| "setuid 0 in the user namespace".into())?;
    }
    let mut late = plan.ns.unshare_flags;
    if cgroup.entered {
        // Already in the cgroup: the cgroup namespace goes with the others,
        // rooted at the container's cgroup.
        late |= cgroup.take_namespace();
    }
    if !late.is_empty() {
        nix::sched::unshare(late).ctx(|| format!("unshare {late:?}"))?;
    }
    if plan.ns.new_net {
        loopback_up()?;
    }
    if plan.new_keyring {
        join_session_keyring(&plan.id)?;
    }
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());

    // The mounts that do not need the cgroup run while the parent (v1)
    // makes it; `prepare` calls back (always, once at least) before the
    // first one that does.
    let root = rootfs::prepare(&plan.rootfs, &mut || cgroup.complete())?;
    // After the cgroup step: a joined UTS namespace is changed only once
    // nothing of the parent's can fail any more.
    if let Some(h) = &plan.hostname {
        nix::unistd::sethostname(h).ctx(|| format!("sethostname {h:?}"))?;
    }
    if let Some(d) = &plan.domainname {
        // SAFETY: pointer and length of a live string.
        if unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) } != 0 {
            return Err(Error::sys(
                format!("setdomainname {d:?}"),
                nix::errno::Errno::last(),
            ));
        }
    }
    // runc creates a missing cwd; do it now, resolved inside the root.
    rootfs::paths::create_in_root(root.as_fd(), &plan.process.cwd, rootfs::paths::Kind::Dir)
        .ctx(|| format!("create cwd {}", plan.process.cwd.display()))?;
    drop(root);

    let mut state_json = Vec::new();
    if plan.wants_hooks {
        chan.send(sync::HOOKS, b"").ctx(|| "ask for hooks".into())?;
        match chan.recv().ctx(|| "wait for hooks".into())? {
            Some((sync::HOOKS_DONE, payload)) => state_json = payload,
            _ => return Err(Error::Unsupported("parent went away during hooks".into())),
        }
        crate::hooks::run_all(
            "createContainer",
            Some(&plan.create_container_hooks),
            &state_json,
        )?;
    }

    rootfs::enter(&plan.rootfs)?;
    if plan.process.terminal {
        let sock = plan.console.as_ref().ok_or_else(|| {
            Error::Unsupported("terminal requested without a console socket".into())
        })?;
        crate::tty::setup(
            sock.as_fd(),
            plan.process.console_size,
            plan.rootfs.new_mount_ns,
        )?;
    }
    rootfs::write_sysctls(&plan.sysctls)?;
    rootfs::finish(&plan.rootfs)?;

    let (exe, env) = prepare_exec(
        &plan.process,
        plan.seccomp.as_ref(),
        plan.preserve_fds,
        chan,
    )?;
    process::switch_user(&plan.process, plan.setgroups)?;

    chan.send(sync::READY, b"").ctx(|| "report ready".into())?;
    let Some(state_root) = &plan.barrier else {
        // `run`: no barrier and no fifo. The parent reads the channel until
        // EOF (close-on-exec: the process runs) or an error (ours, or the
        // trampoline's record of a failed execve) and tells the user.
        return Err(after_barrier(plan, chan.as_fd(), &exe, &env, &state_json));
    };

    // The start barrier: blocks until `start` opens the fifo for reading.
    let fifo = nix::fcntl::openat(
        state_root.as_fd(),
        crate::state::fifo_name(&plan.id).as_str(),
        nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    );
    let fifo = match fifo {
        Ok(f) => f,
        // Nobody to report to but the parent, if it still listens.
        Err(e) => return Err(Error::sys("open exec fifo", e)),
    };
    // From here on errors go to `start` through the fifo.
    let err = after_barrier(plan, fifo.as_fd(), &exe, &env, &state_json);
    let mut f = std::fs::File::from(fifo);
    let _ = f.write_all(err.to_string().as_bytes());
    // SAFETY: _exit is always safe.
    unsafe { libc::_exit(1) }
}

/// How the init gets into its cgroup.
pub enum CgroupPlan {
    /// No cgroup to enter (a rootless v2 create that could not make one).
    None,
    /// v2: handles opened by the parent before the clone; the clone put the
    /// init into the cgroup already (CLONE_INTO_CGROUP).
    Ready(onggi_cgroups::AttachHandles),
    /// v1: the parent makes the cgroup after the clone, while the init does
    /// the work that does not need it, and sends the `tasks` fds in a
    /// `sync::CGROUP` message (none: no cgroup after all, rootless).
    Deferred {
        /// Wait for the message right after the id maps, before anything
        /// else, as with a cgroup made before the clone: when the mounts
        /// are not private to the init (no new mount namespace, or a joined
        /// one), so a failing cgroup leaves none behind; and in a user
        /// namespace made by an unprivileged parent, whose `tasks` fds
        /// only let a process with the parent's uid in (before the init
        /// becomes root of the namespace).
        early: bool,
    },
}

/// The init's way into its cgroup, in two idempotent steps: `enter` (v1:
/// receive the handles from the parent, then write to them) and `complete`
/// (enter, then unshare the cgroup namespace if it was not yet).
struct CgroupStep<'a> {
    plan: &'a InitPlan,
    chan: &'a Channel,
    entered: bool,
    namespace_done: bool,
}

impl<'a> CgroupStep<'a> {
    fn new(plan: &'a InitPlan, chan: &'a Channel) -> Self {
        CgroupStep {
            plan,
            chan,
            entered: false,
            namespace_done: false,
        }
    }

    fn enter(&mut self) -> Result<()> {
        if self.entered {
            return Ok(());
        }
        self.entered = true;
        let received;
        let handles = match &self.plan.cgroup {
            CgroupPlan::None => None,
            // v2: clone3(CLONE_INTO_CGROUP) put us there already; writing
            // cgroup.procs again would only take the threadgroup lock (an
            // RCU grace period) for nothing.
            CgroupPlan::Ready(_) => None,
            CgroupPlan::Deferred { .. } => {
                received = recv_cgroup(self.chan)?;
                if let Some(mask) = &self.plan.cpu_mask {
                    crate::cpu::restore(mask).ctx(|| "restore the CPU mask".into())?;
                }
                received.as_ref()
            }
        };
        if let Some(h) = handles {
            h.enter()
                .map_err(|(e, ctrl)| Error::sys(format!("enter cgroup ({ctrl})"), e))?;
        }
        Ok(())
    }

    /// The cgroup namespace flag, if it is still to be unshared; from now
    /// on the caller's job.
    fn take_namespace(&mut self) -> CloneFlags {
        if self.plan.ns.new_cgroup && !self.namespace_done {
            self.namespace_done = true;
            CloneFlags::CLONE_NEWCGROUP
        } else {
            CloneFlags::empty()
        }
    }

    fn complete(&mut self) -> Result<()> {
        self.enter()?;
        let ns = self.take_namespace();
        if !ns.is_empty() {
            nix::sched::unshare(ns).ctx(|| format!("unshare {ns:?}"))?;
        }
        Ok(())
    }
}

/// Wait for the parent's CGROUP message; the handles it carries, if any.
fn recv_cgroup(chan: &Channel) -> Result<Option<onggi_cgroups::AttachHandles>> {
    match chan.recv_with_fds().ctx(|| "wait for the cgroup".into())? {
        Some((sync::CGROUP, names, fds)) => {
            if fds.is_empty() {
                return Ok(None);
            }
            let names = std::str::from_utf8(&names).unwrap_or("");
            let names: Vec<&str> = names.split('\n').collect();
            if names.len() != fds.len() {
                return Err(Error::Unsupported(format!(
                    "cgroup message with {} names for {} fds",
                    names.len(),
                    fds.len()
                )));
            }
            Ok(Some(onggi_cgroups::AttachHandles::from_files(
                names.into_iter().zip(fds),
            )))
        }
        Some((tag, _, _)) => Err(Error::Unsupported(format!(
            "unexpected message {tag:?} while waiting for the cgroup"
        ))),
        None => Err(Error::Unsupported(
            "parent went away before the cgroup was made".into(),
        )),
    }
}

/// A new network namespace starts with `lo` down; bring it up, as runc
/// does (SIOCSIFFLAGS on an AF_INET socket, no netlink needed).
fn loopback_up() -> Result<()> {
    // SAFETY: socket(2) with constant arguments; the fd is checked.
    let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if s < 0 {
        return Err(Error::sys("socket for lo", nix::errno::Errno::last()));
    }
    // SAFETY: a new fd we own.
    let sock = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(s) };
    // SAFETY: ifreq is plain data; zeroed is a valid start.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, c) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
        *d = *c as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS with a valid ifreq naming "lo".
    unsafe {
        if libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(&sock),
            libc::SIOCGIFFLAGS,
            &mut ifr,
        ) != 0
        {
            return Err(Error::sys("get flags of lo", nix::errno::Errno::last()));
        }
        ifr.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        if libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(&sock),
            libc::SIOCSIFFLAGS,
            &ifr,
        ) != 0
        {
            return Err(Error::sys("bring lo up", nix::errno::Errno::last()));
        }
    }
    Ok(())
}

pub(crate) fn set_non_dumpable() {
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
}

/// A session keyring of the container's own, so it does not share the
/// caller's keys. Kernels without keyrings (ENOSYS) are fine, as in runc.
fn join_session_keyring(id: &str) -> Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    let name = std::ffi::CString::new(format!("_ses.{id}"))
        .map_err(|_| Error::Unsupported("container id has a NUL byte".into()))?;
    // SAFETY: keyctl with a valid C string.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if r < 0 {
        let e = nix::errno::Errno::last();
        if e != nix::errno::Errno::ENOSYS {
            return Err(Error::sys("join a new session keyring", e));
        }
    }
    Ok(())
}

/// The steps before the user switch shared by the init and `exec`:
/// privileged attributes, the executable and environment, cwd, stray fds
/// close-on-exec, and the seccomp filter when it must go on early.
/// Returns the path and environment to execve with.
pub(crate) fn prepare_exec(
    p: &ProcessPlan,
    seccomp: Option<&onggi_seccomp::Filter>,
    preserve_fds: u32,
    chan: &Channel,
) -> Result<(std::ffi::CString, Vec<std::ffi::CString>)> {
    process::apply_privileged(p)?;
    let exe = process::resolve_executable(p)?;
    let env = process::final_env(p);
    process::enter_cwd(&p.cwd)?;
    // Before a seccomp filter could forbid close_range.
    process::cloexec_from(3 + preserve_fds)?;
    // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN, so it
    // must happen before the user switch (as in runc). A notify filter
    // goes on here too: its fd must reach the parent over the channel.
    if let Some(filter) = seccomp.filter(|f| f.has_notify() || !p.no_new_privs) {
        if p.no_new_privs {
            process::set_no_new_privs()?;
        }
        load_seccomp(filter, chan)?;
    }
    Ok((exe, env))
}

/// The filter that waited until last (no_new_privs, no notify): after it
/// only execve is left to pass it.
pub(crate) fn load_late_seccomp(
    p: &ProcessPlan,
    seccomp: Option<&onggi_seccomp::Filter>,
) -> Result<()> {
    if let Some(filter) = seccomp.filter(|f| !f.has_notify() && p.no_new_privs) {
        filter
            .load()
            .map_err(|e| Error::sys("load seccomp filter", e))?;
    }
    Ok(())
}

/// Load the filter; hand a notify listener fd to the parent.
fn load_seccomp(filter: &onggi_seccomp::Filter, chan: &Channel) -> Result<()> {
    let fd = filter
        .load()
        .map_err(|e| Error::sys("load seccomp filter", e))?;
    if let Some(fd) = fd {
        chan.send(sync::SECCOMP, b"")
            .ctx(|| "announce the seccomp fd".into())?;
        onggi_seccomp::send_fd(chan.as_fd(), fd.as_fd(), sync::SECCOMP)
            .map_err(|e| Error::sys("send the seccomp fd", e))?;
    }
    Ok(())
}

/// From the start of the container to its process: startContainer hooks,
/// the last security steps, execve. A failed final execve is reported by
/// the trampoline through `report`: the exec fifo, or the channel when
/// there is no barrier.
fn after_barrier(
    plan: &InitPlan,
    report: std::os::fd::BorrowedFd<'_>,
    exe: &std::ffi::CString,
    env: &[std::ffi::CString],
    state_json: &[u8],
) -> Error {
    if !plan.start_container_hooks.is_empty() {
        let json = match serde_json::from_slice::<serde_json::Value>(state_json) {
            Ok(mut v) => {
                v["status"] = "created".into();
                v.to_string().into_bytes()
            }
            Err(_) => state_json.to_vec(),
        };
        if let Err(e) =
            crate::hooks::run_all("startContainer", Some(&plan.start_container_hooks), &json)
        {
            return e;
        }
    }
    process::reset_signals();
    if plan.process.no_new_privs {
        if let Err(e) = process::set_no_new_privs() {
            return e;
        }
    }
    if let Err(e) = load_late_seccomp(&plan.process, plan.seccomp.as_ref()) {
        return e;
    }
    if let Some(memfd) = &plan.trampoline {
        // The trampoline reports a failed execve through the fifo.
        return crate::trampoline::exec(memfd.as_fd(), report, exe, &plan.process.args, env);
    }
    process::exec(exe, &plan.process, env)
}
