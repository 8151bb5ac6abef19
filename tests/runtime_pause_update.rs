//! The cgroup commands that change a running container: pause, resume and
//! update. Every check reads the v1 or the v2 files, depending on the host
//! (pure v2 when /sys/fs/cgroup is cgroup2).

mod common;

use std::fs;
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

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
