//! The cgroup commands: pause, resume, update, events, ps; and the limits
//! they manage at work: OOM kill, pids.max against a fork bomb, and the
//! smallest memory limit. Every check reads the v1 or the v2 files,
//! depending on the host (pure v2 when /sys/fs/cgroup is cgroup2).

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// The controller file for (v1 controller, v1 file, v2 file).
fn cg(id: &str, ctrl: &str, v1: &str, v2: &str) -> String {
    read_cg(id, ctrl, if cgroup_v2() { v2 } else { v1 })
}

/// `key value` line of a flat-keyed cgroup file (memory.events, ...).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok())?
    })
}

fn counter(b: &Bundle) -> Option<u64> {
    fs::read_to_string(b.rootfs().join("tmp/counter"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Wait until the counter the container writes exists and moves.
fn wait_counting(b: &Bundle) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    let first = loop {
        if let Some(c) = counter(b) {
            break c;
        }
        assert!(Instant::now() < deadline, "the container never counted");
        std::thread::sleep(Duration::from_millis(10));
    };
    loop {
        if let Some(c) = counter(b).filter(|c| *c > first) {
            return c;
        }
        assert!(Instant::now() < deadline, "the counter does not advance");
        std::thread::sleep(Duration::from_millis(10));
    }
}

const COUNTER: &str = "i=0; while :; do i=$((i+1)); echo $i > /tmp/counter.new; mv /tmp/counter.new /tmp/counter; sleep 0.02; done";

fn frozen_on_host(id: &str) -> bool {
    if cgroup_v2() {
        let ev = read_cg(id, "", "cgroup.events");
        keyed(&ev, "frozen") == Some(1)
    } else {
        read_cg(id, "freezer", "freezer.state") == "FROZEN"
    }
}

// ------------------------------------------------------------ pause/resume

#[test]
fn pause_freezes_and_resume_thaws() {
    let ctx = Ctx::new();
    let b = Bundle::sh(COUNTER);
    let id = ctx.id("pause");
    let pid = ctx.create_started(&b, &id);
    wait_counting(&b);
    ctx.rt(&["pause", &id]).success();
    assert_eq!(ctx.status(&id), "paused");
    assert!(frozen_on_host(&id), "the cgroup is not frozen");
    if !cgroup_v2() {
        // v1 freezer: frozen tasks sleep uninterruptibly.
        let st = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        assert_eq!(
            field(&st, "State:").map(|s| &s[..1]),
            Some("D"),
            "init state while paused: {st}"
        );
    }
    let before = counter(&b);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(counter(&b), before, "the counter advanced while paused");
    ctx.rt(&["resume", &id]).success();
    assert_eq!(ctx.status(&id), "running");
    assert!(!frozen_on_host(&id), "still frozen after resume");
    let after = wait_counting(&b);
    assert!(after > before.unwrap_or(0));
    // Resume of a running container fails (runc: "container not paused").
    ctx.rt(&["resume", &id]).fails_with(&["running"]);
    ctx.delete(&id, true).success();
    ctx.assert_no_leftovers(&id);
}

#[test]
fn pause_of_a_stopped_container_fails() {
    let ctx = Ctx::new();
    let b = Bundle::sh("true");
    let id = ctx.id("pausestop");
    ctx.create_started(&b, &id);
    ctx.wait_status(&id, "stopped", Duration::from_secs(10));
    ctx.rt(&["pause", &id]).fails_with(&["stopped"]);
    ctx.rt(&["resume", &id]).fails_with(&["stopped"]);
    ctx.rt(&["pause", "no-such-container-xyz"])
        .fails_with(&["does not exist"]);
    assert_eq!(ctx.status(&id), "stopped");
}

#[test]
fn delete_force_of_a_paused_container() {
    let ctx = Ctx::new();
    let b = Bundle::sh(COUNTER);
    let id = ctx.id("pausedel");
    let pid = ctx.create_started(&b, &id);
    wait_counting(&b);
    ctx.rt(&["pause", &id]).success();
    let mut c = ctx.cmd();
    c.args(["delete", "--force", &id]);
    let out = run_cmd(&mut c, Duration::from_secs(10));
    out.success();
    assert!(wait_pid_gone(pid, Duration::from_secs(5)), "init survived");
    ctx.assert_no_leftovers(&id);
}

// ------------------------------------------------------------------ update

/// A container that writes the given cgroup files (paths inside) to
/// /tmp/inside every 50 ms.
fn reporter(
    ctx: &Ctx,
    tag: &str,
    files: &[&str],
    edit: impl FnOnce(&mut Value),
) -> (Bundle, String) {
    let script = format!(
        "while :; do cat {} > /tmp/inside.new 2>&1; mv /tmp/inside.new /tmp/inside; sleep 0.05; done",
        files.join(" ")
    );
    let mut b = Bundle::sh(&script);
    b.edit(edit);
    let id = ctx.id(tag);
    ctx.create_started(&b, &id);
    (b, id)
}

/// Wait until the container reports exactly `want` (whitespace-split).
#[track_caller]
fn inside_shows(b: &Bundle, want: &[&str]) {
    let p = b.rootfs().join("tmp/inside");
    let text = wait_for_content(&p, Duration::from_secs(5), |s| {
        s.split_whitespace().collect::<Vec<_>>() == want
    });
    assert_eq!(
        text.split_whitespace().collect::<Vec<_>>(),
        want,
        "inside the container: {text:?}"
    );
}

/// Paths inside the container of (memory limit, pids max, cpu).
fn inside_paths() -> [&'static str; 3] {
    if cgroup_v2() {
        [
            "/sys/fs/cgroup/memory.max",
            "/sys/fs/cgroup/pids.max",
            "/sys/fs/cgroup/cpu.max",
        ]
    } else {
        [
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/pids/pids.max",
            "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
        ]
    }
}

fn update(ctx: &Ctx, id: &str, flags: &[&str]) -> Out {
    let mut args = vec!["update"];
    args.extend_from_slice(flags);
    args.push(id);
    ctx.rt(&args)
}

/// cpu.weight for runc's shares conversion: the linear one (runc <= 1.3)
/// or the quadratic one (opencontainers/cgroups >= 0.0.3).
fn weights_for_shares(shares: u64) -> Vec<u64> {
    let linear = 1 + ((shares - 2) * 9999) / 262142;
    let l = (shares as f64).log2();
    let quad = 10f64.powf((l * l + 125.0 * l) / 612.0 - 7.0 / 34.0).ceil() as u64;
    vec![linear, quad]
}

#[test]
fn update_with_runc_flags() {
    let ctx = Ctx::new();
    let inside = inside_paths();
    let (b, id) = reporter(&ctx, "upd", &inside, |c| {
        c["linux"]["resources"] = json!({"memory": {"limit": 128 << 20}, "pids": {"limit": 100}});
    });
    let (mem0, cpu0) = if cgroup_v2() {
        ("134217728", "max 100000")
    } else {
        ("134217728", "-1")
    };
    inside_shows(
        &b,
        &[mem0, "100", cpu0]
            .iter()
            .flat_map(|s| s.split(' '))
            .collect::<Vec<_>>(),
    );
    let memsw = !cgroup_v2()
        && ctrl_dir(&id, "memory")
            .join("memory.memsw.limit_in_bytes")
            .exists();
    let swap_v2 = cgroup_v2() && ctrl_dir(&id, "memory").join("memory.swap.max").exists();
    let mut flags = vec![
        "--memory",
        "64M",
        "--memory-reservation",
        "32m",
        "--cpu-shares",
        "512",
        "--cpu-quota",
        "50000",
        "--cpu-period",
        "100000",
        "--cpuset-cpus",
        "0",
        "--cpuset-mems",
        "0",
        "--pids-limit",
        "42",
    ];
    if memsw || swap_v2 {
        flags.extend(["--memory-swap", "96m"]);
    }
    update(&ctx, &id, &flags).success();
    if cgroup_v2() {
        assert_eq!(read_cg(&id, "", "memory.max"), "67108864");
        assert_eq!(read_cg(&id, "", "memory.low"), "33554432");
        if swap_v2 {
            // runc: swap.max = memory+swap - memory.
            assert_eq!(read_cg(&id, "", "memory.swap.max"), "33554432");
        }
        let w: u64 = read_cg(&id, "", "cpu.weight").parse().unwrap();
        assert!(
            weights_for_shares(512).contains(&w),
            "cpu.weight {w} for shares 512"
        );
        assert_eq!(read_cg(&id, "", "cpu.max"), "50000 100000");
        assert_eq!(read_cg(&id, "", "cpuset.cpus"), "0");
        assert_eq!(read_cg(&id, "", "cpuset.mems"), "0");
        assert_eq!(read_cg(&id, "", "pids.max"), "42");
        inside_shows(&b, &["67108864", "42", "50000", "100000"]);
    } else {
        assert_eq!(read_cg(&id, "memory", "memory.limit_in_bytes"), "67108864");
        assert_eq!(
            read_cg(&id, "memory", "memory.soft_limit_in_bytes"),
            "33554432"
        );
        if memsw {
            assert_eq!(
                read_cg(&id, "memory", "memory.memsw.limit_in_bytes"),
                "100663296"
            );
        }
        assert_eq!(read_cg(&id, "cpu", "cpu.shares"), "512");
        assert_eq!(read_cg(&id, "cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(read_cg(&id, "cpu", "cpu.cfs_period_us"), "100000");
        assert_eq!(read_cg(&id, "cpuset", "cpuset.cpus"), "0");
        assert_eq!(read_cg(&id, "cpuset", "cpuset.mems"), "0");
        assert_eq!(read_cg(&id, "pids", "pids.max"), "42");
        inside_shows(&b, &["67108864", "42", "50000"]);
    }
    // The state remembers the new limits (a later update keeps them).
    update(&ctx, &id, &["--pids-limit", "43"]).success();
    assert_eq!(
        cg(&id, "memory", "memory.limit_in_bytes", "memory.max"),
        "67108864"
    );
    assert_eq!(cg(&id, "pids", "pids.max", "pids.max"), "43");
}

#[test]
fn update_blkio_weight_or_a_clear_error() {
    let ctx = Ctx::new();
    let b = Bundle::sh("exec sleep 60");
    let id = ctx.id("updblk");
    ctx.create_started(&b, &id);
    let files: &[&str] = if cgroup_v2() {
        &["io.bfq.weight", "io.weight"]
    } else {
        &["blkio.weight", "blkio.bfq.weight"]
    };
    let dir = ctrl_dir(&id, "blkio");
    let supported = files.iter().find(|f| dir.join(f).exists());
    let out = update(&ctx, &id, &["--blkio-weight", "500"]);
    match supported {
        Some(f) => {
            out.success();
            let v = fs::read_to_string(dir.join(f)).unwrap();
            // runc: blkio.weight / io.bfq.weight take it as is; io.weight
            // (1..10000) gets 1 + (w - 10) * 9999 / 990.
            let want = if *f == "io.weight" { "4950" } else { "500" };
            assert!(
                v.split_whitespace().any(|w| w == want),
                "{f} after --blkio-weight 500: {v:?}, want {want}"
            );
        }
        None => {
            out.fails_with(&["weight"]);
        }
    }
}

#[test]
fn update_from_a_resources_file_and_stdin() {
    let ctx = Ctx::new();
    let inside = inside_paths();
    let (b, id) = reporter(&ctx, "updr", &inside, |_| {});
    let file = b.path().join("resources.json");
    fs::write(
        &file,
        json!({"memory": {"limit": 96 << 20}, "pids": {"limit": 17}, "cpu": {"quota": 20000, "period": 100000}})
            .to_string(),
    )
    .unwrap();
    update(&ctx, &id, &["-r", file.to_str().unwrap()]).success();
    assert_eq!(
        cg(&id, "memory", "memory.limit_in_bytes", "memory.max"),
        "100663296"
    );
    assert_eq!(cg(&id, "pids", "pids.max", "pids.max"), "17");
    if cgroup_v2() {
        assert_eq!(read_cg(&id, "", "cpu.max"), "20000 100000");
        inside_shows(&b, &["100663296", "17", "20000", "100000"]);
    } else {
        assert_eq!(read_cg(&id, "cpu", "cpu.cfs_quota_us"), "20000");
        inside_shows(&b, &["100663296", "17", "20000"]);
    }
    // -r - reads stdin.
    let mut c = ctx.cmd();
    c.args(["update", "-r", "-", &id])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"pids": {"limit": 23}, "memory": {"limit": 83886080}}"#)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "update -r -: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(cg(&id, "pids", "pids.max", "pids.max"), "23");
    assert_eq!(
        cg(&id, "memory", "memory.limit_in_bytes", "memory.max"),
        "83886080"
    );
}

#[test]
fn update_with_invalid_values_fails_clearly() {
    let ctx = Ctx::new();
    let b = Bundle::sh("exec sleep 60");
    let id = ctx.id("updbad");
    ctx.create_started(&b, &id);
    let before = cg(&id, "memory", "memory.limit_in_bytes", "memory.max");
    update(&ctx, &id, &["--memory", "lots"]).fails_with(&["lots"]);
    update(&ctx, &id, &["--cpuset-cpus", "999"]).fails_with(&["cpuset"]);
    let bad = b.path().join("bad.json");
    fs::write(&bad, "{\"memory\": {\"limit\": \"big\"}").unwrap();
    update(&ctx, &id, &["-r", bad.to_str().unwrap()]).fails_with(&["bad.json"]);
    update(&ctx, &id, &["-r", "/no/such/file.json"]).fails_with(&["/no/such/file.json"]);
    assert_eq!(
        cg(&id, "memory", "memory.limit_in_bytes", "memory.max"),
        before,
        "a failed update changed the limit"
    );
    // A stopped container cannot be updated.
    let b2 = Bundle::sh("true");
    let id2 = ctx.id("updstop");
    ctx.create_started(&b2, &id2);
    ctx.wait_status(&id2, "stopped", Duration::from_secs(10));
    update(&ctx, &id2, &["--pids-limit", "10"]).fails_with(&["stopped"]);
}

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
