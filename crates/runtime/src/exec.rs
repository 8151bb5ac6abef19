//! `exec`: a new process in a running container. It joins every namespace
//! of the container (user first), its cgroup, and gets the container's
//! capabilities, rlimits, seccomp filter and LSM profile unless the process
//! says otherwise.
//!
//! The runtime process enters the container's pid namespace "for
//! children" and clones once; the child does the rest and execs, through
//! the exec trampoline when it can (CVE-2019-5736, see `selfprotect`). A
//! CLOEXEC channel tells the parent: EOF means execve succeeded, a message
//! carries the error (the child's own, or the trampoline's record of a
//! failed execve).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;

use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{Capability, LinuxNamespaceType, Process};

use crate::error::{Error, IoContext, Result, SysContext};
use crate::init::{
    namespaces,
    process::{self, ProcessPlan},
};
use crate::lifecycle;
use crate::state::{StateRoot, Status};
use crate::sync::{self, Channel};

#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub id: String,
    /// A process.json; otherwise `args` and the flags below.
    pub process_file: Option<PathBuf>,
    pub args: Vec<String>,
    pub tty: bool,
    pub console_socket: Option<PathBuf>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub cwd: Option<PathBuf>,
    pub env: Vec<String>,
    /// "uid[:gid]"
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    pub caps: Vec<String>,
    pub no_new_privs: bool,
    pub preserve_fds: u32,
    pub process_label: Option<String>,
    pub apparmor: Option<String>,
}

/// The process to run: from --process, or the container's process with
/// the command-line overrides, as runc builds it.
fn build_process(opts: &ExecOptions, base: &Process) -> Result<Process> {
    if let Some(path) = &opts.process_file {
        let text = std::fs::read(path).at(path)?;
        let p: Process = serde_json::from_slice(&text)
            .map_err(|e| Error::config(path, format!("cannot parse process: {e}")))?;
        if p.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(Error::config(path, "process.args must not be empty"));
        }
        return Ok(p);
    }
    if opts.args.is_empty() {
        return Err(Error::Unsupported(
            "exec needs a command (or --process FILE)".into(),
        ));
    }
    let mut p = base.clone();
    p.set_args(Some(opts.args.clone()));
    p.set_terminal(Some(opts.tty));
    p.set_console_size(None);
    if let Some(cwd) = &opts.cwd {
        p.set_cwd(cwd.clone());
    }
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &opts.env {
        let key = kv.split('=').next().unwrap_or("");
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    p.set_env(Some(env));
    if let Some(u) = &opts.user {
        let (uid, gid) = match u.split_once(':') {
            Some((a, b)) => (a, Some(b)),
            None => (u.as_str(), None),
        };
        let uid: u32 = uid.parse().map_err(|_| {
            Error::Unsupported(format!("--user {u:?}: expected uid[:gid] as numbers"))
        })?;
        p.user_mut().set_uid(uid);
        if let Some(g) = gid {
            let gid: u32 = g.parse().map_err(|_| {
                Error::Unsupported(format!("--user {u:?}: expected uid[:gid] as numbers"))
            })?;
            p.user_mut().set_gid(gid);
        }
    }
    if !opts.additional_gids.is_empty() {
        p.user_mut()
            .set_additional_gids(Some(opts.additional_gids.clone()));
    }
    if !opts.caps.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        let extra: Vec<Capability> = opts
            .caps
            .iter()
            .map(|c| {
                serde_json::from_value(serde_json::Value::String(c.clone()))
                    .map_err(|_| Error::Unsupported(format!("--cap {c:?}: unknown capability")))
            })
            .collect::<Result<_>>()?;
        let add = |set: &Option<std::collections::HashSet<Capability>>| {
            let mut s = set.clone().unwrap_or_default();
            s.extend(extra.iter().copied());
            Some(s)
        };
        caps.set_bounding(add(caps.bounding()));
        caps.set_effective(add(caps.effective()));
        caps.set_permitted(add(caps.permitted()));
        caps.set_inheritable(add(caps.inheritable()));
        caps.set_ambient(add(caps.ambient()));
        p.set_capabilities(Some(caps));
    }
    if opts.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(a) = &opts.apparmor {
        p.set_apparmor_profile(Some(a.clone()));
    }
    if let Some(l) = &opts.process_label {
        p.set_selinux_label(Some(l.clone()));
    }
    Ok(p)
}

fn ns_file(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

struct ExecPlan {
    process: ProcessPlan,
    /// (type, fd of /proc/<init>/ns/<type>), user first, mount last.
    joins: Vec<(LinuxNamespaceType, OwnedFd)>,
    in_userns: bool,
    cgroup: Option<onggi_cgroups::AttachHandles>,
    seccomp: Option<onggi_seccomp::Filter>,
    console: Option<OwnedFd>,
    preserve_fds: u32,
    /// The exec trampoline's sealed memfd (close-on-exec), or None to exec
    /// directly (the binary is protected).
    trampoline: Option<OwnedFd>,
}

/// Returns the exit code for the runtime process (0 when detached).
pub fn exec(root: &StateRoot, opts: &ExecOptions) -> Result<i32> {
    let c = lifecycle::load(root, &opts.id)?;
    match c.status {
        Status::Running | Status::Created => {}
        Status::Paused => {
            return Err(Error::WrongState {
                id: opts.id.clone(),
                status: c.status.to_string(),
                what: "cannot exec in a paused container",
            })
        }
        _ => {
            return Err(Error::WrongState {
                id: opts.id.clone(),
                status: c.status.to_string(),
                what: "cannot exec in a container that is not running",
            })
        }
    }
    let spec = &c.state.config;
    let base = spec.process().clone().unwrap_or_default();
    let process = build_process(opts, &base)?;
    let terminal = process.terminal().unwrap_or(false);
    if terminal && opts.detach && opts.console_socket.is_none() {
        return Err(Error::Unsupported(
            "exec --tty --detach needs --console-socket".into(),
        ));
    }
    let linux = spec.linux().clone().unwrap_or_default();
    let plan_process = ProcessPlan::from_spec(&process, linux.personality().as_ref())?;
    let seccomp = match linux.seccomp() {
        Some(s) => Some(
            onggi_seccomp::compile(s)
                .map_err(|e| Error::Unsupported(format!("linux.seccomp of {}: {e}", opts.id)))?,
        ),
        None => None,
    };
    // CVE-2019-5736 (see selfprotect): the exec trampoline, or else a
    // re-exec of this command from a read-only view of the binary, before
    // anything is opened or connected.
    let trampoline =
        crate::selfprotect::for_exec(plan_process.apparmor.is_some(), seccomp.as_ref())?;

    // Namespace fds of the running init; the pid namespace is entered by
    // us "for children", the rest by the child.
    let init_pid = c.state.pid;
    let mut joins = Vec::new();
    let mut pid_ns = None;
    let mut in_userns = false;
    for ns in linux.namespaces().iter().flatten() {
        let t = ns.typ();
        let path = format!("/proc/{init_pid}/ns/{}", ns_file(t));
        let fd: OwnedFd = std::fs::File::open(&path).at(&path)?.into();
        match t {
            LinuxNamespaceType::Pid => pid_ns = Some(fd),
            LinuxNamespaceType::User => {
                in_userns = true;
                joins.push((t, fd));
            }
            _ => joins.push((t, fd)),
        }
    }
    joins.sort_by_key(|(t, _)| match t {
        LinuxNamespaceType::User => 0,
        LinuxNamespaceType::Mount => 2,
        _ => 1,
    });
    let cgroup = match &c.state.cgroup {
        Some(cg) => Some(cg.attach_handles()?),
        None => None,
    };
    let (console, relay) = match (&opts.console_socket, terminal) {
        (Some(p), true) => (Some(crate::tty::connect_console_socket(p)?), None),
        (None, true) => {
            let (a, b) = std::os::unix::net::UnixStream::pair()
                .map_err(|e| Error::io("console socketpair", e))?;
            (Some(OwnedFd::from(b)), Some(OwnedFd::from(a)))
        }
        _ => (None, None),
    };
    let plan = ExecPlan {
        process: plan_process,
        joins,
        in_userns,
        cgroup,
        seccomp,
        console,
        preserve_fds: opts.preserve_fds,
        trampoline,
    };

    let all = SigSet::all();
    let mut old = SigSet::empty();
    if !opts.detach {
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&all), Some(&mut old))
            .ctx(|| "block signals".into())?;
    }
    let own_pid_ns = match &pid_ns {
        Some(fd) => {
            let own: OwnedFd = std::fs::File::open("/proc/self/ns/pid")
                .at("/proc/self/ns/pid")?
                .into();
            nix::sched::setns(fd.as_fd(), CloneFlags::CLONE_NEWPID)
                .ctx(|| format!("enter pid namespace of {}", opts.id))?;
            Some(own)
        }
        None => None,
    };
    let (ours, theirs) = sync::pair()?;
    let cgroup_fd = plan
        .cgroup
        .as_ref()
        .and_then(|h| h.clone_into_fd())
        .map(|fd| fd.as_raw_fd());
    let child = crate::init::clone::fork_into(0, cgroup_fd);
    let pid = match child {
        Ok(None) => {
            drop(ours);
            child_main(&plan, &theirs)
        }
        Ok(Some(pid)) => pid,
        Err(e) => return Err(Error::sys(format!("clone exec process in {}", opts.id), e)),
    };
    drop(theirs);
    if let Some(fd) = own_pid_ns {
        nix::sched::setns(fd, CloneFlags::CLONE_NEWPID).ctx(|| "restore pid namespace".into())?;
    }
    wait_exec(&ours, pid, &c, &opts.id, "exec process")?;
    if let Some(p) = &opts.pid_file {
        crate::create::write_pid_file(p, pid.as_raw())?;
    }
    if opts.detach {
        return Ok(0);
    }
    let master = match relay {
        Some(sock) => Some(sync::recv_fd(sock.as_fd()).ctx(|| "receive the pty master".into())?),
        None => None,
    };
    let code = crate::supervise::supervise(pid, master.as_ref(), &all)?;
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    Ok(code)
}

/// Until the child (`who`: an exec process, or the init of `run`) execs
/// (EOF) or reports an error (an ERROR message, or the exec trampoline's
/// record of a failed execve); a seccomp notify fd is passed on to the
/// listener on the way.
pub(crate) fn wait_exec(
    chan: &Channel,
    pid: Pid,
    c: &lifecycle::Container,
    id: &str,
    who: &str,
) -> Result<()> {
    loop {
        match chan.recv().ctx(|| format!("read from {who} of {id}"))? {
            None => {
                // EOF: the channel is close-on-exec (the trampoline makes
                // it so again), so execve succeeded (every failure before
                // it sends ERROR or the trampoline's record first). The
                // process is left unreaped: the supervisor collects its
                // status.
                return Ok(());
            }
            // The trampoline's record, written raw (writev) to the seqpacket
            // channel: one message whose first byte, taken as the tag, is
            // the magic's NUL, which no framed message starts with.
            Some((tag, rest)) if tag == crate::trampoline::MAGIC[0] => {
                let msg = match trampoline_record(tag, &rest) {
                    Some(failure) => failure.to_string(),
                    None => format!("malformed exec trampoline record from {who}"),
                };
                let _ = waitpid(pid, None);
                return Err(Error::Init { id: id.into(), msg });
            }
            Some((sync::SECCOMP, _)) => {
                let (fd, _) = onggi_seccomp::recv_fd(chan.as_fd())
                    .ctx(|| "receive the seccomp notify fd".into())?;
                let sc = c
                    .state
                    .config
                    .linux()
                    .as_ref()
                    .and_then(|l| l.seccomp().clone())
                    .unwrap_or_default();
                let json = c.state.oci_state(c.status).to_string();
                let ps = onggi_seccomp::ContainerProcessState {
                    oci_version: crate::spec::OCI_VERSION,
                    pid: pid.as_raw(),
                    metadata: sc.listener_metadata().as_deref(),
                    state_json: json.as_bytes(),
                };
                let path = sc.listener_path().clone().unwrap_or_default();
                onggi_seccomp::send_process_state(&path, fd.as_fd(), &ps).map_err(|e| {
                    Error::Unsupported(format!("seccomp listener {}: {e}", path.display()))
                })?;
            }
            Some((sync::ERROR, msg)) => {
                let _ = waitpid(pid, None);
                return Err(Error::Init {
                    id: id.into(),
                    msg: String::from_utf8_lossy(&msg).into_owned(),
                });
            }
            Some((tag, _)) => {
                return Err(Error::Init {
                    id: id.into(),
                    msg: format!("unexpected message {tag:?} from {who}"),
                })
            }
        }
    }
}

/// The exec trampoline's record of a failed execve, if the message read
/// from the channel as (tag, payload) is one: the record is written raw, so
/// its first byte (the magic's NUL, never a [`sync`] tag) arrives as the
/// tag.
fn trampoline_record(tag: u8, payload: &[u8]) -> Option<crate::trampoline::ExecFailure> {
    let mut rec = Vec::with_capacity(1 + payload.len());
    rec.push(tag);
    rec.extend_from_slice(payload);
    crate::trampoline::decode(&rec)
}

fn child_main(plan: &ExecPlan, chan: &Channel) -> ! {
    let err = match child(plan, chan) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let _ = chan.send(sync::ERROR, err.to_string().as_bytes());
    // SAFETY: _exit is always safe.
    unsafe { libc::_exit(127) }
}

fn child(plan: &ExecPlan, chan: &Channel) -> Result<std::convert::Infallible> {
    // Non-dumpable until execve: see init::run.
    crate::init::set_non_dumpable();
    if let Some(cg) = &plan.cgroup {
        if cg.clone_into_fd().is_none() {
            cg.enter()
                .map_err(|(e, ctrl)| Error::sys(format!("enter cgroup ({ctrl})"), e))?;
        }
    }
    for (t, fd) in &plan.joins {
        nix::sched::setns(fd.as_fd(), namespaces::clone_flag(*t))
            .ctx(|| format!("join {t} namespace"))?;
    }
    if plan.in_userns {
        let root = nix::unistd::Uid::from_raw(0);
        let rootg = nix::unistd::Gid::from_raw(0);
        nix::unistd::setresgid(rootg, rootg, rootg)
            .ctx(|| "setgid 0 in the user namespace".into())?;
        nix::unistd::setresuid(root, root, root).ctx(|| "setuid 0 in the user namespace".into())?;
    }
    if plan.process.terminal {
        let sock = plan
            .console
            .as_ref()
            .ok_or_else(|| Error::Unsupported("terminal without a console socket".into()))?;
        crate::tty::setup(sock.as_fd(), plan.process.console_size, false)?;
    }
    let (exe, env) = crate::init::prepare_exec(
        &plan.process,
        plan.seccomp.as_ref(),
        plan.preserve_fds,
        chan,
    )?;
    process::switch_user(&plan.process, !plan.in_userns)?;
    process::reset_signals();
    if plan.process.no_new_privs {
        process::set_no_new_privs()?;
    }
    crate::init::load_late_seccomp(&plan.process, plan.seccomp.as_ref())?;
    if let Some(memfd) = &plan.trampoline {
        // The trampoline reports a failed execve on the channel.
        return Err(crate::trampoline::exec(
            memfd.as_fd(),
            chan.as_fd(),
            &exe,
            &plan.process.args,
            &env,
        ));
    }
    Err(process::exec(&exe, &plan.process, &env))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trampoline::{encode, ExecFailure, MAGIC};

    #[test]
    fn no_framed_tag_looks_like_a_trampoline_record() {
        for tag in [
            sync::MAPPED,
            sync::CGROUP,
            sync::HOOKS,
            sync::HOOKS_DONE,
            sync::READY,
            sync::SECCOMP,
            sync::ERROR,
        ] {
            assert_ne!(tag, MAGIC[0]);
            assert_eq!(trampoline_record(tag, b"exec \"/x\": no"), None);
        }
    }

    /// As the trampoline writes it (one writev of header and path) on the
    /// seqpacket channel, between framed messages: one message each.
    #[test]
    fn a_raw_record_on_the_channel_is_one_message() {
        let (child, parent) = sync::pair().unwrap();
        child.send(sync::SECCOMP, b"").unwrap();
        let rec = encode(libc::EACCES, b"/bin/not-exec");
        let (head, path) = rec.split_at(MAGIC.len() + 4);
        let iov = [
            libc::iovec {
                iov_base: head.as_ptr() as *mut libc::c_void,
                iov_len: head.len(),
            },
            libc::iovec {
                iov_base: path.as_ptr() as *mut libc::c_void,
                iov_len: path.len(),
            },
        ];
        // SAFETY: writev of two iovecs over live buffers to a socket we own.
        let n = unsafe { libc::writev(child.as_fd().as_raw_fd(), iov.as_ptr(), 2) };
        assert_eq!(n, rec.len() as isize);
        child.send(sync::ERROR, b"after").unwrap();
        drop(child);
        assert_eq!(parent.recv().unwrap(), Some((sync::SECCOMP, Vec::new())));
        let (tag, payload) = parent.recv().unwrap().unwrap();
        assert_eq!(
            trampoline_record(tag, &payload),
            Some(ExecFailure {
                errno: libc::EACCES,
                path: b"/bin/not-exec".to_vec()
            })
        );
        assert_eq!(
            trampoline_record(tag, &payload).unwrap().to_string(),
            "exec \"/bin/not-exec\": Permission denied (os error 13)"
        );
        assert_eq!(
            parent.recv().unwrap(),
            Some((sync::ERROR, b"after".to_vec()))
        );
        assert_eq!(parent.recv().unwrap(), None);
    }
}
