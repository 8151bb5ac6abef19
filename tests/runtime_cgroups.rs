//! cgroups (v1 hybrid): where the container is placed, resource limits,
//! and that delete removes every cgroup dir it made.

mod common;

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use common::*;
use serde_json::json;

fn unique(tag: &str) -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    format!(
        "rt{}-{}-{tag}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    )
}

/// Container /proc/self/cgroup lines "N:ctrls:path" -> (ctrls, path), v1 only.
fn parse_cgroup(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let mut p = l.splitn(3, ':');
            let (_, c, path) = (p.next()?, p.next()?, p.next()?);
            (!c.is_empty()).then(|| (c.to_string(), path.to_string()))
        })
        .collect()
}

/// Check the container with init `pid` is in `dirs` (one per hierarchy),
/// then delete it and check the dirs are gone.
#[track_caller]
fn placed_then_removed(ctx: &Ctx, id: &str, pid: i32, dirs: &[PathBuf]) {
    assert!(!dirs.is_empty());
    for d in dirs {
        let procs = fs::read_to_string(d.join("cgroup.procs"))
            .unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        assert!(
            procs.lines().any(|l| l.trim() == pid.to_string()),
            "init {pid} not in {}: {procs:?}",
            d.display()
        );
    }
    ctx.delete(id, true).success();
    let left: Vec<_> = dirs.iter().filter(|d| d.exists()).collect();
    assert!(left.is_empty(), "cgroup dirs left after delete: {left:?}");
}

#[test]
fn default_cgroup_is_the_id_below_our_own() {
    let ctx = Ctx::new();
    let shared = shared_dir();
    let mut b = Bundle::sh("cat /proc/self/cgroup > /shared/cg; exec sleep 60");
    b.bind(shared.path(), "/shared");
    b.remove_ns("cgroup");
    let id = ctx.id("cgdefault");
    let pid = ctx.create_started(&b, &id);
    std::thread::sleep(Duration::from_millis(100));
    let text = fs::read_to_string(shared.path().join("cg")).unwrap();
    let own: Vec<(String, String)> =
        parse_cgroup(&fs::read_to_string("/proc/self/cgroup").unwrap());
    let inside = parse_cgroup(&text);
    for (ctrls, path) in &own {
        let want = format!("{}/{id}", path.trim_end_matches('/'));
        let got = inside
            .iter()
            .find(|(c, _)| c == ctrls)
            .map(|(_, p)| p.as_str());
        assert_eq!(got, Some(want.as_str()), "{ctrls}: {text}");
    }
    placed_then_removed(&ctx, &id, pid, &cgroup_dirs(&id));
}

#[test]
fn relative_cgroups_path() {
    let ctx = Ctx::new();
    let rel = unique("rel");
    let mut b = Bundle::sh("cat /proc/self/cgroup; exec sleep 60");
    b.remove_ns("cgroup");
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(rel));
    let dirs = cgroup_dirs(&rel);
    for d in &dirs {
        ctx.track_cgroup(d.clone());
    }
    let id = ctx.id("cgrel");
    let pid = ctx.create_started(&b, &id);
    for d in &dirs {
        assert!(d.is_dir(), "{} missing", d.display());
    }
    let not_default: Vec<_> = cgroup_dirs(&id)
        .into_iter()
        .filter(|d| d.exists())
        .collect();
    assert!(
        not_default.is_empty(),
        "the id was used instead of cgroupsPath: {not_default:?}"
    );
    placed_then_removed(&ctx, &id, pid, &dirs);
}

#[test]
fn absolute_cgroups_path() {
    let ctx = Ctx::new();
    let abs = format!("/{}", unique("abs"));
    let shared = shared_dir();
    let mut b = Bundle::sh("cat /proc/self/cgroup > /shared/cg; exec sleep 60");
    b.bind(shared.path(), "/shared");
    b.remove_ns("cgroup");
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(abs));
    let dirs = cgroup_dirs_abs(&abs);
    for d in &dirs {
        ctx.track_cgroup(d.clone());
    }
    let id = ctx.id("cgabs");
    let pid = ctx.create_started(&b, &id);
    std::thread::sleep(Duration::from_millis(100));
    let text = fs::read_to_string(shared.path().join("cg")).unwrap();
    for (ctrls, path) in parse_cgroup(&text) {
        assert_eq!(path, abs, "{ctrls}: {text}");
    }
    placed_then_removed(&ctx, &id, pid, &dirs);
}

#[test]
fn nested_relative_cgroups_path_removes_the_leaf() {
    let ctx = Ctx::new();
    let parent = unique("parent");
    let rel = format!("{parent}/leaf");
    let mut b = Bundle::sh("exec sleep 60");
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(rel));
    let dirs = cgroup_dirs(&rel);
    for d in &dirs {
        ctx.track_cgroup(d.clone());
    }
    let id = ctx.id("cgnested");
    let pid = ctx.create_started(&b, &id);
    placed_then_removed(&ctx, &id, pid, &dirs);
    // The parent is ours to remove (runc leaves it too).
    for d in cgroup_dirs(&parent) {
        if d.exists() {
            remove_cgroup(&d);
        }
    }
}

fn ctrl_dir(dirs: &[PathBuf], ctrl: &str) -> PathBuf {
    dirs.iter()
        .find(|d| {
            d.strip_prefix("/sys/fs/cgroup")
                .ok()
                .and_then(|r| r.components().next())
                .is_some_and(|c| c.as_os_str() == ctrl)
        })
        .unwrap_or_else(|| panic!("no {ctrl} hierarchy in {dirs:?}"))
        .clone()
}

#[test]
fn resource_limits_are_written() {
    let ctx = Ctx::new();
    let mut b = Bundle::sh(
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.shares > /tmp/inside; exec sleep 60",
    );
    b.edit(|c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 64 * 1024 * 1024});
        c["linux"]["resources"]["pids"] = json!({"limit": 32});
        c["linux"]["resources"]["cpu"] = json!({"shares": 512});
    });
    let id = ctx.id("limits");
    let pid = ctx.create_started(&b, &id);
    let dirs = cgroup_dirs(&id);
    let read = |ctrl: &str, file: &str| {
        fs::read_to_string(ctrl_dir(&dirs, ctrl).join(file))
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(read("memory", "memory.limit_in_bytes"), "67108864");
    assert_eq!(read("pids", "pids.max"), "32");
    assert_eq!(read("cpu", "cpu.shares"), "512");
    // Inside, with a cgroup namespace, /sys/fs/cgroup shows the container's own.
    let inside = b.rootfs().join("tmp/inside");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !inside.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let text = fs::read_to_string(&inside).unwrap_or_default();
    assert_eq!(
        text.split_whitespace().collect::<Vec<_>>(),
        ["67108864", "32", "512"],
        "inside the container"
    );
    placed_then_removed(&ctx, &id, pid, &dirs);
}

#[test]
fn memory_limit_is_enforced() {
    let ctx = Ctx::new();
    let mut b = Bundle::sh(
        "echo start; head -c 67108864 /dev/zero | tr '\\0' a | { v=$(cat); echo survived ${#v}; }",
    );
    b.edit(|c| {
        c["linux"]["resources"]["memory"] =
            json!({"limit": 16 * 1024 * 1024, "swap": 16 * 1024 * 1024});
        c["linux"]["resources"]["pids"] = json!({"limit": 64});
    });
    let id = ctx.id("oom");
    let out = ctx.run(&b, &id);
    assert!(
        !out.stdout.contains("survived"),
        "64 MiB held within a 16 MiB limit: {out}"
    );
    ctx.assert_no_leftovers(&id);
}

#[test]
fn cgroups_removed_after_foreground_run() {
    let ctx = Ctx::new();
    let b = Bundle::sh("exit 0");
    let id = ctx.id("cgrun");
    ctx.run(&b, &id).success();
    let left: Vec<_> = cgroup_dirs(&id)
        .into_iter()
        .filter(|d| d.exists())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn cgroups_removed_after_the_process_exits_and_delete() {
    let ctx = Ctx::new();
    let b = Bundle::sh("sleep 0.1");
    let id = ctx.id("cgexit");
    ctx.create_started(&b, &id);
    assert!(cgroup_dirs(&id).iter().any(|d| d.exists()));
    ctx.wait_status(&id, "stopped", Duration::from_secs(10));
    ctx.delete(&id, false).success();
    let left: Vec<_> = cgroup_dirs(&id)
        .into_iter()
        .filter(|d| d.exists())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
