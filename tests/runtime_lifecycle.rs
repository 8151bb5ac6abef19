//! The commands: run, create, start, state, kill, delete, list, spec,
//! features, and --log. Black-box: only the onggi-runtime binary is used.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

fn cmdline(pid: i32) -> String {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

fn wait_file(path: &std::path::Path, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    path.exists()
}

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
    assert!(wait_file(
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
    assert!(wait_file(
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
        wait_file(&shared.path().join("init-got-term"), Duration::from_secs(5)),
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
    assert!(wait_file(
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

// ---------------------------------------------------------------- list

#[test]
fn list_table_json_and_quiet() {
    let ctx = Ctx::new();
    let b1 = Bundle::sh("exec sleep 60");
    let b2 = Bundle::sh("exec sleep 60");
    let created = ctx.id("lista");
    let running = ctx.id("listb");
    ctx.create(&b1, &created).success();
    let rpid = ctx.create_started(&b2, &running);

    let q = ctx.rt(&["list", "-q"]);
    q.success();
    let mut ids: Vec<&str> = q.lines();
    ids.sort();
    let mut want = vec![created.as_str(), running.as_str()];
    want.sort();
    assert_eq!(ids, want, "{q}");

    let t = ctx.rt(&["list"]);
    t.success();
    let lines = t.lines();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
        "{t}"
    );
    assert_eq!(lines.len(), 3, "{t}");
    let row = |id: &str| {
        lines
            .iter()
            .find(|l| l.split_whitespace().next() == Some(id))
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
    };
    let r = row(&running).unwrap_or_else(|| panic!("no row for {running}: {t}"));
    assert_eq!(r[1], rpid.to_string());
    assert_eq!(r[2], "running");
    assert_eq!(
        fs::canonicalize(r[3]).ok(),
        fs::canonicalize(b2.path()).ok(),
        "{t}"
    );
    let c = row(&created).unwrap_or_else(|| panic!("no row for {created}: {t}"));
    assert_eq!(c[2], "created");

    let j = ctx.rt(&["list", "--format", "json"]);
    j.success();
    let v = j.json();
    let arr = v
        .as_array()
        .unwrap_or_else(|| panic!("list json is an array: {j}"));
    assert_eq!(arr.len(), 2);
    let e = arr
        .iter()
        .find(|e| e["id"] == running.as_str())
        .expect("running entry");
    assert_eq!(e["status"], "running");
    assert_eq!(e["pid"], rpid);
    for k in ["id", "pid", "status", "bundle", "created", "owner"] {
        assert!(e.get(k).is_some(), "list json entry lacks {k}: {e}");
    }
    // The created timestamp is RFC 3339.
    let created_at = e["created"].as_str().unwrap_or("");
    assert!(
        created_at.len() >= 20 && created_at.as_bytes()[4] == b'-' && created_at.contains('T'),
        "{created_at}"
    );

    let bad = ctx.rt(&["list", "--format", "yaml"]);
    bad.fails_with(&["format"]);
}

#[test]
fn list_empty_root() {
    let ctx = Ctx::new();
    let j = ctx.rt(&["list", "--format", "json"]);
    j.success();
    // runc prints "null" for no containers; an empty array is fine too.
    let v = j.json();
    assert!(
        v.is_null() || v.as_array().is_some_and(|a| a.is_empty()),
        "{j}"
    );
    let q = ctx.rt(&["list", "-q"]);
    q.success();
    assert_eq!(q.stdout, "");
}

// ---------------------------------------------------------------- spec

fn spec_in(dir: &std::path::Path, extra: &[&str]) -> Out {
    let mut c = std::process::Command::new(runtime());
    c.arg("spec").args(extra).current_dir(dir);
    run_cmd(&mut c, CMD_TIMEOUT)
}

fn runc_spec(extra: &[&str]) -> Value {
    let d = tempfile::tempdir().unwrap();
    let mut c = std::process::Command::new(RUNC);
    c.arg("spec").args(extra).current_dir(d.path());
    run_cmd(&mut c, CMD_TIMEOUT).success();
    serde_json::from_slice(&fs::read(d.path().join("config.json")).unwrap()).unwrap()
}

#[test]
fn spec_writes_a_default_config_like_runcs() {
    let d = tempfile::tempdir().unwrap();
    let out = spec_in(d.path(), &[]);
    out.success();
    let v: Value = serde_json::from_slice(
        &fs::read(d.path().join("config.json")).expect("config.json written"),
    )
    .expect("JSON");
    let r = runc_spec(&[]);
    assert_eq!(v["ociVersion"], "1.3.0");
    assert_eq!(v["process"]["terminal"], true);
    assert_eq!(v["process"]["args"], json!(["sh"]));
    assert_eq!(v["root"], r["root"]);
    for key in [
        "user",
        "env",
        "cwd",
        "capabilities",
        "rlimits",
        "noNewPrivileges",
    ] {
        assert_eq!(v["process"][key], r["process"][key], "process.{key}");
    }
    assert_eq!(v["mounts"], r["mounts"]);
    assert_eq!(v["linux"]["maskedPaths"], r["linux"]["maskedPaths"]);
    assert_eq!(v["linux"]["readonlyPaths"], r["linux"]["readonlyPaths"]);
    assert_eq!(v["linux"]["resources"], r["linux"]["resources"]);
    let ns = |c: &Value| {
        let mut n: Vec<String> = c["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap().to_string())
            .collect();
        n.sort();
        n
    };
    let mut want = ns(&r);
    want.push("cgroup".into()); // runc >= 1.2 adds the cgroup namespace
    want.sort();
    want.dedup();
    assert_eq!(ns(&v), want);
    // The config is usable as is (after switching the terminal off).
    let ctx = Ctx::new();
    make_rootfs(&d.path().join("rootfs"));
    let mut v2 = v.clone();
    v2["process"]["terminal"] = json!(false);
    v2["process"]["args"] = json!(["echo", "spec-ok"]);
    fs::write(d.path().join("config.json"), v2.to_string()).unwrap();
    let id = ctx.id("spec");
    let mut c = ctx.cmd();
    c.arg("run").arg("--bundle").arg(d.path()).arg(&id);
    let o = run_cmd(&mut c, CMD_TIMEOUT);
    o.success();
    assert_eq!(o.stdout, "spec-ok\n");
}

#[test]
fn spec_bundle_flag_and_refuses_to_overwrite() {
    let d = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let mut c = std::process::Command::new(runtime());
    c.arg("spec")
        .arg("--bundle")
        .arg(d.path())
        .current_dir(elsewhere.path());
    run_cmd(&mut c, CMD_TIMEOUT).success();
    assert!(d.path().join("config.json").exists());
    assert!(!elsewhere.path().join("config.json").exists());
    fs::write(d.path().join("config.json"), "{\"mine\": true}").unwrap();
    let again = spec_in(d.path(), &[]);
    again.fails_with(&["config.json"]);
    assert_eq!(
        fs::read_to_string(d.path().join("config.json")).unwrap(),
        "{\"mine\": true}",
        "overwritten"
    );
}

#[test]
fn spec_rootless_adds_user_namespace_and_mappings() {
    let d = tempfile::tempdir().unwrap();
    spec_in(d.path(), &["--rootless"]).success();
    let v: Value =
        serde_json::from_slice(&fs::read(d.path().join("config.json")).unwrap()).unwrap();
    let ns: Vec<&str> = v["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    assert!(ns.contains(&"user"), "{ns:?}");
    assert!(
        !ns.contains(&"network"),
        "rootless keeps the host network as runc: {ns:?}"
    );
    // SAFETY: getuid/getgid cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    assert_eq!(
        v["linux"]["uidMappings"],
        json!([{"containerID": 0, "hostID": uid, "size": 1}])
    );
    assert_eq!(
        v["linux"]["gidMappings"],
        json!([{"containerID": 0, "hostID": gid, "size": 1}])
    );
    let r = runc_spec(&["--rootless"]);
    assert_eq!(v["linux"]["uidMappings"], r["linux"]["uidMappings"]);
    assert!(v["linux"].get("resources").is_none());
}

// ------------------------------------------------------------ features

#[test]
fn features_reports_versions_namespaces_caps_hooks() {
    let out = run_cmd(
        std::process::Command::new(runtime()).arg("features"),
        CMD_TIMEOUT,
    );
    out.success();
    let f = out.json();
    assert_eq!(f["ociVersionMin"], "1.0.0");
    assert_eq!(f["ociVersionMax"], "1.3.0");
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap_or(&vec![])
            .iter()
            .filter_map(|s| s.as_str().map(String::from))
            .collect()
    };
    let ns = list(&f["linux"]["namespaces"]);
    for n in [
        "cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts",
    ] {
        assert!(ns.iter().any(|x| x == n), "namespace {n} missing: {ns:?}");
    }
    let caps = list(&f["linux"]["capabilities"]);
    for c in [
        "CAP_CHOWN",
        "CAP_SYS_ADMIN",
        "CAP_NET_BIND_SERVICE",
        "CAP_CHECKPOINT_RESTORE",
        "CAP_BPF",
        "CAP_PERFMON",
    ] {
        assert!(
            caps.iter().any(|x| x == c),
            "capability {c} missing: {caps:?}"
        );
    }
    assert!(
        caps.iter().all(|c| cap_number(c).is_some()),
        "unknown names in {caps:?}"
    );
    let hooks = list(&f["hooks"]);
    for h in [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ] {
        assert!(hooks.iter().any(|x| x == h), "hook {h} missing: {hooks:?}");
    }
    let opts = list(&f["mountOptions"]);
    for o in ["bind", "rbind", "ro", "nosuid", "rprivate"] {
        assert!(opts.iter().any(|x| x == o), "mount option {o} missing");
    }
}

// ----------------------------------------------------------------- log

#[test]
fn log_json_writes_level_msg_time_on_error() {
    let ctx = Ctx::new();
    let log = ctx
        .root_path()
        .join("..")
        .join(format!("onggi-rt-log-{}.json", std::process::id()));
    let log = tempfile::NamedTempFile::new()
        .map(|f| f.into_temp_path())
        .unwrap_or_else(|_| panic!("{}", log.display()));
    let _ = fs::remove_file(&log);
    let id = "no-such-container-for-log";
    let mut c = ctx.cmd();
    c.arg("--log")
        .arg(&log)
        .arg("--log-format")
        .arg("json")
        .arg("state")
        .arg(id);
    let out = run_cmd(&mut c, CMD_TIMEOUT);
    assert_eq!(out.code, 1, "{out}");
    let text = fs::read_to_string(&log).expect("log file written");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    assert!(!lines.is_empty());
    let e = lines
        .iter()
        .find(|l| l["level"] == "error")
        .unwrap_or_else(|| panic!("no error line: {text}"));
    assert!(e["msg"].as_str().is_some_and(|m| m.contains(id)), "{e}");
    let t = e["time"].as_str().unwrap_or("");
    assert!(t.len() >= 20 && t.contains('T'), "time is RFC 3339: {e}");
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
    let ok = wait_file(&shared.path().join("ready"), Duration::from_secs(10));
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

/// Receive one fd over a unix stream (SCM_RIGHTS).
fn recv_fd(sock: &std::os::unix::net::UnixStream) -> Option<i32> {
    use std::os::fd::AsRawFd;
    let mut data = [0u8; 256];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    let mut cbuf = [0u64; 16];
    // SAFETY: msghdr with valid buffers; CMSG macros on that buffer.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
        if libc::recvmsg(sock.as_raw_fd(), &mut msg, 0) < 0 {
            return None;
        }
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null() || (*cmsg).cmsg_type != libc::SCM_RIGHTS {
            return None;
        }
        Some(std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const i32))
    }
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
        recv_fd(&conn)
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
    // SAFETY: we own the received fd.
    let mut master = unsafe { <fs::File as std::os::fd::FromRawFd>::from_raw_fd(master) };
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
