//! `run`: create + start, then (in the foreground) forward signals to the
//! container, relay its terminal, wait for it and delete it, exiting with
//! its status (128+N when killed by signal N), as runc does.

use std::os::fd::AsFd;

use nix::sys::signal::{SigSet, SigmaskHow};

use crate::create::{create, Caller, CreateOptions};
use crate::error::{Result, SysContext};
use crate::lifecycle::{self, Container};
use crate::state::{StateRoot, Status};

/// Returns the exit code for the runtime process.
pub fn run(root: &StateRoot, opts: &CreateOptions, detach: bool) -> Result<i32> {
    // Block signals before the clone: none may be lost between the clone
    // and the forwarding loop. The init resets its mask before execve.
    let all = SigSet::all();
    let mut old = SigSet::empty();
    if !detach {
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&all), Some(&mut old))
            .ctx(|| "block signals".into())?;
    }
    let created = create(
        root,
        opts,
        Caller::Run {
            foreground: !detach,
        },
    );
    let created = match created {
        Ok(c) => c,
        Err(e) => {
            let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
            return Err(e);
        }
    };
    let id = opts.id.clone();
    let crate::create::Created {
        state,
        pid,
        console,
        chan,
    } = created;
    let container = Container {
        state,
        status: Status::Created,
        fifo: root.fifo_path(&id),
    };
    let console = match console {
        // The init sent its pty master over our end of the socketpair.
        Some(sock) => {
            Some(crate::sync::recv_fd(sock.as_fd()).ctx(|| "receive the pty master".into())?)
        }
        None => None,
    };
    if let Some(m) = &console {
        // The window size before the process starts, not after (runc races).
        crate::supervise::copy_winsize(std::io::stdin().as_fd(), m.as_fd());
    }
    let started = match &chan {
        // No barrier: the init goes on to execve by itself.
        Some(chan) => crate::exec::wait_exec(chan, pid, &container, &id, "init"),
        None => lifecycle::release_barrier(&container),
    };
    if let Err(e) = started {
        let _ = lifecycle::delete(root, &id, true);
        return Err(e);
    }
    lifecycle::poststart(&container);
    if detach {
        return Ok(0);
    }
    let code = crate::supervise::supervise(pid, console.as_ref(), &all)?;
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    // The init is gone: remove the container as `runc run` does. The state
    // is the one we wrote (no re-read); a concurrent `delete` may have
    // removed the container already, and then there is nothing to do.
    if root.state_path(&id).exists() {
        lifecycle::destroy(root, &container.state)?;
    }
    Ok(code)
}
