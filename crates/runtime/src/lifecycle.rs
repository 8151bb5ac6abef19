//! The commands after create: start, state, kill, delete, list.

use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::error::{Error, Result, SysContext};
use crate::state::{ContainerState, StateRoot, Status};

/// A loaded container and its current status.
pub struct Container {
    pub state: ContainerState,
    pub status: Status,
    /// `<root>/<id>.fifo`, the start barrier.
    pub fifo: std::path::PathBuf,
}

pub fn load(root: &StateRoot, id: &str) -> Result<Container> {
    let state = root.load(id)?;
    let fifo = root.fifo_path(id);
    let status = state.status(&fifo);
    Ok(Container {
        state,
        status,
        fifo,
    })
}

/// `start`: release the barrier, report the init's error if it failed
/// before execve, then run poststart hooks.
pub fn start(root: &StateRoot, id: &str) -> Result<()> {
    let c = load(root, id)?;
    if c.status != Status::Created {
        return Err(Error::WrongState {
            id: id.into(),
            status: c.status.to_string(),
            what: "only a created container can be started",
        });
    }
    release_barrier(&c)?;
    poststart(&c);
    Ok(())
}

/// poststart hooks, once the process runs; failures are warnings.
pub fn poststart(c: &Container) {
    let hooks = c
        .state
        .config
        .hooks()
        .as_ref()
        .and_then(|h| h.poststart().as_ref());
    if hooks.is_none_or(|h| h.is_empty()) {
        return;
    }
    let_the_process_run(c.state.pid);
    let json = c.state.oci_state(Status::Running).to_string();
    crate::hooks::run_all_warn("poststart", hooks, json.as_bytes());
}

/// CPU time (ns) the process has used, from /proc/PID/schedstat.
fn cpu_time_ns(pid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// poststart hooks run "after the user-specified process is executed".
/// execve returning is not yet the program running: give it the CPU until
/// the kernel shows it has run after its exec (bounded, 10 ms), so hooks
/// observe a process that has started, not one still waiting for a CPU.
fn let_the_process_run(pid: i32) {
    let Some(at_exec) = cpu_time_ns(pid) else {
        return;
    };
    let deadline = Instant::now() + Duration::from_millis(10);
    while Instant::now() < deadline {
        match cpu_time_ns(pid) {
            Some(t) if t > at_exec + 200_000 => return,
            None => return,
            _ => {
                // SAFETY: sched_yield has no arguments.
                unsafe { libc::sched_yield() };
            }
        }
    }
}

/// Open the fifo for reading (which lets the init's open for writing
/// return), then wait for the init to exec (the write end closes with no
/// data) or to report an error (data: the init's message, or the exec
/// trampoline's record of a failed execve).
pub fn release_barrier(c: &Container) -> Result<()> {
    let fifo_path = &c.fifo;
    let fifo = nix::fcntl::open(
        fifo_path.as_path(),
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(|| format!("open {}", fifo_path.display()))?;
    let mut msg = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let mut pfd = libc::pollfd {
            fd: fifo.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, 100) };
        if r < 0 {
            let e = nix::errno::Errno::last();
            if e == nix::errno::Errno::EINTR {
                continue;
            }
            return Err(Error::sys("poll exec fifo", e));
        }
        if r == 0 {
            if !c.state.init_alive() {
                return Err(Error::Init {
                    id: c.state.id.clone(),
                    msg: "init exited before start".into(),
                });
            }
            continue;
        }
        match nix::unistd::read(fifo.as_fd(), &mut buf) {
            Ok(0) => break,
            Ok(n) => msg.extend_from_slice(&buf[..n]),
            Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => {
                if pfd.revents & libc::POLLHUP != 0 {
                    break;
                }
            }
            Err(e) => return Err(Error::sys("read exec fifo", e)),
        }
    }
    // The fifo's removal marks the container as started. Not earlier: the
    // init may not have opened it yet.
    std::fs::remove_file(fifo_path).map_err(|e| Error::io(fifo_path, e))?;
    if !msg.is_empty() {
        // The exec trampoline's record of a failed execve, or the init's text.
        let msg = match crate::trampoline::decode(&msg) {
            Some(failure) => failure.to_string(),
            None => String::from_utf8_lossy(&msg).into_owned(),
        };
        return Err(Error::Init {
            id: c.state.id.clone(),
            msg,
        });
    }
    Ok(())
}

/// `state`: the spec's state JSON.
pub fn state_json(root: &StateRoot, id: &str) -> Result<serde_json::Value> {
    let c = load(root, id)?;
    Ok(c.state.oci_state(c.status))
}

/// `kill [--all] ID SIGNAL`.
pub fn kill(root: &StateRoot, id: &str, signal: i32, all: bool) -> Result<()> {
    let c = load(root, id)?;
    // As runc: `kill --all` of a stopped container signals whatever is left
    // in its cgroup and succeeds; a plain kill fails with runc's words,
    // which containerd's shim recognises as "already finished".
    if c.status == Status::Stopped && !all {
        return Err(Error::WrongState {
            id: id.into(),
            status: c.status.to_string(),
            what: "container not running",
        });
    }
    let send = |pid: i32| -> nix::Result<()> {
        // SAFETY: kill(2) with a pid and any signal number (real-time ones
        // have no nix::Signal variant).
        if unsafe { libc::kill(pid, signal) } != 0 {
            return Err(nix::errno::Errno::last());
        }
        Ok(())
    };
    if all {
        if let Some(cg) = &c.state.cgroup {
            for pid in cg.pids()? {
                match send(pid) {
                    Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                    Err(e) => return Err(Error::sys(format!("kill {pid} of {id}"), e)),
                }
            }
            return Ok(());
        }
    }
    if c.status == Status::Stopped {
        return Ok(());
    }
    send(c.state.pid).ctx(|| format!("kill {} of container {id}", c.state.pid))
}

/// Wait until the init is gone (it is not our child: poll /proc).
fn wait_gone(state: &ContainerState, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut nap = Duration::from_micros(100);
    while state.init_alive() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(10));
    }
    true
}

/// `delete [--force]`: only a stopped container, unless forced; kills,
/// removes the cgroup, runs poststop hooks, removes the state.
pub fn delete(root: &StateRoot, id: &str, force: bool) -> Result<()> {
    let c = match load(root, id) {
        Ok(c) => c,
        // As runc: forcing the delete of an unknown container succeeds (a
        // shim cleaning up may race with another delete); the empty state
        // file of a create that died half-way is removed.
        Err(Error::NotFound(_)) if force => return root.remove(id),
        Err(e) => return Err(e),
    };
    if c.status != Status::Stopped {
        if !force {
            return Err(Error::WrongState {
                id: id.into(),
                status: c.status.to_string(),
                what: "only a stopped container can be deleted (use --force)",
            });
        }
        kill_everything(&c)?;
    }
    destroy(root, &c.state)
}

fn kill_everything(c: &Container) -> Result<()> {
    if let Some(cg) = &c.state.cgroup {
        if c.status == Status::Paused {
            // A frozen task cannot die until thawed.
            let _ = cg.thaw();
        }
        // Without a pid namespace, killing the init leaves its children:
        // kill everything in the cgroup.
        for pid in cg.pids().unwrap_or_default() {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
    let _ = nix::sys::signal::kill(Pid::from_raw(c.state.pid), Signal::SIGKILL);
    if !wait_gone(&c.state, Duration::from_secs(10)) {
        return Err(Error::WrongState {
            id: c.state.id.clone(),
            status: "running".into(),
            what: "init did not die within 10s of SIGKILL",
        });
    }
    Ok(())
}

/// Remove what create made and run poststop hooks (failures are warnings).
pub fn destroy(root: &StateRoot, state: &ContainerState) -> Result<()> {
    if let Some(cg) = &state.cgroup {
        cg.destroy()?;
    }
    let json = state.oci_state(Status::Stopped).to_string();
    crate::hooks::run_all_warn(
        "poststop",
        state
            .config
            .hooks()
            .as_ref()
            .and_then(|h| h.poststop().as_ref()),
        json.as_bytes(),
    );
    root.remove(&state.id)
}

/// One row of `list`.
#[derive(Debug, serde::Serialize)]
pub struct ListEntry {
    pub id: String,
    pub pid: i32,
    pub status: Status,
    pub bundle: std::path::PathBuf,
    pub created: String,
    pub owner: String,
    pub annotations: std::collections::HashMap<String, String>,
}

pub fn list(root: &StateRoot) -> Result<Vec<ListEntry>> {
    let mut out = Vec::new();
    for id in root.list()? {
        // A container deleted meanwhile is simply not listed.
        let Ok(c) = load(root, &id) else { continue };
        out.push(ListEntry {
            pid: if c.status == Status::Stopped {
                0
            } else {
                c.state.pid
            },
            id,
            status: c.status,
            bundle: c.state.bundle,
            created: c.state.created,
            owner: c.state.owner,
            annotations: c.state.annotations,
        });
    }
    Ok(out)
}

/// The state directory default: /run/onggi as root, else under
/// $XDG_RUNTIME_DIR as runc does for rootless use.
pub fn default_root() -> std::path::PathBuf {
    if nix::unistd::geteuid().is_root() {
        return "/run/onggi".into();
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => Path::new(&d).join("onggi"),
        _ => std::env::temp_dir().join(format!("onggi-{}", nix::unistd::geteuid())),
    }
}
