//! linux.seccomp applied to real containers: errno, kill, argument
//! filters, no_new_privs off, and SCMP_ACT_NOTIFY with a listener that
//! receives the fd and the container's state and answers.

mod common;

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixListener;

use common::*;
use serde_json::json;

fn with_seccomp(ctx: &Ctx, script: &str, seccomp: serde_json::Value, nnp: bool) -> Out {
    let mut b = Bundle::sh(script);
    b.edit(|c| {
        c["linux"]["seccomp"] = seccomp;
        c["process"]["noNewPrivileges"] = nnp.into();
    });
    let id = ctx.id("sc");
    ctx.run(&b, &id)
}

#[test]
fn denied_syscall_returns_the_configured_errno() {
    let ctx = Ctx::new();
    for nnp in [true, false] {
        let out = with_seccomp(
            &ctx,
            "mkdir /tmp/x 2>&1; echo rc=$?",
            json!({"defaultAction": "SCMP_ACT_ALLOW",
                   "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}),
            nnp,
        );
        out.success();
        assert!(
            out.stdout.contains("Permission denied") && out.stdout.contains("rc=1"),
            "nnp={nnp}: {out:?}"
        );
    }
}

#[test]
fn killed_process_dies_with_sigsys() {
    let ctx = Ctx::new();
    let out = with_seccomp(
        &ctx,
        "exec mkdir /tmp/x",
        json!({"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL_PROCESS"}]}),
        true,
    );
    assert_eq!(out.code, 128 + libc::SIGSYS, "{out:?}");
}

#[test]
fn argument_filter_matches_only_the_given_value() {
    let ctx = Ctx::new();
    // personality(0xffffffff) queries; deny only PER_LINUX32 (8).
    let out = with_seccomp(
        &ctx,
        "linux32 true; echo l32=$?; uname -m >/dev/null; echo plain=$?",
        json!({"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]}),
        true,
    );
    out.success();
    assert!(
        out.stdout.contains("l32=1") && out.stdout.contains("plain=0"),
        "{out:?}"
    );
}

/// The listener gets one connection carrying the container process state
/// (with listenerMetadata) and the notify fd, and answers the container's
/// mkdir with EPERM.
#[test]
fn notify_listener_receives_the_fd_and_answers() {
    let ctx = Ctx::new();
    let dir = shared_dir();
    let sock = dir.path().join("agent.sock");
    let listener = UnixListener::bind(&sock).expect("bind agent socket");
    let agent = std::thread::spawn(move || {
        let (conn, _) = listener.accept().expect("accept");
        let (fd, first) = onggi_seccomp::recv_fd(conn.as_fd()).expect("fd with the message");
        let mut rest = Vec::new();
        (&conn).read_to_end(&mut rest).expect("read");
        let mut bytes = vec![first];
        bytes.extend(rest);
        let doc: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON message");
        // SAFETY: plain data, zeroed as the kernel requires.
        let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: RECV fills one seccomp_notif.
        let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut req) };
        assert_eq!(r, 0, "NOTIF_RECV: {}", std::io::Error::last_os_error());
        // SAFETY: plain data.
        let mut resp: libc::seccomp_notif_resp = unsafe { std::mem::zeroed() };
        resp.id = req.id;
        resp.error = -libc::EPERM;
        // SAFETY: SEND reads one seccomp_notif_resp.
        let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND, &resp) };
        assert_eq!(r, 0, "NOTIF_SEND: {}", std::io::Error::last_os_error());
        doc
    });
    let mut b = Bundle::sh("mkdir /tmp/notified 2>&1; echo rc=$?");
    b.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock.to_str().unwrap(),
            "listenerMetadata": "agent-data",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
        });
    });
    let id = ctx.id("notify");
    let out = ctx.run(&b, &id);
    out.success();
    assert!(out.stdout.contains("rc=1"), "the agent's EPERM: {out:?}");
    let doc = agent.join().expect("agent");
    assert_eq!(doc["fds"], json!(["seccompFd"]), "{doc}");
    assert_eq!(doc["metadata"], "agent-data", "{doc}");
    assert_eq!(doc["state"]["id"], id.as_str(), "{doc}");
    assert!(doc["pid"].as_i64().unwrap_or(0) > 0, "{doc}");
}

/// Docker's default seccomp profile answers clone3 with ENOSYS so that
/// callers fall back to clone(2); so do kernels before 5.3. The runtime
/// must still start containers there (cgroup v1: no CLONE_INTO_CGROUP).
#[test]
fn runtime_falls_back_to_clone_when_clone3_is_refused() {
    use std::os::unix::process::CommandExt;
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        return; // v2 needs clone3's CLONE_INTO_CGROUP: checked there instead
    }
    let spec: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOSYS}]
    }))
    .expect("seccomp json");
    let filter = onggi_seccomp::compile(&spec).expect("compile the clone3 filter");
    let ctx = Ctx::new();
    let b = Bundle::sh("echo in-container");
    let id = ctx.id("c3");
    ctx.track(&id);
    let mut c = ctx.cmd();
    c.arg("run").arg("--bundle").arg(b.path()).arg(&id);
    // SAFETY: between fork and exec only system calls, no allocation: the
    // filter was compiled above.
    unsafe {
        c.pre_exec(move || {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            filter.load().map(|_| ()).map_err(std::io::Error::from)
        });
    }
    let out = run_cmd(&mut c, CMD_TIMEOUT);
    out.success();
    assert!(out.stdout.contains("in-container"), "{out:?}");
    ctx.assert_no_leftovers(&id);
}
