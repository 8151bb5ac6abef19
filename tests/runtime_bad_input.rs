//! Bad input: every refused command exits with status 1, says what is
//! wrong on stderr, and leaves nothing behind (no state file under --root,
//! no cgroup dir, no process).

mod common;

use std::fs;
use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::json;

/// Processes whose command line mentions `needle` (e.g. a bundle path:
/// a container init keeps the runtime's argv until it execs).
fn procs_mentioning(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut found = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(cmd) = fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmd).contains(needle) && pid_alive(pid) {
            found.push(pid);
        }
    }
    found
}

/// `create` and `run` of `b` must both fail with status 1 and a message
/// containing `words`, and leave nothing behind.
#[track_caller]
fn refused(b: &Bundle, words: &[&str]) {
    let ctx = Ctx::new();
    for cmd in ["create", "run"] {
        let id = ctx.id(cmd);
        let mut c = ctx.cmd();
        c.arg(cmd).arg("--bundle").arg(b.path()).arg(&id);
        let out = run_cmd(&mut c, CMD_TIMEOUT);
        out.fails_with(words);
        assert!(
            out.stderr.len() < 4000,
            "a short message, not a panic: {out}"
        );
        assert!(!out.stderr.contains("panicked"), "{out}");
        nothing_left(&ctx, &id, b.path());
    }
}

#[track_caller]
fn nothing_left(ctx: &Ctx, id: &str, bundle: &Path) {
    ctx.assert_no_leftovers(id);
    let entries: Vec<_> = fs::read_dir(ctx.root_path())
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(entries.is_empty(), "state root not empty: {entries:?}");
    let procs = procs_mentioning(&bundle.to_string_lossy());
    assert!(procs.is_empty(), "processes left for {id}: {procs:?}");
    let st = ctx.rt(&["state", id]);
    assert_eq!(st.code, 1, "{st}");
}

#[test]
fn missing_config_json() {
    let b = Bundle::new();
    fs::remove_file(b.config_path()).unwrap();
    refused(&b, &["config.json"]);
}

#[test]
fn unparseable_config_json() {
    let b = Bundle::new();
    fs::write(b.config_path(), "{\"ociVersion\": \"1.3.0\", \"process\": ").unwrap();
    refused(&b, &["config.json", "parse"]);
}

#[test]
fn unsupported_oci_version() {
    for v in ["9.9.9", "1.4.0", "0.9.0", "garbage"] {
        let mut b = Bundle::new();
        b.edit(|c| c["ociVersion"] = json!(v));
        refused(&b, &["ociVersion", v]);
    }
}

#[test]
fn missing_rootfs() {
    let b = Bundle::new();
    fs::remove_dir_all(b.rootfs()).unwrap();
    refused(&b, &["rootfs"]);
}

/// With RUST_BACKTRACE set, library errors capture a backtrace on their way
/// to the message. The runtime (linked against musl, see build.rs) must
/// still print the error and exit 1, not abort in the unwinder.
#[test]
fn errors_are_reported_under_rust_backtrace() {
    let ctx = Ctx::new();
    let b = Bundle::new();
    fs::remove_dir_all(b.rootfs()).unwrap();
    for value in ["1", "full"] {
        let id = ctx.id("bt");
        let mut c = ctx.cmd();
        c.args(["run", "--bundle"]).arg(b.path()).arg(&id);
        c.env("RUST_BACKTRACE", value);
        let out = run_cmd(&mut c, CMD_TIMEOUT);
        out.fails_with(&["rootfs"]); // exit status 1, not an abort
        nothing_left(&ctx, &id, b.path());

        let mut c = ctx.cmd();
        c.args(["state", "rt-no-such-container"]);
        c.env("RUST_BACKTRACE", value);
        let out = run_cmd(&mut c, CMD_TIMEOUT);
        out.fails_with(&["rt-no-such-container"]);
    }
}

#[test]
fn unknown_namespace_type() {
    let mut b = Bundle::new();
    b.add_ns(json!({"type": "bogusns"}));
    refused(&b, &["bogusns"]);
}

#[test]
fn unknown_capability_name() {
    let mut b = Bundle::new();
    b.edit(|c| c["process"]["capabilities"]["bounding"] = json!(["CAP_KILL", "CAP_NOT_A_THING"]));
    refused(&b, &["CAP_NOT_A_THING"]);
}

#[test]
fn unknown_rlimit() {
    let mut b = Bundle::new();
    b.edit(|c| c["process"]["rlimits"] = json!([{"type": "RLIMIT_BOGUS", "hard": 1, "soft": 1}]));
    refused(&b, &["RLIMIT_BOGUS"]);
}

#[test]
fn empty_args() {
    let mut b = Bundle::new();
    b.edit(|c| c["process"]["args"] = json!([]));
    refused(&b, &["args"]);
}

#[test]
fn executable_not_found_in_container() {
    // Fails late (inside the init, after the clone): the cleanup path.
    let mut b = Bundle::new();
    b.edit(|c| c["process"]["args"] = json!(["no-such-program-xyz"]));
    refused(&b, &["no-such-program-xyz"]);
}

#[test]
fn invalid_container_id() {
    let ctx = Ctx::new();
    let b = Bundle::new();
    for id in ["a/b", "..", "has space"] {
        let mut c = ctx.cmd();
        c.arg("create").arg("--bundle").arg(b.path()).arg(id);
        let out = run_cmd(&mut c, CMD_TIMEOUT);
        out.fails_with(&["id"]);
        let entries: Vec<_> = fs::read_dir(ctx.root_path())
            .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(
            entries.is_empty(),
            "state root not empty after id {id:?}: {entries:?}"
        );
    }
}

#[test]
fn duplicate_id_is_refused_and_first_container_survives() {
    let ctx = Ctx::new();
    let b = Bundle::sh("exec sleep 60");
    let b2 = Bundle::sh("exec sleep 60");
    let id = ctx.id("dup");
    ctx.create(&b, &id).success();
    let pid = ctx.pid(&id);
    for cmd in ["create", "run"] {
        let mut c = ctx.cmd();
        c.arg(cmd).arg("--bundle").arg(b2.path()).arg(&id);
        let out = run_cmd(&mut c, CMD_TIMEOUT);
        out.fails_with(&[&id, "exists"]);
        let procs = procs_mentioning(&b2.path().to_string_lossy());
        assert!(procs.is_empty(), "second init left: {procs:?}");
    }
    // The first container is untouched, and still deletes cleanly.
    let st = ctx.state(&id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["pid"], pid);
    assert!(pid_alive(pid));
    assert_eq!(
        fs::canonicalize(st["bundle"].as_str().unwrap()).unwrap(),
        fs::canonicalize(b.path()).unwrap()
    );
    ctx.delete(&id, true).success();
    ctx.assert_no_leftovers(&id);
}

#[test]
fn unknown_id_for_state_start_kill_delete() {
    let ctx = Ctx::new();
    let id = "rt-no-such-container";
    for args in [
        vec!["state", id],
        vec!["start", id],
        vec!["kill", id, "KILL"],
        vec!["delete", id],
    ] {
        let out = ctx.rt(&args);
        out.fails_with(&[id]);
        assert!(
            out.stderr.contains("not exist") || out.stderr.contains("not found"),
            "{args:?}: {out}"
        );
    }
    let entries: Vec<_> = fs::read_dir(ctx.root_path())
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(entries.is_empty(), "{entries:?}");
}

#[test]
fn delete_force_of_unknown_id_succeeds_like_runc() {
    // runc: `delete --force` of a container that does not exist is not an
    // error (containerd relies on it to clean up idempotently); it also
    // removes what a create that died half-way left: the empty state file
    // that reserved the id, and the exec fifo.
    let ctx = Ctx::new();
    let out = ctx.rt(&["delete", "--force", "rt-no-such-container"]);
    assert_eq!(out.code, 0, "runc exits 0 here: {out}");
    fs::write(ctx.root_path().join("rt-half-made.json"), "").unwrap();
    fs::write(ctx.root_path().join("rt-half-made.fifo"), "").unwrap();
    let out = ctx.rt(&["delete", "--force", "rt-half-made"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(ctx.state_files("rt-half-made").is_empty());
}

#[test]
fn invalid_signal_on_unknown_and_known_container() {
    let ctx = Ctx::new();
    let out = ctx.rt(&["kill", "rt-nope", "NOTASIGNAL"]);
    assert_eq!(out.code, 1, "{out}");
    let b = Bundle::sh("exec sleep 60");
    let id = ctx.id("sig");
    ctx.create(&b, &id).success();
    let out = ctx.rt(&["kill", &id, "NOTASIGNAL"]);
    out.fails_with(&["signal", "NOTASIGNAL"]);
    assert_eq!(ctx.status(&id), "created");
}

#[test]
fn start_of_a_running_container_fails() {
    let ctx = Ctx::new();
    let b = Bundle::sh("exec sleep 60");
    let id = ctx.id("start2");
    ctx.create_started(&b, &id);
    let out = ctx.start(&id);
    out.fails_with(&[&id]);
    assert_eq!(ctx.status(&id), "running");
}

#[test]
fn failure_after_clone_leaves_no_cgroup() {
    // A mount that cannot be made fails in the init, after the cgroup
    // exists: create must remove it again.
    let mut b = Bundle::new();
    b.add_mount(json!({"destination": "/mnt/x", "type": "bind", "source": "/no/such/host/dir", "options": ["bind"]}));
    refused(&b, &["/no/such/host/dir"]);
}

#[test]
fn bad_resource_value_leaves_nothing() {
    // On cgroup v1 the cgroup is made and its limits written after the
    // clone, while the init mounts: a value the kernel refuses must still
    // leave no process, no cgroup dir (nor a parent dir create made) and
    // no state dir.
    let parent = format!("onggi-badres-{}", std::process::id());
    for nested in [false, true] {
        let mut b = Bundle::new();
        b.edit(|c| {
            c["linux"]["resources"]["cpu"] = json!({"cpus": "0-999"});
            if nested {
                c["linux"]["cgroupsPath"] = json!(format!("{parent}/leaf"));
            }
        });
        refused(&b, &["cpuset.cpus"]);
        let left: Vec<_> = cgroup_dirs(&parent)
            .into_iter()
            .filter(|d| d.exists())
            .collect();
        assert!(left.is_empty(), "cgroup dirs left: {left:?}");
    }
}

#[test]
fn init_failure_while_the_cgroup_is_made_leaves_nothing() {
    // A first mount that fails: on cgroup v1 the init fails while the
    // runtime may still be making its cgroup. The init's error is the one
    // reported, and nothing is left.
    let mut b = Bundle::new();
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().insert(
            0,
            json!({"destination": "/mnt/x", "type": "nosuchfs", "source": "none"}),
        )
    });
    refused(&b, &["/mnt/x", "ENODEV"]);
}

#[test]
fn bad_cwd_is_refused() {
    let mut b = Bundle::new();
    b.edit(|c| c["process"]["cwd"] = json!("relative/dir"));
    refused(&b, &["cwd"]);
}

#[test]
fn console_socket_without_terminal_is_refused() {
    let ctx = Ctx::new();
    let b = Bundle::new();
    let id = ctx.id("console");
    let out = ctx.rt(&[
        "create",
        "--console-socket",
        "/tmp/nonexistent.sock",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    out.fails_with(&["console"]);
    nothing_left(&ctx, &id, b.path());
}

#[test]
fn terminal_without_console_socket_is_refused_by_create() {
    let ctx = Ctx::new();
    let mut b = Bundle::new();
    b.edit(|c| c["process"]["terminal"] = json!(true));
    let id = ctx.id("tty");
    let out = ctx.create(&b, &id);
    out.fails_with(&["console"]);
    nothing_left(&ctx, &id, b.path());
    std::thread::sleep(Duration::from_millis(1));
}
