//! run (foreground, detached, exit codes, signal forwarding) and kill
//! (default signal, --all, invalid signals, a created container).
//! Black-box: only the onggi-runtime binary is used.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::*;

// ----------------------------------------------------------------- run

#[test]
fn run_prints_output_and_propagates_exit_code() {
    let ctx = Ctx::new();
    let b = Bundle::sh("echo hello from busybox; echo to-stderr >&2; exit 7");
    let id = ctx.id("run");
    let out = ctx.run(&b, &id);
    assert_eq!(out.code, 7, "{out}");
    assert_eq!(out.stdout, "hello from busybox\n", "{out}");
    assert!(out.stderr.contains("to-stderr"), "{out}");
    ctx.assert_no_leftovers(&id);
    // runc run in the foreground deletes the container: state must fail.
    assert_eq!(ctx.rt(&["state", &id]).code, 1);
}

#[test]
fn run_exit_zero() {
    let ctx = Ctx::new();
    let out = ctx.run_sh("true");
    out.success();
    assert_eq!(out.stdout, "");
}

#[test]
fn run_killed_by_signal_exits_128_plus_n() {
    let ctx = Ctx::new();
    // Without a pid namespace the shell is not an init and can kill itself.
    for (sig, code) in [("KILL", 137), ("USR1", 138), ("TERM", 143)] {
        let mut b = Bundle::sh(&format!("kill -{sig} $$; sleep 5"));
        b.remove_ns("pid");
        let id = ctx.id("sig");
        let out = ctx.run(&b, &id);
        assert_eq!(out.code, code, "killed by SIG{sig}: {out}");
        ctx.assert_no_leftovers(&id);
    }
}

#[test]
fn run_in_foreground_killed_from_outside() {
    let ctx = Ctx::new();
    let b = Bundle::sh("exec sleep 60");
    let id = ctx.id("fgkill");
    let mut cmd = ctx.cmd();
    cmd.arg("run").arg("--bundle").arg(b.path()).arg(&id);
    let handle = std::thread::spawn(move || run_cmd(&mut cmd, CMD_TIMEOUT));
    let deadline = Instant::now() + Duration::from_secs(10);
    while ctx.try_state(&id).is_none_or(|s| s["status"] != "running") {
        assert!(Instant::now() < deadline, "container never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    ctx.rt(&["kill", &id, "KILL"]).success();
    let out = handle.join().expect("run thread");
    assert_eq!(out.code, 137, "{out}");
    ctx.assert_no_leftovers(&id);
}

#[test]
fn run_detached_returns_and_container_keeps_running() {
    let ctx = Ctx::new();
    let b = Bundle::sh("exec sleep 60");
    let id = ctx.id("detach");
    let pidfile = b.path().join("run.pid");
    let t = Instant::now();
    let out = ctx.rt(&[
        "run",
        "-d",
        "--pid-file",
        pidfile.to_str().unwrap(),
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    out.success();
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "run -d did not return quickly"
    );
    let st = ctx.state(&id);
    assert_eq!(st["status"], "running", "{st}");
    let pid = st["pid"].as_i64().unwrap() as i32;
    ctx.track_pid(pid);
    assert!(pid_alive(pid));
    assert_eq!(
        fs::read_to_string(&pidfile).expect("pid file").trim(),
        pid.to_string()
    );
    assert!(
        cmdline(pid).starts_with("sleep 60"),
        "init runs the user process: {}",
        cmdline(pid)
    );
    ctx.rt(&["kill", &id, "KILL"]).success();
    ctx.wait_status(&id, "stopped", Duration::from_secs(10));
    ctx.delete(&id, false).success();
    ctx.assert_no_leftovers(&id);
    assert!(wait_pid_gone(pid, Duration::from_secs(5)));
}

/// `run` without a terminal or a pid file starts the container without
/// the exec fifo (the init goes straight on to its program); `create`
/// keeps the barrier. A program that cannot be run is still reported by
/// `run`, and nothing is left behind.
#[test]
fn run_starts_without_the_barrier_that_create_keeps() {
    let ctx = Ctx::new();
    let b = Bundle::sh("exec sleep 60");
    // Every file made in the state root, seen through inotify: a fifo that
    // `run` made and removed again would show up here.
    fs::create_dir_all(ctx.root_path()).unwrap();
    let made = FilesMade::watch(ctx.root_path());
    let ran = ctx.id("nobarrier");
    let out = ctx.rt(&["run", "-d", "--bundle", b.path().to_str().unwrap(), &ran]);
    out.success();
    let st = ctx.state(&ran);
    assert_eq!(st["status"], "running", "{st}");
    ctx.track_pid(st["pid"].as_i64().unwrap() as i32);
    let names = made.names();
    assert!(names.contains(&format!("{ran}.json")), "{names:?}");
    assert!(
        !names.iter().any(|n| n.ends_with(".fifo")),
        "run made an exec fifo: {names:?}"
    );
    let created = ctx.id("barrier");
    ctx.create(&b, &created).success();
    assert_eq!(ctx.status(&created), "created");
    assert!(made.names().contains(&format!("{created}.fifo")));
    for id in [&ran, &created] {
        ctx.delete(id, true).success();
        ctx.assert_no_leftovers(id);
    }

    let mut missing = Bundle::sh("true");
    missing.edit(|c| c["process"]["args"] = serde_json::json!(["/no/such/program"]));
    let id = ctx.id("noprog");
    let out = ctx.run(&missing, &id);
    assert_ne!(out.code, 0, "{out}");
    assert!(out.stderr.contains("/no/such/program"), "{out}");
    ctx.assert_no_leftovers(&id);
}

/// The names of the files created in a directory from now on (inotify).
struct FilesMade(std::os::fd::OwnedFd);

impl FilesMade {
    fn watch(dir: &std::path::Path) -> FilesMade {
        use std::os::fd::FromRawFd;
        use std::os::unix::ffi::OsStrExt;
        // SAFETY: plain syscalls; the fd is owned from here on.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        assert!(fd >= 0, "inotify_init1");
        // SAFETY: fd was just returned by the kernel.
        let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid fd and C string.
        let w = unsafe { libc::inotify_add_watch(fd, c.as_ptr(), libc::IN_CREATE) };
        assert!(w >= 0, "inotify_add_watch {}", dir.display());
        FilesMade(owned)
    }

    fn names(&self) -> Vec<String> {
        use std::os::fd::AsRawFd;
        let mut names = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            // SAFETY: buf is writable for its length.
            let n = unsafe { libc::read(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                return names;
            }
            let mut off = 0;
            while off < n as usize {
                // SAFETY: the kernel wrote whole inotify_event records.
                let ev = unsafe { &*(buf.as_ptr().add(off) as *const libc::inotify_event) };
                let start = off + std::mem::size_of::<libc::inotify_event>();
                let name = &buf[start..start + ev.len as usize];
                let end = name.iter().position(|b| *b == 0).unwrap_or(name.len());
                names.push(String::from_utf8_lossy(&name[..end]).into_owned());
                off = start + ev.len as usize;
            }
        }
    }
}

// ---------------------------------------------------------------- kill

#[test]
fn kill_accepts_sigkill_kill_and_9() {
    let ctx = Ctx::new();
    for form in ["SIGKILL", "KILL", "9"] {
        let b = Bundle::sh("exec sleep 60");
        let id = ctx.id("kill");
        ctx.create_started(&b, &id);
        ctx.rt(&["kill", &id, form]).success();
        ctx.wait_status(&id, "stopped", Duration::from_secs(10));
        ctx.delete(&id, false).success();
        ctx.assert_no_leftovers(&id);
    }
}

#[test]
fn kill_default_is_sigterm() {
    let ctx = Ctx::new();
    let shared = shared_dir();
    let mut b = Bundle::sh("trap 'echo got-term > /shared/sig; exit 0' TERM; echo ready > /shared/ready; while true; do sleep 0.05; done");
    b.bind(shared.path(), "/shared");
    let id = ctx.id("term");
    ctx.create_started(&b, &id);
    assert!(wait_for_file(
        &shared.path().join("ready"),
        Duration::from_secs(10)
    ));
    ctx.rt(&["kill", &id]).success();
    ctx.wait_status(&id, "stopped", Duration::from_secs(10));
    assert_eq!(
        fs::read_to_string(shared.path().join("sig")).unwrap_or_default(),
        "got-term\n"
    );
}

#[test]
fn kill_all_signals_every_process() {
    let ctx = Ctx::new();
    let shared = shared_dir();
    // The init traps TERM and lives on; its children do not (a trapped
    // signal is reset to default by exec). Without a pid namespace killing
    // the init would leave them: only --all reaches them.
    let mut b = Bundle::sh(
        "trap 'echo term >> /shared/init-got-term' TERM; sleep 61 & echo $! > /shared/c1; sleep 62 & echo $! > /shared/c2; \
         echo ready > /shared/ready; while true; do sleep 0.05; done",
    );
    b.bind(shared.path(), "/shared");
    b.remove_ns("pid");
    let id = ctx.id("all");
    let pid = ctx.create_started(&b, &id);
    assert!(wait_for_file(
        &shared.path().join("ready"),
        Duration::from_secs(10)
    ));
    let children: Vec<i32> = ["c1", "c2"]
        .iter()
        .map(|f| {
            fs::read_to_string(shared.path().join(f))
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        })
        .collect();
    for c in &children {
        ctx.track_pid(*c);
        assert!(pid_alive(*c));
    }
    ctx.rt(&["kill", "--all", &id, "TERM"]).success();
    for c in &children {
        assert!(
            wait_pid_gone(*c, Duration::from_secs(5)),
            "process {c} survived kill --all TERM"
        );
    }
    assert!(
        wait_for_file(&shared.path().join("init-got-term"), Duration::from_secs(5)),
        "the init got no TERM from kill --all"
    );
    assert!(pid_alive(pid), "the init traps TERM and lives on");
    assert_eq!(ctx.status(&id), "running");
    ctx.rt(&["kill", "--all", &id, "KILL"]).success();
    ctx.wait_status(&id, "stopped", Duration::from_secs(10));
    ctx.delete(&id, false).success();
    ctx.assert_no_leftovers(&id);
}

#[test]
fn kill_with_invalid_signal_fails_and_leaves_container_alone() {
    let ctx = Ctx::new();
    let b = Bundle::sh("exec sleep 60");
    let id = ctx.id("badsig");
    let pid = ctx.create_started(&b, &id);
    for bad in ["SIGFOO", "FOO", "0", "99", "RTMAX+1"] {
        let out = ctx.rt(&["kill", &id, bad]);
        out.fails_with(&["signal"]);
        assert!(out.stderr.contains(bad), "the message names {bad:?}: {out}");
    }
    assert!(pid_alive(pid));
    assert_eq!(ctx.status(&id), "running");
}

// -------------------------------------------------------------- extras

#[test]
fn run_forwards_signals_to_the_container() {
    let ctx = Ctx::new();
    let shared = shared_dir();
    let mut b = Bundle::sh("trap 'echo got-term; exit 5' TERM; echo ready > /shared/ready; while true; do sleep 0.05; done");
    b.bind(shared.path(), "/shared");
    let id = ctx.id("fwd");
    let out_dir = tempfile::tempdir().unwrap();
    let mut c = ctx.cmd();
    c.arg("run").arg("--bundle").arg(b.path()).arg(&id);
    c.stdin(std::process::Stdio::null())
        .stdout(fs::File::create(out_dir.path().join("out")).unwrap());
    let mut child = c.spawn().unwrap();
    let ok = wait_for_file(&shared.path().join("ready"), Duration::from_secs(10));
    // SAFETY: signal the runtime process we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(ok, "container never became ready");
    let status = status.expect("run did not exit after SIGTERM was forwarded");
    assert_eq!(status.code(), Some(5), "{status:?}");
    assert_eq!(
        fs::read_to_string(out_dir.path().join("out")).unwrap(),
        "got-term\n"
    );
    ctx.assert_no_leftovers(&id);
}

#[test]
fn kill_a_created_container() {
    let ctx = Ctx::new();
    let b = Bundle::sh("exec sleep 60");
    let id = ctx.id("killcreated");
    ctx.create(&b, &id).success();
    let pid = ctx.pid(&id);
    ctx.rt(&["kill", &id, "KILL"]).success();
    ctx.wait_status(&id, "stopped", Duration::from_secs(10));
    assert!(wait_pid_gone(pid, Duration::from_secs(5)));
    let s = ctx.start(&id);
    assert_eq!(s.code, 1, "start of a stopped container: {s}");
    ctx.delete(&id, false).success();
    ctx.assert_no_leftovers(&id);
}
