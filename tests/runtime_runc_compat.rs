//! The same bundle under runc and onggi-runtime gives the same output.
//! runc 1.1.5 accepts ociVersion "1.3.0" (checked below), so the bundle is
//! used unchanged.

mod common;

use std::process::Command;

use common::*;
use serde_json::json;

/// Run `b` under onggi-runtime and runc (foreground), with the container
/// ids replaced by "ID" in the output. Returns (onggi, runc).
fn both(ctx: &Ctx, b: &Bundle, tag: &str) -> (Out, Out) {
    let id = ctx.id(tag);
    let mut ours = ctx.run(b, &id);
    let runc_root = tempfile::tempdir().unwrap();
    let rid = format!("runc-{id}");
    let mut c = Command::new(RUNC);
    c.arg("--root")
        .arg(runc_root.path())
        .arg("run")
        .arg("--bundle")
        .arg(b.path())
        .arg(&rid);
    let mut theirs = run_cmd(&mut c, CMD_TIMEOUT);
    // runc run in the foreground deletes on exit; make sure anyway.
    let _ = run_cmd(
        Command::new(RUNC)
            .arg("--root")
            .arg(runc_root.path())
            .arg("delete")
            .arg("--force")
            .arg(&rid),
        CMD_TIMEOUT,
    );
    ours.stdout = ours.stdout.replace(&id, "ID");
    theirs.stdout = theirs.stdout.replace(&rid, "ID");
    (ours, theirs)
}

#[track_caller]
fn same(ctx: &Ctx, b: &Bundle, tag: &str) {
    let (ours, theirs) = both(ctx, b, tag);
    assert_eq!(theirs.code, 0, "runc failed: {theirs}");
    assert_eq!(
        ours.code, theirs.code,
        "exit codes differ\nonggi: {ours}\nrunc: {theirs}"
    );
    let (o, t) = (ours.lines(), theirs.lines());
    let diff: Vec<String> = (0..o.len().max(t.len()))
        .filter(|i| o.get(*i) != t.get(*i))
        .map(|i| format!("line {i}: onggi {:?} / runc {:?}", o.get(i), t.get(i)))
        .collect();
    assert!(
        diff.is_empty(),
        "onggi and runc differ:\n{}\n--- onggi ---\n{}--- runc ---\n{}",
        diff.join("\n"),
        ours.stdout,
        theirs.stdout
    );
}

const BASIC: &str = "id; hostname; grep -E '^Cap|NoNewPrivs' /proc/self/status; ls /dev; \
    grep 'open files' /proc/self/limits; umask; echo pid $$; pwd; env | grep -v '^HOME=' | sort";

#[test]
fn runc_accepts_oci_version_1_3_0() {
    let ctx = Ctx::new();
    let mut b = Bundle::sh("echo ok");
    b.edit(|c| c["ociVersion"] = json!("1.3.0"));
    let (ours, theirs) = both(&ctx, &b, "ver");
    assert_eq!(theirs.code, 0, "{theirs}");
    assert_eq!(ours.stdout, theirs.stdout);
}

#[test]
fn same_as_runc_default_config() {
    let ctx = Ctx::new();
    let b = Bundle::sh(BASIC);
    same(&ctx, &b, "basic");
}

#[test]
fn same_as_runc_env_including_home() {
    // runc sets HOME from the user's /etc/passwd entry when the config
    // has none.
    let ctx = Ctx::new();
    let mut b = Bundle::sh("env | sort");
    same(&ctx, &b, "env-root");
    b.edit(|c| c["process"]["user"] = json!({"uid": 1000, "gid": 1000}));
    same(&ctx, &b, "env-user");
}

#[test]
fn same_as_runc_user_caps_umask_rlimits() {
    let ctx = Ctx::new();
    let mut b = Bundle::sh(&format!("{BASIC}; grep -E '^Groups' /proc/self/status; grep -E 'Max (processes|core)' /proc/self/limits"));
    b.edit(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [2000, 3000], "umask": 0o077});
        let caps = json!(["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID"]);
        c["process"]["capabilities"] = json!({
            "bounding": caps, "effective": ["CAP_KILL"], "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "inheritable": ["CAP_NET_BIND_SERVICE"], "ambient": ["CAP_NET_BIND_SERVICE"]
        });
        c["process"]["rlimits"] = json!([
            {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 4096},
            {"type": "RLIMIT_NPROC", "soft": 100, "hard": 200},
            {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}
        ]);
        c["process"]["cwd"] = json!("/home/user");
        c["process"]["noNewPrivileges"] = json!(false);
    });
    same(&ctx, &b, "user");
}

#[test]
fn same_as_runc_root_caps_not_all_equal() {
    // uid 0 with effective/permitted smaller than bounding: what exec
    // leaves is the kernel's rule for root, the same under both runtimes.
    let ctx = Ctx::new();
    let mut b = Bundle::sh("grep -E '^Cap' /proc/self/status");
    b.edit(|c| {
        c["process"]["capabilities"] = json!({
            "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_SYS_ADMIN"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"],
            "inheritable": ["CAP_CHOWN"]
        });
    });
    same(&ctx, &b, "rootcaps");
}

#[test]
fn same_as_runc_mounts() {
    let ctx = Ctx::new();
    let d = shared_dir();
    // /sys/fs/cgroup is left out: runc 1.1.5 leaves its tmpfs rw and does
    // not mount the cgroup2 "unified" hierarchy of a hybrid host; onggi
    // mounts the tmpfs ro (as the config says) and adds unified.
    let mut b = Bundle::sh("awk '{print $2, $3, $4}' /proc/mounts | grep -v '^/sys/fs/cgroup' | sed -E 's/,(size|nr_inodes)=[0-9]+k?//g'");
    b.bind(d.path(), "/data");
    b.add_mount(json!({"destination": "/mnt/ro", "type": "bind", "source": d.path(), "options": ["rbind", "ro", "nosuid"]}));
    b.add_mount(json!({"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs", "options": ["mode=700", "size=1m", "noexec"]}));
    same(&ctx, &b, "mounts");
}

#[test]
fn same_as_runc_masked_and_readonly_paths() {
    let ctx = Ctx::new();
    let b = Bundle::sh(
        "for p in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug; do echo $p $(cat $p 2>&1 | wc -c); done; \
         for p in /proc/acpi /proc/scsi /sys/firmware; do echo $p $(ls $p 2>&1 | wc -l); done; \
         echo 1 > /proc/sysrq-trigger 2>/dev/null && echo SYSRQ; touch /proc/sys/kernel/x 2>/dev/null && echo SYS; echo done",
    );
    same(&ctx, &b, "masked");
}

#[test]
fn same_as_runc_namespaces_view() {
    let ctx = Ctx::new();
    // (runc 1.1.5 ignores domainname: it is tested in runtime_namespaces.)
    let mut b =
        Bundle::sh("hostname; ls /sys/class/net; echo $$; cat /proc/self/cgroup | cut -d: -f2-");
    b.edit(|c| {
        c["hostname"] = json!("compat");
    });
    same(&ctx, &b, "ns");
}

#[test]
fn same_as_runc_exit_codes() {
    let ctx = Ctx::new();
    for script in ["exit 0", "exit 42", "kill -9 $$", "kill -TERM $$; sleep 1"] {
        let mut b = Bundle::sh(script);
        b.remove_ns("pid");
        let (ours, theirs) = both(&ctx, &b, "code");
        assert_eq!(
            ours.code, theirs.code,
            "{script}\nonggi: {ours}\nrunc: {theirs}"
        );
    }
}
