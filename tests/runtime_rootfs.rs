//! The container's root filesystem: mounts, propagation, read-only root,
//! devices, masked and read-only paths, sysctls, --no-pivot.

mod common;

use std::ffi::CString;
use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::json;

/// A mount made on the host for one test, detached on drop.
struct HostMount(PathBuf);

impl HostMount {
    fn tmpfs(at: &Path) -> HostMount {
        let t = CString::new("tmpfs").unwrap();
        let p = CString::new(at.to_str().unwrap()).unwrap();
        // SAFETY: mount(2) with valid C strings.
        let r = unsafe { libc::mount(t.as_ptr(), p.as_ptr(), t.as_ptr(), 0, std::ptr::null()) };
        assert_eq!(
            r,
            0,
            "mount tmpfs on {}: {}",
            at.display(),
            std::io::Error::last_os_error()
        );
        HostMount(at.to_path_buf())
    }

    /// Bind `at` onto itself and make it shared.
    fn shared_self_bind(at: &Path) -> HostMount {
        let p = CString::new(at.to_str().unwrap()).unwrap();
        // SAFETY: mount(2) with valid C strings.
        unsafe {
            assert_eq!(
                libc::mount(
                    p.as_ptr(),
                    p.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null()
                ),
                0
            );
            assert_eq!(
                libc::mount(
                    std::ptr::null(),
                    p.as_ptr(),
                    std::ptr::null(),
                    libc::MS_SHARED,
                    std::ptr::null()
                ),
                0
            );
        }
        HostMount(at.to_path_buf())
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let p = CString::new(self.0.to_str().unwrap()).unwrap();
        // SAFETY: umount2 with a valid C string.
        unsafe { libc::umount2(p.as_ptr(), libc::MNT_DETACH) };
    }
}

fn mountinfo_line<'a>(mountinfo: &'a str, mountpoint: &str) -> Option<&'a str> {
    // The last mount on a mountpoint is the visible one.
    mountinfo
        .lines()
        .rfind(|l| l.split_whitespace().nth(4) == Some(mountpoint))
}

#[test]
fn mounts_are_made_in_config_order() {
    let ctx = Ctx::new();
    let a = shared_dir();
    let bdir = shared_dir();
    fs::write(a.path().join("f"), "first\n").unwrap();
    fs::write(bdir.path().join("f"), "second\n").unwrap();
    let mut b = Bundle::sh("cat /mnt/o/f; cat /mnt/t/sub/g; grep -E ' /mnt/(o|t)' /proc/self/mountinfo | awk '{print $5}'");
    // Two mounts on one destination: the later one is on top. A bind into
    // a tmpfs needs the tmpfs first.
    b.add_mount(
        json!({"destination": "/mnt/o", "type": "bind", "source": a.path(), "options": ["bind"]}),
    );
    b.add_mount(json!({"destination": "/mnt/o", "type": "bind", "source": bdir.path(), "options": ["bind"]}));
    b.add_mount(json!({"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
    fs::write(a.path().join("g"), "in-tmpfs\n").unwrap();
    b.add_mount(json!({"destination": "/mnt/t/sub", "type": "bind", "source": a.path(), "options": ["bind"]}));
    let id = ctx.id("order");
    let out = ctx.run(&b, &id);
    out.success();
    let l = out.lines();
    assert_eq!(l[0], "second", "{out}");
    assert_eq!(l[1], "in-tmpfs", "{out}");
    assert_eq!(
        l[2..],
        ["/mnt/o", "/mnt/o", "/mnt/t", "/mnt/t/sub"],
        "{out}"
    );
}

#[test]
fn bind_mount_of_a_host_dir_is_writable() {
    let ctx = Ctx::new();
    let d = shared_dir();
    fs::write(d.path().join("in"), "from host\n").unwrap();
    let mut b = Bundle::sh("cat /data/in; echo from container > /data/out");
    b.bind(d.path(), "/data");
    let id = ctx.id("bind");
    let out = ctx.run(&b, &id);
    out.success();
    assert_eq!(out.stdout, "from host\n");
    assert_eq!(
        fs::read_to_string(d.path().join("out")).unwrap(),
        "from container\n"
    );
}

#[test]
fn bind_versus_rbind_of_a_dir_with_a_submount() {
    let ctx = Ctx::new();
    let d = shared_dir();
    fs::create_dir(d.path().join("sub")).unwrap();
    fs::write(d.path().join("sub/under"), "under the mount\n").unwrap();
    let _m = HostMount::tmpfs(&d.path().join("sub"));
    fs::write(d.path().join("sub/on"), "on the submount\n").unwrap();
    let mut b = Bundle::sh("cat /r/sub/on; cat /b/sub/under; ls /b/sub");
    b.add_mount(
        json!({"destination": "/r", "type": "bind", "source": d.path(), "options": ["rbind"]}),
    );
    b.add_mount(
        json!({"destination": "/b", "type": "bind", "source": d.path(), "options": ["bind"]}),
    );
    let id = ctx.id("rbind");
    let out = ctx.run(&b, &id);
    out.success();
    assert_eq!(
        out.lines(),
        ["on the submount", "under the mount", "under"],
        "rbind carries submounts, bind does not: {out}"
    );
}

#[test]
fn bind_mount_of_a_file() {
    let ctx = Ctx::new();
    let d = shared_dir();
    let f = d.path().join("file.txt");
    fs::write(&f, "a bound file\n").unwrap();
    let mut b = Bundle::sh("cat /etc/bound.txt; echo appended >> /etc/bound.txt; test -f /etc/bound.txt && echo is-file");
    b.add_mount(
        json!({"destination": "/etc/bound.txt", "type": "bind", "source": f, "options": ["bind"]}),
    );
    let id = ctx.id("bindfile");
    let out = ctx.run(&b, &id);
    out.success();
    assert_eq!(out.lines(), ["a bound file", "is-file"]);
    assert_eq!(fs::read_to_string(&f).unwrap(), "a bound file\nappended\n");
}

#[test]
fn read_only_bind_mount() {
    let ctx = Ctx::new();
    let d = shared_dir();
    fs::write(d.path().join("keep"), "unchanged\n").unwrap();
    let mut b = Bundle::sh(
        "cat /ro/keep; echo nope > /ro/keep 2>/dev/null && echo WROTE; touch /ro/new 2>/dev/null && echo CREATED; \
         grep ' /ro ' /proc/self/mountinfo | awk '{print $6}'",
    );
    b.add_mount(json!({"destination": "/ro", "type": "bind", "source": d.path(), "options": ["rbind", "ro"]}));
    let id = ctx.id("robind");
    let out = ctx.run(&b, &id);
    out.success();
    assert_eq!(out.lines()[0], "unchanged");
    assert!(
        !out.stdout.contains("WROTE") && !out.stdout.contains("CREATED"),
        "{out}"
    );
    assert!(
        out.lines().last().unwrap().split(',').any(|o| o == "ro"),
        "{out}"
    );
    assert_eq!(
        fs::read_to_string(d.path().join("keep")).unwrap(),
        "unchanged\n"
    );
    assert!(!d.path().join("new").exists());
}

#[test]
fn tmpfs_mode_and_size_options() {
    let ctx = Ctx::new();
    let mut b = Bundle::sh("grep ' /mnt/t ' /proc/mounts; stat -c %a /mnt/t");
    b.add_mount(json!({"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1750", "size=2m"]}));
    let id = ctx.id("tmpfs");
    let out = ctx.run(&b, &id);
    out.success();
    let line = out.lines()[0];
    let opts: Vec<&str> = line.split_whitespace().nth(3).unwrap().split(',').collect();
    for o in ["nosuid", "nodev", "size=2048k", "mode=1750"] {
        assert!(opts.contains(&o), "{o} not in {line}");
    }
    assert_eq!(out.lines()[1], "1750");
}

#[test]
fn rootfs_propagation_shared() {
    let ctx = Ctx::new();
    let mut b = Bundle::sh("cat /proc/self/mountinfo");
    b.edit(|c| c["linux"]["rootfsPropagation"] = json!("shared"));
    let id = ctx.id("propshared");
    let out = ctx.run(&b, &id);
    out.success();
    let root = mountinfo_line(&out.stdout, "/").expect("a / line");
    assert!(root.contains(" shared:"), "/ should be shared: {root}");
}

#[test]
fn rootfs_propagation_private() {
    let ctx = Ctx::new();
    let mut b = Bundle::sh("cat /proc/self/mountinfo");
    b.edit(|c| c["linux"]["rootfsPropagation"] = json!("private"));
    let id = ctx.id("propprivate");
    let out = ctx.run(&b, &id);
    out.success();
    let root = mountinfo_line(&out.stdout, "/").expect("a / line");
    assert!(
        !root.contains(" shared:") && !root.contains(" master:"),
        "/ should be private: {root}"
    );
}

#[test]
fn rootfs_propagation_slave_of_a_shared_host_mount() {
    // The bundle is a shared mount on the host. With "slave" the
    // container's / must not be a peer of it (mounts would propagate back
    // to the host). runc 1.1.5 shows no propagation tag at all here, so a
    // "master:" tag is not required.
    let ctx = Ctx::new();
    let mut b = Bundle::sh("cat /proc/self/mountinfo");
    b.edit(|c| c["linux"]["rootfsPropagation"] = json!("slave"));
    let _m = HostMount::shared_self_bind(b.path());
    let id = ctx.id("propslave");
    let out = ctx.run(&b, &id);
    out.success();
    let root = mountinfo_line(&out.stdout, "/").expect("a / line");
    assert!(!root.contains(" shared:"), "/ should not be shared: {root}");
}

#[test]
fn readonly_root_with_writable_tmpfs() {
    let ctx = Ctx::new();
    let mut b = Bundle::sh(
        "touch /newfile 2>/dev/null && echo ROOT-WRITABLE; echo ok > /tmp/x && cat /tmp/x; \
         grep -E '^[^ ]+ / ' /proc/mounts | awk '{print $4}'",
    );
    b.edit(|c| c["root"]["readonly"] = json!(true));
    b.add_mount(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["mode=1777"]}));
    let id = ctx.id("rootro");
    let out = ctx.run(&b, &id);
    out.success();
    assert!(!out.stdout.contains("ROOT-WRITABLE"), "{out}");
    assert_eq!(out.lines()[0], "ok");
    assert!(
        out.lines().last().unwrap().split(',').any(|o| o == "ro"),
        "/ is not mounted ro: {out}"
    );
    assert!(!b.rootfs().join("newfile").exists());
}

#[test]
fn default_devices() {
    let ctx = Ctx::new();
    let out = ctx.run_sh(
        "for d in null zero full random urandom tty; do stat -c '%n %F %a %t %T' /dev/$d; done",
    );
    out.success();
    let want = [
        "/dev/null character special file 666 1 3",
        "/dev/zero character special file 666 1 5",
        "/dev/full character special file 666 1 7",
        "/dev/random character special file 666 1 8",
        "/dev/urandom character special file 666 1 9",
        "/dev/tty character special file 666 5 0",
    ];
    assert_eq!(out.lines(), want, "{out}");
}

#[test]
fn default_devices_work() {
    let ctx = Ctx::new();
    let out = ctx.run_sh("echo x > /dev/null && echo null-ok; head -c 4 /dev/zero | od -An -tx1; head -c 8 /dev/urandom | wc -c; echo x > /dev/full 2>/dev/null || echo full-fails");
    out.success();
    assert_eq!(
        out.lines().iter().map(|l| l.trim()).collect::<Vec<_>>(),
        ["null-ok", "00 00 00 00", "8", "full-fails"],
        "{out}"
    );
}

#[test]
fn dev_symlinks() {
    let ctx = Ctx::new();
    let out =
        ctx.run_sh("for l in ptmx fd stdin stdout stderr; do echo $l $(readlink /dev/$l); done");
    out.success();
    assert_eq!(
        out.lines(),
        [
            "ptmx pts/ptmx",
            "fd /proc/self/fd",
            "stdin /proc/self/fd/0",
            "stdout /proc/self/fd/1",
            "stderr /proc/self/fd/2"
        ],
        "{out}"
    );
}

#[test]
fn linux_devices_node_with_owner_and_mode() {
    let ctx = Ctx::new();
    let mut b =
        Bundle::sh("stat -c '%F %a %t %T %u %g' /dev/mydev; stat -c '%F %t %T' /dev/sub/blk");
    b.edit(|c| {
        c["linux"]["devices"] = json!([
            {"path": "/dev/mydev", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640, "uid": 1000, "gid": 2000},
            {"path": "/dev/sub/blk", "type": "b", "major": 7, "minor": 200, "fileMode": 0o600}
        ]);
    });
    let id = ctx.id("devices");
    let out = ctx.run(&b, &id);
    out.success();
    assert_eq!(
        out.lines(),
        [
            "character special file 640 1 3 1000 2000",
            "block special file 7 c8"
        ],
        "{out}"
    );
}

#[test]
fn linux_devices_are_usable_when_allowed() {
    let ctx = Ctx::new();
    let mut b = Bundle::sh("echo hi > /dev/mynull && echo written");
    b.edit(|c| {
        c["linux"]["devices"] = json!([{"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666}]);
        c["linux"]["resources"]["devices"] = json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
        ]);
    });
    let id = ctx.id("devuse");
    let out = ctx.run(&b, &id);
    out.success();
    assert_eq!(out.stdout, "written\n");
}

#[test]
fn masked_paths() {
    let ctx = Ctx::new();
    let mut b = Bundle::sh(
        "echo \"[$(cat /etc/secret.txt)]\"; echo \"[$(ls -A /etc/secretdir)]\"; echo \"[$(head -c 10 /proc/kcore | wc -c)]\"",
    );
    fs::write(b.rootfs().join("etc/secret.txt"), "top secret\n").unwrap();
    fs::create_dir(b.rootfs().join("etc/secretdir")).unwrap();
    fs::write(b.rootfs().join("etc/secretdir/inner"), "x").unwrap();
    b.edit(|c| {
        c["linux"]["maskedPaths"].as_array_mut().unwrap().extend([
            json!("/etc/secret.txt"),
            json!("/etc/secretdir"),
            json!("/no/such/path"),
        ]);
    });
    let id = ctx.id("masked");
    let out = ctx.run(&b, &id);
    out.success();
    assert_eq!(out.lines(), ["[]", "[]", "[0]"], "{out}");
    // The host files are untouched.
    assert_eq!(
        fs::read_to_string(b.rootfs().join("etc/secret.txt")).unwrap(),
        "top secret\n"
    );
}

#[test]
fn readonly_paths() {
    let ctx = Ctx::new();
    let mut b = Bundle::sh(
        "echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null && echo PROC-WRITABLE; touch /etc/rodir/x 2>/dev/null && echo DIR-WRITABLE; \
         cat /etc/rodir/f; touch /etc/other && echo other-ok",
    );
    fs::create_dir(b.rootfs().join("etc/rodir")).unwrap();
    fs::write(b.rootfs().join("etc/rodir/f"), "readable\n").unwrap();
    b.edit(|c| {
        c["linux"]["readonlyPaths"]
            .as_array_mut()
            .unwrap()
            .push(json!("/etc/rodir"))
    });
    let id = ctx.id("ropaths");
    let out = ctx.run(&b, &id);
    out.success();
    assert_eq!(out.lines(), ["readable", "other-ok"], "{out}");
}

#[test]
fn sysctls_in_new_namespaces() {
    let ctx = Ctx::new();
    let host_fwd = fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let host_shm = fs::read_to_string("/proc/sys/kernel/shmmax").unwrap();
    let want_fwd = if host_fwd.trim() == "1" { "0" } else { "1" };
    let mut b = Bundle::sh("cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax");
    b.edit(|c| {
        c["linux"]["sysctl"] =
            json!({"net.ipv4.ip_forward": want_fwd, "kernel.shmmax": "123456789"})
    });
    let id = ctx.id("sysctl");
    let out = ctx.run(&b, &id);
    out.success();
    assert_eq!(out.lines(), [want_fwd, "123456789"], "{out}");
    assert_eq!(
        fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        host_fwd,
        "host sysctl changed"
    );
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/shmmax").unwrap(),
        host_shm,
        "host sysctl changed"
    );
}

#[test]
fn sysctl_without_its_namespace_is_refused() {
    let ctx = Ctx::new();
    let mut b = Bundle::sh("true");
    b.remove_ns("network");
    b.edit(|c| c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"}));
    let id = ctx.id("sysctlbad");
    ctx.run(&b, &id).fails_with(&["net.ipv4.ip_forward"]);
    ctx.assert_no_leftovers(&id);
}

#[test]
fn no_pivot() {
    let ctx = Ctx::new();
    let b = Bundle::sh("ls /; cat /etc/hostname; echo ok > /tmp/w && cat /tmp/w");
    let id = ctx.id("nopivot");
    let mut c = ctx.cmd();
    c.arg("run")
        .arg("--no-pivot")
        .arg("--bundle")
        .arg(b.path())
        .arg(&id);
    let out = run_cmd(&mut c, CMD_TIMEOUT);
    out.success();
    assert!(
        out.stdout.contains("bin\n") && out.stdout.contains("rootfs\nok\n"),
        "{out}"
    );
    assert!(!out.stdout.contains("rootfs\n\n"));
    assert_eq!(
        fs::read_to_string(b.rootfs().join("tmp/w")).unwrap(),
        "ok\n"
    );
    ctx.assert_no_leftovers(&id);
}

#[test]
fn proc_and_sys_are_mounted() {
    let ctx = Ctx::new();
    let out = ctx.run_sh("awk '$2==\"/proc\"||$2==\"/sys\"||$2==\"/dev\"||$2==\"/dev/pts\"||$2==\"/dev/shm\"||$2==\"/dev/mqueue\" {print $2, $3}' /proc/mounts");
    out.success();
    assert_eq!(
        out.lines(),
        [
            "/proc proc",
            "/dev tmpfs",
            "/dev/pts devpts",
            "/dev/shm tmpfs",
            "/dev/mqueue mqueue",
            "/sys sysfs"
        ],
        "{out}"
    );
}

/// idmap (mount extension of runtime-spec 1.2+): a bind whose files owned
/// by on-disk uid/gid 0 show up as 1000 through the mount's mappings, and
/// an idmap without mappings anywhere is refused before anything exists.
#[test]
fn idmap_bind_maps_file_owners() {
    let ctx = Ctx::new();
    let host = shared_dir();
    fs::write(host.path().join("f"), "x").unwrap();
    std::os::unix::fs::chown(host.path().join("f"), Some(0), Some(0)).unwrap();
    let mut b = Bundle::sh("stat -c '%u:%g' /mnt/f");
    b.add_mount(serde_json::json!({
        "destination": "/mnt", "type": "bind", "source": host.path(),
        "options": ["rbind", "idmap"],
        "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 10}],
        "gidMappings": [{"containerID": 0, "hostID": 2000, "size": 10}]
    }));
    let id = ctx.id("idmap");
    let out = ctx.run(&b, &id);
    out.success();
    assert_eq!(out.stdout.trim(), "1000:2000", "{out:?}");

    let mut bad = Bundle::sh("true");
    bad.add_mount(serde_json::json!({
        "destination": "/mnt", "type": "bind", "source": host.path(), "options": ["rbind", "idmap"]
    }));
    let id = ctx.id("idmap-bad");
    ctx.run(&bad, &id).fails_with(&["idmap", "/mnt"]);
    ctx.assert_no_leftovers(&id);
}
