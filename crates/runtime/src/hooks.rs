//! OCI hooks: a program run with the container's state JSON on stdin, its
//! own args and env, and an optional timeout.

use std::io::{Read, Seek, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};

use oci_spec::runtime::Hook;

use crate::error::{Error, Result};

/// Run hooks in order; the first failure stops the rest.
pub fn run_all(kind: &'static str, hooks: Option<&Vec<Hook>>, state_json: &[u8]) -> Result<()> {
    for hook in hooks.into_iter().flatten() {
        run(kind, hook, state_json)?;
    }
    Ok(())
}

/// Run hooks in order, turning failures into warnings (poststart, poststop).
pub fn run_all_warn(kind: &'static str, hooks: Option<&Vec<Hook>>, state_json: &[u8]) {
    for hook in hooks.into_iter().flatten() {
        if let Err(e) = run(kind, hook, state_json) {
            crate::log::warn(&format!("{e}"));
        }
    }
}

fn memfd(name: &str) -> Result<std::fs::File> {
    let cname = std::ffi::CString::new(name).unwrap_or_default();
    // SAFETY: cname is a valid C string; the returned fd is checked below.
    let fd = unsafe { libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(Error::sys(
            "memfd_create for hook output",
            nix::errno::Errno::last(),
        ));
    }
    // SAFETY: fd is a new descriptor we own.
    Ok(std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

pub fn run(kind: &'static str, hook: &Hook, state_json: &[u8]) -> Result<()> {
    let path = hook.path();
    let fail = |msg: String| Error::Hook {
        hook: kind,
        path: path.clone(),
        msg,
    };
    let mut cmd = Command::new(path);
    if let Some(args) = hook.args() {
        if let Some((first, rest)) = args.split_first() {
            cmd.arg0(first).args(rest);
        }
    }
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    // Output goes to a memfd so it can be shown in the error and the hook
    // never blocks on a full pipe while we wait for it.
    let mut out = memfd("onggi-hook-output")?;
    let out2 = out
        .try_clone()
        .map_err(|e| fail(format!("dup output: {e}")))?;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::from(
            out2.try_clone().map_err(|e| fail(e.to_string()))?,
        ))
        .stderr(Stdio::from(out2));
    let mut child = cmd
        .spawn()
        .map_err(|e| fail(format!("cannot start: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine: ignore EPIPE.
        let _ = stdin.write_all(state_json);
    }
    let status = match hook.timeout() {
        None => child.wait().map_err(|e| fail(format!("wait: {e}")))?,
        Some(secs) => wait_timeout(&mut child, secs as u64)
            .map_err(|e| fail(format!("wait: {e}")))?
            .ok_or_else(|| {
                let _ = child.kill();
                let _ = child.wait();
                fail(format!("timed out after {secs}s"))
            })?,
    };
    if status.success() {
        return Ok(());
    }
    let mut text = String::new();
    let _ = out.rewind();
    let _ = Read::by_ref(&mut out).take(4096).read_to_string(&mut text);
    let how = match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (_, Some(s)) => format!("killed by signal {s}"),
        _ => "failed".to_string(),
    };
    let text = text.trim();
    Err(fail(if text.is_empty() {
        how
    } else {
        format!("{how}: {text}")
    }))
}

/// Wait up to `secs` for the child; None on timeout.
fn wait_timeout(
    child: &mut std::process::Child,
    secs: u64,
) -> std::io::Result<Option<std::process::ExitStatus>> {
    // SAFETY: pidfd_open takes a pid and flags; the fd is checked.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id() as libc::pid_t, 0) } as i32;
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a new descriptor we own.
    let pidfd = unsafe { OwnedFd::from_raw_fd(fd) };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return child.try_wait();
        }
        let mut pfd = libc::pollfd {
            fd: pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, ms.max(1)) };
        if r < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return Err(std::io::Error::last_os_error());
        }
        if r > 0 {
            return child.wait().map(Some);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(v: serde_json::Value) -> Hook {
        serde_json::from_value(v).expect("hook")
    }

    #[test]
    fn passes_state_on_stdin_and_env() {
        let dir = tempfile::tempdir().expect("tmp");
        let out = dir.path().join("out");
        let h = hook(serde_json::json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("cat > {}; echo \"$FOO\" >> {}", out.display(), out.display())],
            "env": ["FOO=bar"]
        }));
        run("prestart", &h, b"{\"id\":\"x\"}").expect("hook runs");
        let got = std::fs::read_to_string(&out).expect("out");
        assert_eq!(got, "{\"id\":\"x\"}bar\n");
    }

    #[test]
    fn failure_and_timeout_are_errors_with_output() {
        let h = hook(
            serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", "echo oops >&2; exit 3"]}),
        );
        let e = run("createRuntime", &h, b"{}")
            .expect_err("fails")
            .to_string();
        assert!(
            e.contains("exit status 3") && e.contains("oops") && e.contains("createRuntime"),
            "{e}"
        );
        let h =
            hook(serde_json::json!({"path": "/bin/sleep", "args": ["sleep", "5"], "timeout": 1}));
        let t = std::time::Instant::now();
        let e = run("poststart", &h, b"{}")
            .expect_err("times out")
            .to_string();
        assert!(e.contains("timed out"), "{e}");
        assert!(t.elapsed() < std::time::Duration::from_secs(4));
        let h = hook(serde_json::json!({"path": "/nonexistent/hook"}));
        assert!(run("poststop", &h, b"{}").is_err());
    }
}
