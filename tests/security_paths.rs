//! Paths the runtime touches inside a hostile rootfs must resolve inside
//! the root (openat2 RESOLVE_IN_ROOT) and never follow a symlink out of
//! it: mount destinations, device nodes, /dev symlinks, /dev/console,
//! masked and read-only paths, sysctl files.
//!
//! CVEs: CVE-2021-30465 / CVE-2023-27561 class (mount destination symlink
//! out of the root), CVE-2025-31133 (/dev/null replaced before masking),
//! CVE-2025-52565 (/dev/console bind redirected), CVE-2025-52881 (writes
//! to /proc redirected through a symlinked or fake /proc).

mod security_common;

use std::os::unix::fs::symlink;
use std::path::Path;

use security_common::*;
use serde_json::json;

fn host_dir(env: &Env, name: &str) -> std::path::PathBuf {
    let d = env.path().join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// "../../..../<abs path without leading />": a relative link that climbs
/// out of any rootfs to `target` on the host.
fn climbing(target: &Path) -> String {
    format!(
        "{}{}",
        "../".repeat(24),
        target.strip_prefix("/").unwrap().display()
    )
}

fn mknod(p: &Path, kind: u32, major: u32, minor: u32) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: valid C string.
    assert_eq!(
        unsafe { libc::mknod(c.as_ptr(), kind | 0o666, libc::makedev(major, minor)) },
        0,
        "mknod {}",
        p.display()
    );
}

/// CVE-2021-30465 class: a mount destination whose parent is a symlink out
/// of the root (relative and absolute) — tmpfs and bind mounts, plus a
/// missing subdirectory the runtime must create. Nothing may be created or
/// mounted in the host directory.
#[test]
fn mount_destination_symlink_out_of_root() {
    let env = Env::new();
    let host = host_dir(&env, "victim");
    let src = host_dir(&env, "bindsrc");
    std::fs::write(src.join("payload"), "x").unwrap();
    for (i, target) in [climbing(&host), host.display().to_string()]
        .into_iter()
        .enumerate()
    {
        let mut b = env.bundle(
            &format!("b{i}"),
            &["sh", "-c", "ls /out /out/sub /out/bind; true"],
        );
        symlink(&target, b.rootfs.join("out")).unwrap();
        b.add_mount(json!({"destination": "/out/sub/deeper", "type": "tmpfs", "source": "tmpfs"}));
        b.add_mount(json!({"destination": "/out/bind", "type": "bind", "source": src.to_str().unwrap(), "options": ["rbind", "ro"]}));
        let id = env.id("mntout");
        let out = env.run(&b, &id);
        eprintln!(
            "mount via symlink {i}: ok={} stderr={:?}",
            out.ok, out.stderr
        );
        assert!(
            tree(&host).is_empty(),
            "symlink -> {target}: the runtime created {:?} in the host directory ({out:?})",
            tree(&host)
        );
        // Mounted inside the root, or refused with the destination named
        // (a dangling in-root symlink is not followed to create dirs).
        assert!(
            out.ok || out.stderr.contains("/out/"),
            "symlink -> {target}: unclear failure: {out:?}"
        );
    }
}

/// A mount destination with `..` components ("../../../../tmp/x"): clamped
/// at the container's root, never the host's /tmp.
#[test]
fn mount_destination_dotdot_stays_inside() {
    let env = Env::new();
    let name = format!("onggi-sec-dotdot-{}", std::process::id());
    let host_path = Path::new("/tmp").join(&name);
    let _ = std::fs::remove_dir_all(&host_path);
    let mut b = env.bundle("b", &["sh", "-c", &format!("ls -d /tmp/{name}")]);
    b.add_mount(json!({"destination": format!("../../../../tmp/{name}"), "type": "tmpfs", "source": "tmpfs"}));
    b.add_mount(json!({"destination": format!("/proc/../../../../../tmp/{name}/b"), "type": "tmpfs", "source": "tmpfs"}));
    let id = env.id("dotdot");
    let out = env.run(&b, &id);
    let leaked = host_path.exists();
    let _ = std::fs::remove_dir_all(&host_path);
    assert!(
        !leaked,
        "the runtime created {} on the host ({out:?})",
        host_path.display()
    );
    assert!(out.ok, "{out:?}");
    assert!(
        b.rootfs.join("tmp").join(&name).is_dir(),
        "the destination should be created inside the rootfs"
    );
}

/// /dev a symlink out of the root (to a host directory): device nodes,
/// linux.devices, the /dev/fd,stdin,... and ptmx symlinks, devpts and shm
/// must not land in the host directory.
#[test]
fn dev_symlink_to_host_directory() {
    let env = Env::new();
    let host = host_dir(&env, "fakedev");
    for (i, target) in [climbing(&host), host.display().to_string()]
        .into_iter()
        .enumerate()
    {
        // Without the /dev tmpfs: the runtime creates the nodes in the image's /dev.
        let mut b = env.bundle(&format!("b{i}"), &["sh", "-c", "ls -l /dev/; true"]);
        std::fs::remove_dir(b.rootfs.join("dev")).unwrap();
        symlink(&target, b.rootfs.join("dev")).unwrap();
        // No /dev mounts at all, so device creation is the first step to
        // touch /dev (a /dev/pts mount would otherwise fail first).
        b.config["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| !m["destination"].as_str().unwrap().starts_with("/dev"));
        b.config["linux"]["devices"] =
            json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]);
        let id = env.id("devlink");
        let out = env.run(&b, &id);
        eprintln!(
            "/dev -> host dir {i}: ok={} stderr={:?}",
            out.ok, out.stderr
        );
        assert!(
            tree(&host).is_empty(),
            "/dev -> {target}: the runtime created {:?} in the host directory ({out:?})",
            tree(&host)
        );
    }
}

/// A rootfs whose /dev is a symlink to the host's /dev ("/dev" absolute,
/// and climbing). The container must not get the host's device nodes.
#[test]
fn dev_symlink_to_host_dev() {
    let env = Env::new();
    for (i, target) in ["/dev".to_string(), climbing(Path::new("/dev"))]
        .into_iter()
        .enumerate()
    {
        for with_tmpfs in [true, false] {
            let mut b = env.bundle(
                &format!("b{i}{with_tmpfs}"),
                &["sh", "-c", "ls /dev/; true"],
            );
            std::fs::remove_dir(b.rootfs.join("dev")).unwrap();
            symlink(&target, b.rootfs.join("dev")).unwrap();
            if !with_tmpfs {
                b.config["mounts"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|m| m["destination"] != "/dev");
            }
            let id = env.id("hostdev");
            let out = env.run(&b, &id);
            eprintln!(
                "/dev -> {target} tmpfs={with_tmpfs}: ok={} stderr={:?}",
                out.ok, out.stderr
            );
            if out.ok {
                for host_only in ["vda", "kmsg", "mem", "loop-control"] {
                    let listed = out.stdout.split_whitespace().any(|w| w == host_only);
                    assert!(!listed, "/dev -> {target} (tmpfs {with_tmpfs}): the container sees the host's /dev/{host_only}:\n{}", out.stdout);
                }
            } else {
                assert!(!out.stderr.is_empty(), "a refusal must say why");
            }
        }
    }
}

/// linux.devices with a path that climbs out of /dev ("/dev/../../x"):
/// clamped inside the root or refused.
#[test]
fn device_path_with_dotdot_stays_inside() {
    let env = Env::new();
    let host = host_dir(&env, "victim");
    let mut b = env.bundle("b", &["true"]);
    let p = format!("/dev/{}", climbing(&host.join("node")));
    b.config["linux"]["devices"] = json!([{"path": p, "type": "c", "major": 1, "minor": 3}]);
    let id = env.id("devdotdot");
    let out = env.run(&b, &id);
    eprintln!("device {p}: ok={} stderr={:?}", out.ok, out.stderr);
    assert!(
        tree(&host).is_empty(),
        "device {p}: created {:?} on the host ({out:?})",
        tree(&host)
    );
}

/// CVE-2025-31133: /dev/null is a symlink to another file (a host path,
/// an in-container secret, or a procfs file such as core_pattern) or a
/// plain file when masking binds it over the masked paths. The masked
/// paths must stay masked (or the runtime refuses); the symlink target
/// must never be bound over them.
#[test]
fn cve_2025_31133_dev_null_not_the_null_device() {
    let env = Env::new();
    let host_file = env.path().join("host-file");
    std::fs::write(&host_file, "HOSTDATA").unwrap();
    let targets = [
        ("symlink-host", Some(host_file.display().to_string())),
        ("symlink-climb", Some(climbing(&host_file))),
        ("symlink-inside", Some("/etc/exposed".to_string())),
        (
            "symlink-procfs",
            Some("/proc/sys/kernel/core_pattern".to_string()),
        ),
        ("regular-file", None),
    ];
    for (name, link) in targets {
        let mut b = env.bundle(
            name,
            &[
                "sh",
                "-c",
                "cat /etc/secret; echo; cat /proc/kcore | head -c 20; true",
            ],
        );
        std::fs::write(b.rootfs.join("etc/secret"), "SECRET").unwrap();
        std::fs::write(b.rootfs.join("etc/exposed"), "EXPOSED").unwrap();
        // /dev is a bind of a bundle directory: the runtime makes no nodes
        // there, /dev/null is whatever the image holds.
        let devdir = b.dir.join("devdir");
        std::fs::create_dir_all(&devdir).unwrap();
        match &link {
            Some(t) => symlink(t, devdir.join("null")).unwrap(),
            None => std::fs::write(devdir.join("null"), "REGULAR").unwrap(),
        }
        mknod(&devdir.join("zero"), libc::S_IFCHR, 1, 5);
        b.config["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| !m["destination"].as_str().unwrap().starts_with("/dev"));
        b.add_mount(json!({"destination": "/dev", "type": "bind", "source": devdir.to_str().unwrap(), "options": ["rbind"]}));
        b.config["linux"]["maskedPaths"]
            .as_array_mut()
            .unwrap()
            .push("/etc/secret".into());
        let id = env.id("devnull");
        let out = env.run(&b, &id);
        eprintln!(
            "/dev/null {name}: ok={} stdout={:?} stderr={:?}",
            out.ok, out.stdout, out.stderr
        );
        if out.ok {
            for leak in ["SECRET", "EXPOSED", "HOSTDATA", "REGULAR", "core"] {
                assert!(
                    !out.stdout.contains(leak),
                    "/dev/null {name}: masked path shows {leak:?}:\n{}",
                    out.stdout
                );
            }
        } else {
            assert!(
                out.stderr.contains("/dev/null"),
                "/dev/null {name}: refused without naming /dev/null: {}",
                out.stderr
            );
        }
        assert_eq!(std::fs::read_to_string(&host_file).unwrap(), "HOSTDATA");
    }
}

/// CVE-2025-52565: /dev/console in the image is a symlink (to a file in
/// the container, or to a procfs file). With a terminal the runtime binds
/// the pty on /dev/console; the bind must not follow the symlink onto the
/// target (which would hide/replace it with a writable pty, or redirect
/// writes meant for the console into e.g. /proc/sys/kernel/core_pattern).
#[test]
fn cve_2025_52565_dev_console_symlink() {
    let env = Env::new();
    for (name, target) in [
        ("inside", "/etc/target"),
        ("procfs", "/proc/sys/kernel/core_pattern"),
        ("climb", "../../../../../../etc/target"),
    ] {
        // (cat of a pty would block: test the type first.)
        let script =
            "if [ -c /etc/target ]; then echo TARGET-IS-PTY; else cat /etc/target; echo; fi; \
                      grep -c ' /proc/sys/kernel/core_pattern ' /proc/self/mountinfo; \
                      stat -c '%F' /dev/console; true";
        let mut b = env.bundle(name, &["sh", "-c", script]);
        std::fs::write(b.rootfs.join("etc/target"), "TARGET-FILE").unwrap();
        // No /dev tmpfs: the image's /dev (with its console symlink) is used.
        b.config["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["destination"] != "/dev");
        symlink(target, b.rootfs.join("dev/console")).unwrap();
        b.config["process"]["terminal"] = true.into();
        let id = env.id("console");
        let out = env.run(&b, &id);
        eprintln!("{name}: {out:?}");
        let host_core =
            std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default();
        if out.ok {
            assert!(
                !out.stdout.contains("TARGET-IS-PTY"),
                "/dev/console -> {target}: the pty was bound over the symlink's target:\n{}",
                out.stdout
            );
            assert!(
                out.stdout.contains("TARGET-FILE"),
                "/dev/console -> {target}: /etc/target was hidden:\n{}",
                out.stdout
            );
            let lines: Vec<&str> = out.stdout.lines().map(|l| l.trim()).collect();
            assert!(!lines.contains(&"1"), "/dev/console -> {target}: something was mounted on /proc/sys/kernel/core_pattern:\n{}", out.stdout);
        } else {
            assert!(
                out.stderr.contains("console"),
                "/dev/console -> {target}: refused without naming /dev/console: {}",
                out.stderr
            );
        }
        assert_eq!(
            std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default(),
            host_core
        );
    }
}

/// CVE-2025-52881 (and CVE-2019-19921 class): a symlinked /proc. Sysctl
/// writes must reach the real procfs file or be refused, never a file the
/// image planted (in the rootfs, or on the host through a climbing link).
#[test]
fn cve_2025_52881_symlinked_proc_sysctl() {
    let env = Env::new();
    let host_proc = host_dir(&env, "hostproc");
    std::fs::create_dir_all(host_proc.join("sys/kernel")).unwrap();
    std::fs::write(host_proc.join("sys/kernel/domainname"), "original").unwrap();
    for (name, target, with_proc_mount) in [
        ("inside", "/fakeproc".to_string(), false),
        ("climb", climbing(&host_proc), false),
        ("abs-host", host_proc.display().to_string(), false),
        ("inside-mounted", "/fakeproc".to_string(), true),
    ] {
        let mut b = env.bundle(
            name,
            &[
                "sh",
                "-c",
                "cat /fakeproc/sys/kernel/domainname; echo; ls /proc/ | head -3; true",
            ],
        );
        std::fs::create_dir_all(b.rootfs.join("fakeproc/sys/kernel")).unwrap();
        std::fs::write(b.rootfs.join("fakeproc/sys/kernel/domainname"), "original").unwrap();
        std::fs::remove_dir(b.rootfs.join("proc")).unwrap();
        symlink(&target, b.rootfs.join("proc")).unwrap();
        if !with_proc_mount {
            b.config["mounts"]
                .as_array_mut()
                .unwrap()
                .retain(|m| m["destination"] != "/proc");
            b.config["linux"]["maskedPaths"] = json!([]);
            b.config["linux"]["readonlyPaths"] = json!([]);
        }
        b.config["linux"]["sysctl"] = json!({"kernel.domainname": "pwned-domain"});
        let id = env.id("sysctl");
        let out = env.run(&b, &id);
        eprintln!("/proc -> {name}: ok={} stderr={:?}", out.ok, out.stderr);
        let planted =
            std::fs::read_to_string(b.rootfs.join("fakeproc/sys/kernel/domainname")).unwrap();
        assert_eq!(
            planted, "original",
            "/proc -> {target}: the sysctl was written into the image's fake file ({out:?})"
        );
        assert_eq!(
            std::fs::read_to_string(host_proc.join("sys/kernel/domainname")).unwrap(),
            "original",
            "/proc -> {target}: a host file was written"
        );
        if !out.ok {
            assert!(
                out.stderr.contains("proc") || out.stderr.contains("sysctl"),
                "/proc -> {target}: unclear refusal: {}",
                out.stderr
            );
        }
    }
}
