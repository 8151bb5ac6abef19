//! The lifecycle commands: create, start, state and delete; and a
//! container's life seen from outside (its init killed, the bundle taken
//! from the cwd, a terminal over a console socket). Black-box: only the
//! onggi-runtime binary is used.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

// -------------------------------------------------------- create/start

#[test]
fn create_waits_then_start_runs_the_process() {
    let ctx = Ctx::new();
    let shared = shared_dir();
    let mut b = Bundle::sh("echo started > /shared/marker; exec sleep 60");
    b.bind(shared.path(), "/shared");
    let id = ctx.id("create");
    let pidfile = b.path().join("init.pid");
    let t = Instant::now();
    ctx.rt(&[
        "create",
        "--pid-file",
        pidfile.to_str().unwrap(),
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ])
    .success();
    assert!(t.elapsed() < Duration::from_secs(10));
    let st = ctx.state(&id);
    assert_eq!(st["status"], "created", "{st}");
    let pid = st["pid"].as_i64().unwrap() as i32;
    ctx.track_pid(pid);
    assert!(
        pid > 0 && pid_alive(pid),
        "init {pid} must be alive after create"
    );
    assert_eq!(
        fs::read_to_string(&pidfile)
            .expect("--pid-file written")
            .trim(),
        pid.to_string()
    );
    // Still waiting: the user process has not run.
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !shared.path().join("marker").exists(),
        "the process ran before start"
    );
    assert!(
        !cmdline(pid).starts_with("sleep"),
        "init already exec'd: {}",
        cmdline(pid)
    );
    assert_eq!(ctx.status(&id), "created");

    ctx.start(&id).success();
    // The shell creates the file before it writes: wait for the content.
    let marker = wait_for_content(
        &shared.path().join("marker"),
        Duration::from_secs(10),
        |s| s.ends_with('\n'),
    );
    assert_eq!(marker, "started\n", "process did not run after start");
    assert_eq!(ctx.status(&id), "running");
    assert_eq!(ctx.pid(&id), pid, "the init pid does not change at start");
    // A second start is refused.
    let again = ctx.start(&id);
    assert_eq!(again.code, 1, "{again}");
    ctx.delete(&id, true).success();
    ctx.assert_no_leftovers(&id);
    assert!(wait_pid_gone(pid, Duration::from_secs(5)));
}

#[test]
fn state_reports_spec_fields() {
    let ctx = Ctx::new();
    let mut b = Bundle::sh("exec sleep 60");
    b.edit(|c| c["annotations"] = json!({"org.example.key": "value", "other": "2"}));
    let id = ctx.id("state");
    ctx.create(&b, &id).success();
    let st = ctx.state(&id);
    assert_eq!(st["ociVersion"], "1.3.0", "{st}");
    assert_eq!(st["id"], id.as_str());
    assert_eq!(st["status"], "created");
    assert!(st["pid"].as_i64().is_some_and(|p| p > 0), "{st}");
    let bundle = fs::canonicalize(b.path()).unwrap();
    assert_eq!(
        st["bundle"].as_str().map(|s| fs::canonicalize(s).unwrap()),
        Some(bundle),
        "{st}"
    );
    assert_eq!(
        st["annotations"],
        json!({"org.example.key": "value", "other": "2"})
    );
    ctx.start(&id).success();
    assert_eq!(ctx.status(&id), "running");
    ctx.rt(&["kill", &id, "KILL"]).success();
    ctx.wait_status(&id, "stopped", Duration::from_secs(10));
    let st = ctx.state(&id);
    assert_eq!(st["id"], id.as_str());
    ctx.delete(&id, false).success();
    ctx.assert_no_leftovers(&id);
}

#[test]
fn state_of_a_process_that_exited_is_stopped() {
    let ctx = Ctx::new();
    let b = Bundle::sh("exit 0");
    let id = ctx.id("exited");
    ctx.create(&b, &id).success();
    ctx.start(&id).success();
    ctx.wait_status(&id, "stopped", Duration::from_secs(10));
    // kill of a stopped container fails, as runc's does.
    let k = ctx.rt(&["kill", &id, "KILL"]);
    assert_eq!(k.code, 1, "{k}");
    ctx.delete(&id, false).success();
    ctx.assert_no_leftovers(&id);
}

// -------------------------------------------------------------- delete

#[test]
fn delete_created_needs_force() {
    let ctx = Ctx::new();
    let b = Bundle::sh("exec sleep 60");
    let id = ctx.id("delcreated");
    ctx.create(&b, &id).success();
    let pid = ctx.pid(&id);
    let out = ctx.delete(&id, false);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains(&id), "{out}");
    assert_eq!(
        ctx.status(&id),
        "created",
        "a refused delete must leave the container"
    );
    assert!(pid_alive(pid));
    ctx.delete(&id, true).success();
    ctx.assert_no_leftovers(&id);
    assert!(
        wait_pid_gone(pid, Duration::from_secs(5)),
        "init {pid} survived delete --force"
    );
    assert_eq!(ctx.rt(&["state", &id]).code, 1);
}

#[test]
fn delete_running_needs_force() {
    let ctx = Ctx::new();
    let b = Bundle::sh("exec sleep 60");
    let id = ctx.id("delrunning");
    let pid = ctx.create_started(&b, &id);
    let out = ctx.delete(&id, false);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("running"), "{out}");
    assert!(pid_alive(pid));
    ctx.delete(&id, true).success();
    ctx.assert_no_leftovers(&id);
    assert!(wait_pid_gone(pid, Duration::from_secs(5)));
}

#[test]
fn delete_force_kills_children_without_pid_namespace() {
    let ctx = Ctx::new();
    let shared = shared_dir();
    let mut b = Bundle::sh("sleep 63 & echo $! > /shared/child; exec sleep 60");
    b.bind(shared.path(), "/shared");
    b.remove_ns("pid");
    let id = ctx.id("delchildren");
    let pid = ctx.create_started(&b, &id);
    assert!(wait_for_file(
        &shared.path().join("child"),
        Duration::from_secs(10)
    ));
    std::thread::sleep(Duration::from_millis(50));
    let child: i32 = fs::read_to_string(shared.path().join("child"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    ctx.track_pid(child);
    ctx.delete(&id, true).success();
    assert!(wait_pid_gone(pid, Duration::from_secs(5)));
    assert!(
        wait_pid_gone(child, Duration::from_secs(5)),
        "a child of the init survived delete --force"
    );
    ctx.assert_no_leftovers(&id);
}

#[test]
fn delete_stopped_without_force() {
    let ctx = Ctx::new();
    let b = Bundle::sh("exec sleep 60");
    let id = ctx.id("delstopped");
    ctx.create_started(&b, &id);
    ctx.rt(&["kill", &id, "KILL"]).success();
    ctx.wait_status(&id, "stopped", Duration::from_secs(10));
    ctx.delete(&id, false).success();
    ctx.assert_no_leftovers(&id);
    let ls = ctx.rt(&["list", "-q"]);
    ls.success();
    assert!(!ls.stdout.contains(&id), "{ls}");
}

// -------------------------------------------------------------- extras

#[test]
fn init_killed_from_outside_reads_as_stopped() {
    let ctx = Ctx::new();
    let b = Bundle::sh("exec sleep 60");
    let id = ctx.id("extkill");
    let pid = ctx.create_started(&b, &id);
    // SAFETY: kill the init this test started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    ctx.wait_status(&id, "stopped", Duration::from_secs(10));
    ctx.delete(&id, false).success();
    ctx.assert_no_leftovers(&id);
}

#[test]
fn bundle_defaults_to_cwd_and_relative_pid_file() {
    let ctx = Ctx::new();
    let b = Bundle::sh("exec sleep 60");
    let id = ctx.id("cwdbundle");
    let mut c = ctx.cmd();
    c.arg("create")
        .arg("--pid-file")
        .arg("rel.pid")
        .arg(&id)
        .current_dir(b.path());
    run_cmd(&mut c, CMD_TIMEOUT).success();
    let st = ctx.state(&id);
    ctx.track_pid(st["pid"].as_i64().unwrap() as i32);
    assert_eq!(
        fs::canonicalize(st["bundle"].as_str().unwrap()).unwrap(),
        fs::canonicalize(b.path()).unwrap()
    );
    assert_eq!(
        fs::read_to_string(b.path().join("rel.pid"))
            .expect("relative pid file in cwd")
            .trim(),
        st["pid"].to_string()
    );
}

#[test]
fn terminal_with_console_socket() {
    let ctx = Ctx::new();
    let mut b = Bundle::sh("test -t 0 && test -t 1 && echo is-a-tty; echo hello-tty; sleep 0.2");
    b.edit(|c| c["process"]["terminal"] = json!(true));
    let sockdir = tempfile::tempdir().unwrap();
    let sock = sockdir.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let receiver = std::thread::spawn(move || {
        let (conn, _) = listener.accept().ok()?;
        recv_scm_fd(&conn)
    });
    let id = ctx.id("tty");
    let out = ctx.rt(&[
        "create",
        "--console-socket",
        sock.to_str().unwrap(),
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    out.success();
    ctx.track_pid(ctx.pid(&id));
    let master = receiver
        .join()
        .unwrap()
        .expect("the pty master was sent over the console socket");
    let mut master = fs::File::from(master);
    ctx.start(&id).success();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            match std::io::Read::read(&mut master, &mut buf) {
                Ok(0) | Err(_) => break, // EIO when the last slave closes
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&all).into_owned()
    });
    ctx.wait_status(&id, "stopped", Duration::from_secs(10));
    let text = reader.join().unwrap();
    assert!(
        text.contains("is-a-tty") && text.contains("hello-tty"),
        "{text:?}"
    );
    ctx.delete(&id, false).success();
    ctx.assert_no_leftovers(&id);
}
