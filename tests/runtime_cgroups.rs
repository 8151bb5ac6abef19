//! cgroups: where the container is placed, resource limits, and that
//! delete removes every cgroup dir it made. On a v1 (hybrid) host the v1
//! hierarchies are checked; on a pure v2 host (scripts/test-v2-vm.sh) the
//! unified one.

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

/// Container /proc/self/cgroup lines "N:ctrls:path" -> (ctrls, path): the
/// v1 lines on a v1 host, the "0::" line ("", path) on a pure v2 host.
fn parse_cgroup(text: &str) -> Vec<(String, String)> {
    let v2 = cgroup_v2();
    text.lines()
        .filter_map(|l| {
            let mut p = l.splitn(3, ':');
            let (_, c, path) = (p.next()?, p.next()?, p.next()?);
            (c.is_empty() == v2).then(|| (c.to_string(), path.to_string()))
        })
        .collect()
}

/// Where a relative path goes: below our own cgroup (v1), below its
/// parent (v2, as runc: our own cgroup holds processes).
fn base_of(own: &str) -> String {
    let own = if cgroup_v2() {
        std::path::Path::new(own)
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|| "/".into())
    } else {
        own.to_string()
    };
    own.trim_end_matches('/').to_string()
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

/// `text` (a /proc/PID/cgroup seen from inside the container) places it in
/// the default cgroup, "<id>" below our own, in every hierarchy of ours.
fn assert_in_default_cgroup(text: &str, id: &str, what: &str) {
    let own = parse_cgroup(&fs::read_to_string("/proc/self/cgroup").unwrap());
    let inside = parse_cgroup(text);
    assert!(!own.is_empty());
    for (ctrls, path) in &own {
        let want = format!("{}/{id}", base_of(path));
        let got = inside
            .iter()
            .find(|(c, _)| c == ctrls)
            .map(|(_, p)| p.as_str());
        assert_eq!(got, Some(want.as_str()), "{ctrls}{what}: {text}");
    }
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
    assert_in_default_cgroup(&text, &id, "");
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
    let inside = parse_cgroup(&text);
    assert!(!inside.is_empty(), "{text}");
    for (ctrls, path) in inside {
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
    if cgroup_v2() {
        return dirs.first().expect("the v2 cgroup dir").clone();
    }
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
    let v2 = cgroup_v2();
    // (controller, file on the host and inside, value)
    let files: [(&str, &str, &str); 3] = if v2 {
        [
            ("memory", "memory.max", "67108864"),
            ("pids", "pids.max", "32"),
            // runc's conversion of cpu.shares 512 (linear, runc <= 1.3).
            ("cpu", "cpu.weight", "20"),
        ]
    } else {
        [
            ("memory", "memory.limit_in_bytes", "67108864"),
            ("pids", "pids.max", "32"),
            ("cpu", "cpu.shares", "512"),
        ]
    };
    let inside_paths: Vec<String> = files
        .iter()
        .map(|(c, f, _)| {
            if v2 {
                format!("/sys/fs/cgroup/{f}")
            } else {
                format!("/sys/fs/cgroup/{c}/{f}")
            }
        })
        .collect();
    let mut b = Bundle::sh(&format!(
        "cat {} > /tmp/inside; exec sleep 60",
        inside_paths.join(" ")
    ));
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
    let mut want = Vec::new();
    for (ctrl, file, value) in files {
        let got = read(ctrl, file);
        if v2 && file == "cpu.weight" {
            // Or the quadratic conversion of newer runc (59 for 512).
            assert!(
                got == "20" || got == "59",
                "cpu.weight for shares 512: {got}"
            );
            want.push(got);
        } else {
            assert_eq!(got, value, "{file}");
            want.push(got);
        }
    }
    // Inside, with a cgroup namespace, /sys/fs/cgroup shows the container's own.
    let inside = b.rootfs().join("tmp/inside");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !inside.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let text = fs::read_to_string(&inside).unwrap_or_default();
    assert_eq!(
        text.split_whitespace().collect::<Vec<_>>(),
        want,
        "inside the container"
    );
    placed_then_removed(&ctx, &id, pid, &dirs);
}

/// On v1 the runtime makes the cgroup after the clone, while the init
/// mounts; the init must still be in it, limits written, before any hook
/// runs (and so before the container's program): with a /sys/fs/cgroup
/// mount (the init waits there) and without one (it waits before the
/// device nodes).
#[test]
fn in_the_cgroup_with_its_limits_before_the_hooks() {
    for with_cgroup_mount in [true, false] {
        let ctx = Ctx::new();
        let shared = shared_dir();
        let log = shared.path().join("hook");
        let mut b = Bundle::sh("exec sleep 60");
        b.remove_ns("cgroup");
        b.edit(|c| {
            c["linux"]["resources"]["pids"] = json!({"limit": 42});
            if !with_cgroup_mount {
                c["mounts"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|m| m["destination"] != "/sys/fs/cgroup");
            }
        });
        // createContainer runs in the init's namespaces before pivot_root,
        // forked by the init: in its cgroup, with the host's /sys/fs/cgroup.
        let pids_max = if cgroup_v2() {
            r#"cat "/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)/pids.max""#
        } else {
            r#"cat "/sys/fs/cgroup/pids$(sed -n 's/^[0-9]*:pids://p' /proc/self/cgroup)/pids.max""#
        };
        b.add_hook(
            "createContainer",
            json!({"path": "/bin/sh", "args": ["sh", "-c", format!(
                "{{ cat /proc/self/cgroup; printf 'max '; {pids_max}; }} > {} 2>&1",
                log.display()
            )]}),
        );
        let id = ctx.id("cghook");
        ctx.create(&b, &id).success();
        let pid = ctx.pid(&id);
        ctx.track_pid(pid);
        let text = fs::read_to_string(&log).unwrap();
        assert_in_default_cgroup(&text, &id, &format!(" (cgroup mount: {with_cgroup_mount})"));
        assert!(
            text.lines().any(|l| l == "max 42"),
            "pids.max in the hook (cgroup mount: {with_cgroup_mount}): {text}"
        );
        placed_then_removed(&ctx, &id, pid, &cgroup_dirs(&id));
    }
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
