//! Rootless prerequisites. `spec --rootless` is how an unprivileged user
//! gets a config with a user namespace; it must work (and `spec` too).

mod security_common;

use security_common::*;
use std::time::Duration;

#[test]
fn spec_and_spec_rootless_write_a_config() {
    let env = Env::new();
    for (i, extra) in [&[][..], &["--rootless"][..]].into_iter().enumerate() {
        let dir = env.path().join(format!("b{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut args = vec!["spec", "--bundle", dir.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = Out::from(env.rt(&args));
        assert!(
            out.ok && !out.stderr.contains("panicked"),
            "spec {extra:?}: {out:?}"
        );
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
        if !extra.is_empty() {
            let ns = v["linux"]["namespaces"].as_array().unwrap();
            assert!(
                ns.iter().any(|n| n["type"] == "user"),
                "spec --rootless without a user namespace: {v}"
            );
        }
    }
}

/// A throw-away unprivileged user, removed on drop (also on panic).
struct TempUser {
    name: String,
    uid: u32,
    gid: u32,
}

impl TempUser {
    fn new() -> TempUser {
        let name = format!("onggirl{}", std::process::id() % 100_000);
        let st = std::process::Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                &name,
            ])
            .status()
            .expect("useradd");
        assert!(st.success(), "useradd {name}");
        let id = |flag: &str| -> u32 {
            let o = std::process::Command::new("id")
                .args([flag, &name])
                .output()
                .expect("id");
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse()
                .expect("numeric id")
        };
        let (uid, gid) = (id("-u"), id("-g"));
        TempUser { name, uid, gid }
    }
}

impl Drop for TempUser {
    fn drop(&mut self) {
        let _ = std::process::Command::new("userdel")
            .arg(&self.name)
            .status();
    }
}

/// Rootless: an unprivileged user runs a `spec --rootless` bundle. The
/// container's root is the user (mapped to 0 inside), the state goes under
/// $XDG_RUNTIME_DIR, no cgroup is needed (none was delegated), and the
/// container's program is exec'd through the exec trampoline's sealed
/// memfd (the user could not clone a read-only view of the binary).
/// Nothing may be left behind.
#[test]
fn unprivileged_user_runs_a_rootless_container() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let env = Env::new();
    let user = TempUser::new();
    let base = env.path().join("rootless");
    let rootfs = base.join("bundle/rootfs/bin");
    std::fs::create_dir_all(&rootfs).unwrap();
    std::fs::copy("/bin/busybox", rootfs.join("busybox")).unwrap();
    for a in ["sh", "id", "cat", "ls"] {
        std::os::unix::fs::symlink("busybox", rootfs.join(a)).unwrap();
    }
    let bin = base.join("onggi-runtime");
    std::fs::copy(runtime_bin(), &bin).unwrap();
    let xdg = base.join("xdg");
    std::fs::create_dir_all(&xdg).unwrap();
    for p in [env.path(), base.as_path()] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let chown = std::process::Command::new("chown")
        .args(["-R", &format!("{}:{}", user.uid, user.gid)])
        .arg(&base)
        .status()
        .unwrap();
    assert!(chown.success());
    let as_user = |args: &[&str]| {
        let mut c = std::process::Command::new(&bin);
        c.args(args)
            .current_dir(base.join("bundle"))
            .env_clear()
            .env("XDG_RUNTIME_DIR", &xdg)
            .env("PATH", "/usr/bin:/bin")
            .uid(user.uid)
            .gid(user.gid);
        output_with_timeout(c, Duration::from_secs(30))
    };
    let o = Out::from(as_user(&["spec", "--rootless"]));
    assert!(o.ok, "spec --rootless as {}: {o:?}", user.name);
    let cfg_path = base.join("bundle/config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cfg_path).unwrap()).unwrap();
    cfg["process"]["terminal"] = false.into();
    cfg["process"]["args"] = serde_json::json!(["sh", "-c", "id -u; cat /proc/self/uid_map; ls /"]);
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    let id = env.id("rootless");
    let o = Out::from(as_user(&["run", &id]));
    assert!(o.ok, "rootless run as {}: {o:?}", user.name);
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some("0"),
        "root inside the user namespace: {o:?}"
    );
    let map: Vec<&str> = lines
        .get(1)
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    assert_eq!(
        map,
        ["0", &user.uid.to_string(), "1"],
        "uid_map maps the user to 0: {o:?}"
    );
    assert!(o.stdout.contains("bin"), "ls / in the container: {o:?}");
    // The state lived under $XDG_RUNTIME_DIR/onggi and is gone after run.
    let state = xdg.join("onggi");
    assert!(state.is_dir(), "state root under XDG_RUNTIME_DIR");
    assert_eq!(
        std::fs::read_dir(&state).unwrap().count(),
        0,
        "no state left"
    );
    // The user could not have created cgroups: none named after the id.
    for ctrl in ["pids", "memory", "cpu"] {
        let found = std::process::Command::new("find")
            .args([
                &format!("/sys/fs/cgroup/{ctrl}"),
                "-maxdepth",
                "4",
                "-name",
                &id,
            ])
            .output()
            .unwrap();
        assert!(found.stdout.is_empty(), "cgroup {ctrl} for {id} exists");
    }
}
