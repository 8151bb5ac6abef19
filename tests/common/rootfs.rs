//! Root filesystem and default config.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{json, Value};

use super::run::{run_cmd, runtime, BUSYBOX, CMD_TIMEOUT, RUNC};

struct Master {
    busybox: PathBuf,
    applets: Vec<String>,
}

static MASTER_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Statics are never dropped: remove the master copy when the test
/// binary exits.
extern "C" fn remove_master() {
    if let Some(d) = MASTER_DIR.get() {
        let _ = fs::remove_dir_all(d);
    }
}

/// One copy of busybox per test binary; every rootfs hardlinks it.
fn master() -> &'static Master {
    static M: OnceLock<Master> = OnceLock::new();
    M.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("onggi-rt-master")
            .tempdir()
            .expect("tempdir")
            .keep();
        MASTER_DIR.set(dir.clone()).ok();
        // SAFETY: registering a plain extern "C" function.
        unsafe { libc::atexit(remove_master) };
        let busybox = dir.join("busybox");
        fs::copy(BUSYBOX, &busybox).expect("copy busybox");
        fs::set_permissions(&busybox, fs::Permissions::from_mode(0o755)).expect("chmod");
        let list = Command::new(BUSYBOX)
            .arg("--list")
            .output()
            .expect("busybox --list");
        let applets = String::from_utf8_lossy(&list.stdout)
            .lines()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty() && s != "busybox")
            .collect();
        Master { busybox, applets }
    })
}

/// Fill `rootfs` with busybox, one symlink per applet in /bin, /etc/passwd,
/// /etc/group, and /tmp 1777. Every directory is 0755 so that mapped ids of
/// a user namespace can read it.
pub fn make_rootfs(rootfs: &Path) {
    let m = master();
    for d in [
        "bin",
        "etc",
        "tmp",
        "proc",
        "sys",
        "dev",
        "root",
        "home/user",
        "var",
        "mnt",
    ] {
        fs::create_dir_all(rootfs.join(d)).expect("mkdir in rootfs");
    }
    let bb = rootfs.join("bin/busybox");
    if fs::hard_link(&m.busybox, &bb).is_err() {
        fs::copy(&m.busybox, &bb).expect("copy busybox");
    }
    for a in &m.applets {
        symlink("busybox", rootfs.join("bin").join(a)).expect("applet symlink");
    }
    fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\n\
         daemon:x:1:1:daemon:/usr/sbin:/bin/false\n\
         user:x:1000:1000:user:/home/user:/bin/sh\n\
         nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .expect("passwd");
    fs::write(
        rootfs.join("etc/group"),
        "root:x:0:\ndaemon:x:1:\nuser:x:1000:\nextra:x:2000:user\nnogroup:x:65534:\n",
    )
    .expect("group");
    fs::write(rootfs.join("etc/hostname"), "rootfs\n").expect("hostname");
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777))
        .expect("chmod /tmp");
}

/// What the config generator was: `onggi-runtime spec`, or `runc spec` if
/// that failed (reported on stderr once so the failure is not hidden).
static SPEC_SOURCE: OnceLock<&'static str> = OnceLock::new();

/// The default config.json, generated once per test binary.
pub fn default_config() -> Value {
    static C: OnceLock<Value> = OnceLock::new();
    C.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = run_cmd(
            Command::new(runtime())
                .arg("spec")
                .arg("--bundle")
                .arg(dir.path()),
            CMD_TIMEOUT,
        );
        let path = dir.path().join("config.json");
        if out.ok() && path.exists() {
            SPEC_SOURCE.set("onggi-runtime spec").ok();
            return serde_json::from_slice(&fs::read(&path).expect("read spec"))
                .expect("spec is JSON");
        }
        eprintln!(
            "WARNING: `onggi-runtime spec` failed, the harness falls back to `runc spec`: {out}"
        );
        let _ = fs::remove_file(&path);
        run_cmd(
            Command::new(RUNC)
                .arg("spec")
                .arg("--bundle")
                .arg(dir.path()),
            CMD_TIMEOUT,
        )
        .success();
        SPEC_SOURCE.set("runc spec").ok();
        let mut v: Value = serde_json::from_slice(&fs::read(&path).expect("read runc spec"))
            .expect("runc spec is JSON");
        v["ociVersion"] = json!("1.3.0");
        // onggi's default has the cgroup namespace, as runc 1.2+ does.
        v["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces")
            .push(json!({"type": "cgroup"}));
        v
    })
    .clone()
}

/// The source of the default config (for messages).
pub fn spec_source() -> &'static str {
    let _ = default_config();
    SPEC_SOURCE.get().copied().unwrap_or("?")
}
