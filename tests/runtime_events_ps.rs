//! The cgroup commands that report: events and ps; and the limits at work:
//! OOM kill, pids.max against a fork bomb, and the smallest memory limit.
//! Every check reads the v1 or the v2 files, depending on the host (pure v2
//! when /sys/fs/cgroup is cgroup2).

mod common;

use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

// ------------------------------------------------------------------ events

#[test]
fn events_stats_prints_one_json_object() {
    let ctx = Ctx::new();
    let mut b = Bundle::sh("sleep 61 & exec sleep 60");
    b.edit(|c| {
        c["linux"]["resources"] = json!({"pids": {"limit": 50}, "memory": {"limit": 64 << 20}})
    });
    let id = ctx.id("evstats");
    ctx.create_started(&b, &id);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let n = ctx.rt(&["ps", "--format", "json", &id]).json();
        if n.as_array().is_some_and(|a| a.len() >= 2) || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = ctx.rt(&["events", "--stats", &id]);
    out.success();
    assert_eq!(out.lines().len(), 1, "one line: {out}");
    let v = out.json();
    assert_eq!(v["type"], "stats", "{v}");
    assert_eq!(v["id"], id.as_str(), "{v}");
    let d = &v["data"];
    for k in ["cpu", "memory", "pids"] {
        assert!(d[k].is_object(), "data.{k}: {v}");
    }
    assert!(
        d["pids"]["current"].as_u64().unwrap_or(0) >= 2,
        "pids.current: {v}"
    );
    assert_eq!(d["pids"]["limit"].as_u64(), Some(50), "pids.limit: {v}");
    let usage = d["memory"]["usage"]["usage"].as_u64().unwrap_or(0);
    assert!(usage > 0 && usage < 64 << 20, "memory.usage.usage: {v}");
    assert_eq!(
        d["memory"]["usage"]["limit"].as_u64(),
        Some(64 << 20),
        "{v}"
    );
    assert!(
        d["cpu"]["usage"]["total"].as_u64().unwrap_or(0) > 0,
        "cpu.usage.total: {v}"
    );
    // Of a stopped container: an error, not stats of nothing.
    let b2 = Bundle::sh("true");
    let id2 = ctx.id("evstop");
    ctx.create_started(&b2, &id2);
    ctx.wait_status(&id2, "stopped", Duration::from_secs(10));
    ctx.rt(&["events", "--stats", &id2])
        .fails_with(&["stopped"]);
}

/// Allocate far past a 16 MiB limit in one process, in one step: dd's
/// 64 MiB buffer, filled by a single read from /dev/zero.
const HOG: &str = "dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo survived $?";

fn oom_limits(c: &mut Value) {
    c["linux"]["resources"]["memory"] = json!({"limit": 16 << 20, "swap": 16 << 20});
    c["linux"]["resources"]["pids"] = json!({"limit": 64});
}

#[test]
fn events_stream_stats_and_oom_until_the_container_stops() {
    let ctx = Ctx::new();
    // The hog starts when the test says so (events is running by then).
    let mut b = Bundle::sh(&format!(
        "while [ ! -e /tmp/go ]; do sleep 0.02; done; {HOG}; sleep 0.5"
    ));
    b.edit(oom_limits);
    let id = ctx.id("evstream");
    ctx.create_started(&b, &id);
    let dir = tempfile::tempdir().unwrap();
    let (out_p, err_p) = (dir.path().join("out"), dir.path().join("err"));
    let mut c = ctx.cmd();
    c.args(["events", "--interval", "100ms", &id])
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_p).unwrap())
        .stderr(fs::File::create(&err_p).unwrap());
    let t = Instant::now();
    let mut child = c.spawn().unwrap();
    let first = wait_for_content(&out_p, Duration::from_secs(10), |s| s.contains('\n'));
    fs::write(b.rootfs().join("tmp/go"), "").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = t.elapsed();
    let out = Out {
        code: status.and_then(|s| s.code()).unwrap_or(-1),
        stdout: fs::read_to_string(&out_p).unwrap_or_default(),
        stderr: fs::read_to_string(&err_p).unwrap_or_default(),
    };
    assert!(
        status.is_some(),
        "events did not end when the container stopped: {out}"
    );
    assert!(!first.is_empty(), "no first event: {out}");
    out.success();
    let events: Vec<Value> = out
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let stats = events.iter().filter(|e| e["type"] == "stats").count();
    let ooms = events.iter().filter(|e| e["type"] == "oom").count();
    assert!(stats >= 4, "{stats} stats events in {took:?}: {out}");
    assert!(ooms >= 1, "no oom event: {out}");
    assert!(
        events.iter().all(|e| e["id"] == id.as_str()),
        "events name the container: {out}"
    );
    assert_eq!(ctx.status(&id), "stopped");
}

// ------------------------------------------------------------------ ps

fn procs_of(id: &str) -> Vec<i32> {
    let p = ctrl_dir(id, "pids").join("cgroup.procs");
    let mut v: Vec<i32> = fs::read_to_string(&p)
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    v.sort_unstable();
    v
}

/// A container with two processes (init + a background sleep).
fn two_sleepers(ctx: &Ctx, tag: &str) -> (Bundle, String, i32) {
    let b = Bundle::sh("sleep 61 & exec sleep 60");
    let id = ctx.id(tag);
    let pid = ctx.create_started(&b, &id);
    let deadline = Instant::now() + Duration::from_secs(5);
    while procs_of(&id).len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the background sleep never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    (b, id, pid)
}

#[test]
fn ps_table_and_json() {
    let ctx = Ctx::new();
    let (_b, id, init) = two_sleepers(&ctx, "ps");
    let procs = procs_of(&id);
    assert!(procs.contains(&init));
    let out = ctx.rt(&["ps", "--format", "json", &id]);
    out.success();
    let mut pids: Vec<i32> = serde_json::from_str(out.stdout.trim()).expect("json array of pids");
    pids.sort_unstable();
    assert_eq!(pids, procs, "ps --format json vs cgroup.procs");

    let out = ctx.rt(&["ps", &id]);
    out.success();
    let lines = out.lines();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    let col = header
        .iter()
        .position(|h| *h == "PID")
        .unwrap_or_else(|| panic!("no PID header: {out}"));
    let mut shown: Vec<i32> = lines[1..]
        .iter()
        .map(|l| l.split_whitespace().nth(col).unwrap().parse().unwrap())
        .collect();
    shown.sort_unstable();
    assert_eq!(shown, procs, "ps table: {out}");
    assert!(lines[1..].iter().all(|l| l.contains("sleep")), "{out}");
}

#[test]
fn ps_passes_extra_arguments_to_ps() {
    let ctx = Ctx::new();
    let (_b, id, _) = two_sleepers(&ctx, "psargs");
    let procs = procs_of(&id);
    let out = ctx.rt(&["ps", &id, "--", "-o", "pid,comm"]);
    out.success();
    let lines = out.lines();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["PID", "COMMAND"],
        "{out}"
    );
    let rows: Vec<(i32, &str)> = lines[1..]
        .iter()
        .map(|l| {
            let mut f = l.split_whitespace();
            (f.next().unwrap().parse().unwrap(), f.next().unwrap_or(""))
        })
        .collect();
    assert_eq!(rows.len(), procs.len(), "{out}");
    assert!(
        rows.iter().all(|(p, c)| procs.contains(p) && *c == "sleep"),
        "{out}"
    );
    // ps arguments without a PID column: a clear error.
    let out = ctx.rt(&["ps", &id, "--", "-o", "comm"]);
    out.fails_with(&["PID"]);
}

// ------------------------------------------------------------ OOM and pids

#[test]
fn oom_kill_in_the_foreground_exits_137() {
    let ctx = Ctx::new();
    let mut b = Bundle::new();
    b.edit(|c| {
        c["process"]["args"] = json!(["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"])
    });
    b.edit(oom_limits);
    let id = ctx.id("oomrun");
    let out = ctx.run(&b, &id);
    assert_eq!(out.code, 137, "the init should be OOM-killed: {out}");
    assert!(!out.stdout.contains("survived"), "{out}");
    ctx.assert_no_leftovers(&id);
}

#[test]
fn oom_kill_is_counted_by_the_cgroup() {
    let ctx = Ctx::new();
    let mut b =
        Bundle::sh("dd if=/dev/zero of=/dev/null bs=64M count=1; echo dd-status $? > /tmp/status");
    b.edit(oom_limits);
    let id = ctx.id("oomcount");
    ctx.create_started(&b, &id);
    ctx.wait_status(&id, "stopped", Duration::from_secs(15));
    let status = fs::read_to_string(b.rootfs().join("tmp/status")).unwrap_or_default();
    assert_eq!(status.trim(), "dd-status 137", "the hog was not SIGKILLed");
    let (file, text) = if cgroup_v2() {
        ("memory.events", read_cg(&id, "", "memory.events"))
    } else {
        (
            "memory.oom_control",
            read_cg(&id, "memory", "memory.oom_control"),
        )
    };
    assert!(
        keyed(&text, "oom_kill").unwrap_or(0) >= 1,
        "{file} counts no OOM kill: {text}"
    );
    ctx.delete(&id, false).success();
}

#[test]
fn fork_bomb_stops_at_pids_max() {
    let ctx = Ctx::new();
    let mut b = Bundle::sh(
        "(while :; do sleep 30 & done) 2>/dev/null; echo bomb-ended > /tmp/bomb; exec sleep 60",
    );
    b.edit(|c| c["linux"]["resources"]["pids"] = json!({"limit": 20}));
    let id = ctx.id("forkbomb");
    let init = ctx.create_started(&b, &id);
    let bomb = b.rootfs().join("tmp/bomb");
    let t = Instant::now();
    assert!(
        wait_for_file(&bomb, Duration::from_secs(10)),
        "the fork loop never ended (forks did not fail?) after {:?}",
        t.elapsed()
    );
    let current: u64 = cg(&id, "pids", "pids.current", "pids.current")
        .parse()
        .unwrap();
    assert!(current <= 20, "pids.current {current} > pids.max 20");
    let procs = procs_of(&id);
    assert!(procs.len() <= 20, "{} processes in the cgroup", procs.len());
    assert!(
        procs.len() >= 15,
        "the bomb should have filled the cgroup: {procs:?}"
    );
    let events = cg(&id, "pids", "pids.events", "pids.events");
    assert!(
        keyed(&events, "max").unwrap_or(0) >= 1,
        "pids.events: {events}"
    );
    assert!(pid_alive(init), "the container's init died");
    assert_eq!(ctx.status(&id), "running");
    let mut c = ctx.cmd();
    c.args(["delete", "--force", &id]);
    run_cmd(&mut c, Duration::from_secs(10)).success();
    ctx.assert_no_leftovers(&id);
}

#[test]
fn run_true_under_a_256k_memory_limit() {
    let ctx = Ctx::new();
    let mut b = Bundle::new();
    b.edit(|c| {
        c["process"]["args"] = json!(["/bin/true"]);
        c["linux"]["resources"]["memory"] = json!({"limit": 262144});
    });
    let id = ctx.id("mem256k");
    let out = ctx.run(&b, &id);
    assert_eq!(out.code, 0, "run /bin/true with memory.limit 262144: {out}");
    ctx.assert_no_leftovers(&id);
}

/// The files the other tests branch on exist where they are expected.
#[test]
fn hierarchy_files_are_where_the_tests_expect() {
    let ctx = Ctx::new();
    let b = Bundle::sh("exec sleep 60");
    let id = ctx.id("files");
    ctx.create_started(&b, &id);
    let want: &[(&str, &str)] = if cgroup_v2() {
        &[
            ("", "memory.max"),
            ("", "pids.max"),
            ("", "cpu.max"),
            ("", "cgroup.freeze"),
            ("", "memory.events"),
        ]
    } else {
        &[
            ("memory", "memory.limit_in_bytes"),
            ("pids", "pids.max"),
            ("cpu", "cpu.cfs_quota_us"),
            ("freezer", "freezer.state"),
            ("memory", "memory.oom_control"),
        ]
    };
    for (ctrl, f) in want {
        let p = ctrl_dir(&id, ctrl).join(f);
        assert!(Path::new(&p).exists(), "{} missing", p.display());
    }
}
