//! Namespaces: new ones of each type, user namespace mappings, time
//! offsets, and joining an existing namespace by path.

mod common;

use std::fs;
use std::time::Duration;

use common::*;
use serde_json::json;

fn host_ns(kind: &str) -> String {
    fs::read_link(format!("/proc/self/ns/{kind}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn pid_namespace_makes_the_process_pid_1() {
    let ctx = Ctx::new();
    let out = ctx.run_sh("echo $$; ls /proc | grep -c '^[0-9]'; readlink /proc/self/ns/pid");
    out.success();
    let l = out.lines();
    assert_eq!(l[0], "1", "{out}");
    let n: u32 = l[1].parse().unwrap();
    assert!(
        n <= 3,
        "only the container's processes are visible in /proc: {out}"
    );
    assert_ne!(l[2], host_ns("pid"));
}

#[test]
fn without_pid_namespace_the_host_pids_are_seen() {
    let ctx = Ctx::new();
    let mut b = Bundle::sh("echo $$; readlink /proc/self/ns/pid");
    b.remove_ns("pid");
    let id = ctx.id("nopid");
    let out = ctx.run(&b, &id);
    out.success();
    assert_ne!(out.lines()[0], "1", "{out}");
    assert_eq!(out.lines()[1], host_ns("pid"));
}

#[test]
fn uts_namespace_hostname_and_domainname() {
    let ctx = Ctx::new();
    let mut b = Bundle::sh("hostname; cat /proc/sys/kernel/domainname; readlink /proc/self/ns/uts");
    b.edit(|c| {
        c["hostname"] = json!("ctr-host");
        c["domainname"] = json!("example.org");
    });
    let id = ctx.id("uts");
    let out = ctx.run(&b, &id);
    out.success();
    assert_eq!(out.lines()[..2], ["ctr-host", "example.org"], "{out}");
    assert_ne!(out.lines()[2], host_ns("uts"));
    let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_ne!(host.trim(), "ctr-host", "the host hostname changed");
}

#[test]
fn ipc_mount_network_namespaces_are_new() {
    let ctx = Ctx::new();
    let out = ctx.run_sh("for n in ipc mnt net cgroup; do readlink /proc/self/ns/$n; done");
    out.success();
    let l = out.lines();
    assert_eq!(l.len(), 4, "{out}");
    for (i, n) in ["ipc", "mnt", "net", "cgroup"].iter().enumerate() {
        assert_ne!(l[i], host_ns(n), "{n} namespace is the host's");
        assert!(l[i].starts_with(&format!("{n}:[")), "{out}");
    }
}

#[test]
fn network_namespace_has_only_lo() {
    let ctx = Ctx::new();
    let out = ctx.run_sh("ls /sys/class/net; echo --; ip -o link | cut -d: -f2");
    out.success();
    let (sys, ip) = out.stdout.split_once("--\n").unwrap();
    assert_eq!(sys.split_whitespace().collect::<Vec<_>>(), ["lo"], "{out}");
    assert_eq!(ip.split_whitespace().collect::<Vec<_>>(), ["lo"], "{out}");
}

#[test]
fn ipc_namespace_isolates_sysv_ipc() {
    let ctx = Ctx::new();
    let out = ctx.run_sh("cat /proc/sysvipc/shm | wc -l; ipcs -m | grep -c '^0x' || true");
    out.success();
    assert_eq!(
        out.lines()[0],
        "1",
        "only the header of /proc/sysvipc/shm: {out}"
    );
}

#[test]
fn user_namespace_with_mappings() {
    let ctx = Ctx::new();
    let mut b = Bundle::sh(
        "id -u; id -g; cat /proc/self/uid_map; cat /proc/self/gid_map; readlink /proc/self/ns/user; \
         ls -ln /bin/busybox | awk '{print $3, $4}'; touch /tmp/made-inside && echo wrote; exec sleep 60",
    );
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 300000, "size": 65536}]);
        // A cgroup v1 hierarchy cannot be mounted from a user namespace.
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["destination"] != "/sys/fs/cgroup");
    });
    let id = ctx.id("userns");
    // Detached, so the host side of the ids can be seen too.
    let out = ctx.rt(&["run", "-d", "--bundle", b.path().to_str().unwrap(), &id]);
    out.success();
    let pid = ctx.pid(&id);
    ctx.track_pid(pid);
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert_eq!(
        field(&status, "Uid:").unwrap().split_whitespace().next(),
        Some("200000"),
        "{status}"
    );
    assert_eq!(
        field(&status, "Gid:").unwrap().split_whitespace().next(),
        Some("300000"),
        "{status}"
    );
    assert_eq!(
        fs::read_to_string(format!("/proc/{pid}/uid_map"))
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["0", "200000", "65536"]
    );
    // Host files appear as the overflow id; the new file belongs to the mapped root.
    ctx.wait_status(&id, "running", Duration::from_secs(5));
    let made = b.rootfs().join("tmp/made-inside");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !made.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(&made).expect("the mapped root could write /tmp of the rootfs");
    assert_eq!((m.uid(), m.gid()), (200000, 300000));
    ctx.delete(&id, true).success();

    // And the inside view, in the foreground.
    b.set_sh(
        "id -u; id -g; cat /proc/self/uid_map; cat /proc/self/gid_map; readlink /proc/self/ns/user",
    );
    let id2 = ctx.id("userns2");
    let out = ctx.run(&b, &id2);
    out.success();
    let l = out.lines();
    assert_eq!(l[0], "0", "{out}");
    assert_eq!(l[1], "0", "{out}");
    assert_eq!(
        l[2].split_whitespace().collect::<Vec<_>>(),
        ["0", "200000", "65536"],
        "{out}"
    );
    assert_eq!(
        l[3].split_whitespace().collect::<Vec<_>>(),
        ["0", "300000", "65536"],
        "{out}"
    );
    assert_ne!(l[4], host_ns("user"));
}

#[test]
fn cgroup_namespace_shows_root() {
    let ctx = Ctx::new();
    let out = ctx.run_sh("cat /proc/self/cgroup");
    out.success();
    for line in out.lines() {
        assert!(
            line.ends_with(":/"),
            "in a cgroup namespace every path is /: {out}"
        );
    }
    assert!(out.lines().len() >= 2, "{out}");
}

#[test]
fn time_namespace_offsets() {
    let ctx = Ctx::new();
    let boot_off: i64 = 10 * 86400;
    let mut b = Bundle::sh("cat /proc/uptime; readlink /proc/self/ns/time");
    b.edit(|c| {
        c["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "time"}));
        c["linux"]["timeOffsets"] = json!({"boottime": {"secs": boot_off, "nanosecs": 0}, "monotonic": {"secs": 3600, "nanosecs": 0}});
    });
    let id = ctx.id("time");
    let before: f64 = fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let out = ctx.run(&b, &id);
    let after: f64 = fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    out.success();
    let inside: f64 = out.lines()[0]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        inside >= before + boot_off as f64 - 1.0 && inside <= after + boot_off as f64 + 1.0,
        "uptime inside {inside}, host {before}..{after}, offset {boot_off}"
    );
    assert_ne!(out.lines()[1], host_ns("time"));
    // The runtime restored its own time namespace: the host is unchanged.
    assert!(after < before + 60.0);
}

#[test]
fn join_network_namespace_of_another_container_by_path() {
    let ctx = Ctx::new();
    let a = Bundle::sh("exec sleep 60");
    let ida = ctx.id("neta");
    let pida = ctx.create_started(&a, &ida);
    let want = fs::read_link(format!("/proc/{pida}/ns/net"))
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_ne!(want, host_ns("net"));

    let mut b = Bundle::sh(
        "readlink /proc/self/ns/net; stat -L -c %i /proc/self/ns/net; readlink /proc/self/ns/uts",
    );
    b.add_ns(json!({"type": "network", "path": format!("/proc/{pida}/ns/net")}));
    let idb = ctx.id("netb");
    let out = ctx.run(&b, &idb);
    out.success();
    assert_eq!(out.lines()[0], want, "{out}");
    use std::os::unix::fs::MetadataExt;
    let ino = fs::metadata(format!("/proc/{pida}/ns/net")).unwrap().ino();
    assert_eq!(out.lines()[1], ino.to_string());
    // Other namespaces are still new.
    assert_ne!(
        out.lines()[2],
        fs::read_link(format!("/proc/{pida}/ns/uts"))
            .unwrap()
            .to_string_lossy()
    );
    // The first container is unaffected.
    assert_eq!(ctx.status(&ida), "running");
}

#[test]
fn join_uts_namespace_by_path_shares_hostname() {
    let ctx = Ctx::new();
    let mut a = Bundle::sh("exec sleep 60");
    a.edit(|c| c["hostname"] = json!("shared-uts"));
    let ida = ctx.id("utsa");
    let pida = ctx.create_started(&a, &ida);
    let mut b = Bundle::sh("hostname");
    b.edit(|c| {
        c.as_object_mut().unwrap().remove("hostname");
    });
    b.add_ns(json!({"type": "uts", "path": format!("/proc/{pida}/ns/uts")}));
    let idb = ctx.id("utsb");
    let out = ctx.run(&b, &idb);
    out.success();
    assert_eq!(out.stdout.trim(), "shared-uts");
}

#[test]
fn join_namespace_with_bad_path_fails_cleanly() {
    let ctx = Ctx::new();
    let mut b = Bundle::sh("true");
    b.add_ns(json!({"type": "network", "path": "/proc/self/ns/does-not-exist"}));
    let id = ctx.id("badjoin");
    let out = ctx.run(&b, &id);
    out.fails_with(&["/proc/self/ns/does-not-exist"]);
    ctx.assert_no_leftovers(&id);
}

/// A new network namespace has its loopback up, as runc leaves it
/// (clients such as `podman --network none` rely on it).
#[test]
fn new_network_namespace_has_loopback_up() {
    let ctx = Ctx::new();
    // The kernel gives lo its 127.0.0.1 only once it is up.
    let out = ctx.run_sh("ip -o link show lo; ip -o addr show lo");
    out.success();
    assert!(
        out.stdout.contains("LOOPBACK,UP") && out.stdout.contains("127.0.0.1"),
        "{out:?}"
    );
}
