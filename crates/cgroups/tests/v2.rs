//! Root integration tests for the cgroup v2 manager. The full lifecycle needs
//! a unified host (run in the cgroup v2 VM, see README in this crate); the
//! device-program test also runs on a hybrid host's cgroup2 mount, since
//! device programs need no controller.

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{is_root, unique, Guard};
use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType,
    LinuxMemoryBuilder, LinuxNetworkBuilder, LinuxPidsBuilder, LinuxResources,
    LinuxResourcesBuilder,
};
use onggi_cgroups::{detect, AttachHandles, Cgroup, Hierarchy};

fn cgroup2_mount() -> Option<PathBuf> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    mi.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        if !post.starts_with("cgroup2 ") {
            return None;
        }
        pre.split(' ').nth(4).map(PathBuf::from)
    })
}

fn unified_host() -> bool {
    if !is_root() {
        eprintln!("skipped: not root");
        return false;
    }
    match detect() {
        Ok(Hierarchy::Unified) => true,
        other => {
            eprintln!("skipped: not a cgroup v2 host ({other:?})");
            false
        }
    }
}

fn read(p: &Path, f: &str) -> String {
    std::fs::read_to_string(p.join(f))
        .unwrap_or_else(|e| panic!("{}: {e}", p.join(f).display()))
        .trim()
        .to_string()
}

fn dev_rule(
    allow: bool,
    t: Option<LinuxDeviceType>,
    maj: i64,
    min: i64,
    acc: &str,
) -> oci_spec::runtime::LinuxDeviceCgroup {
    let mut b = LinuxDeviceCgroupBuilder::default().allow(allow).access(acc);
    if let Some(t) = t {
        b = b.typ(t).major(maj).minor(min);
    }
    b.build().unwrap()
}

/// Run `script` with sh in the cgroup (joining through the pre-opened
/// cgroup.procs after fork) and return its exit code.
fn run_in(h: AttachHandles, script: &str) -> i32 {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg(script);
    // SAFETY: enter() only calls write(2) on fds it owns; no allocation.
    unsafe {
        cmd.pre_exec(move || {
            h.enter()
                .map_err(|(e, _)| std::io::Error::from_raw_os_error(e as i32))
        });
    }
    cmd.status().unwrap().code().unwrap_or(-1)
}

const NULL_OK_ZERO_DENIED: &str =
    "echo x > /dev/null || exit 3; if head -c1 /dev/zero >/dev/null 2>&1; then exit 4; fi; exit 0";

#[test]
fn device_program() {
    if !is_root() {
        return;
    }
    let Some(mount) = cgroup2_mount() else {
        eprintln!("skipped: no cgroup2 mount");
        return;
    };
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let own = own
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap()
        .to_string();
    let mut base = mount.clone();
    base.extend(own.split('/').filter(|c| !c.is_empty()));
    let mut g = Guard::new(Cgroup::from_v2_dir(mount, base.join(unique("dev"))));
    g.cg.create().unwrap();
    let null_only = LinuxResourcesBuilder::default()
        .devices(vec![
            dev_rule(false, None, 0, 0, "rwm"),
            dev_rule(true, Some(LinuxDeviceType::C), 1, 3, "rwm"),
        ])
        .build()
        .unwrap();
    g.cg.apply(&null_only).unwrap();
    assert_eq!(
        run_in(g.cg.attach_handles().unwrap(), NULL_OK_ZERO_DENIED),
        0
    );
    // Updating replaces the program instead of stacking a second one (which
    // would keep /dev/zero denied).
    let both = LinuxResourcesBuilder::default()
        .devices(vec![
            dev_rule(true, Some(LinuxDeviceType::C), 1, 3, "rwm"),
            dev_rule(true, Some(LinuxDeviceType::C), 1, 5, "r"),
        ])
        .build()
        .unwrap();
    g.cg.update(&both).unwrap();
    assert_eq!(
        run_in(
            g.cg.attach_handles().unwrap(),
            "head -c1 /dev/zero >/dev/null && echo > /dev/null"
        ),
        0
    );
    // /dev/zero is allowed for read only: no write, no mknod.
    let t = std::env::temp_dir().join(unique("node"));
    let script = format!(
        "if mknod {0} c 1 5 2>/dev/null; then rm -f {0}; exit 5; fi; \
         if echo > /dev/zero 2>/dev/null; then exit 6; fi; exit 0",
        t.display()
    );
    assert_eq!(run_in(g.cg.attach_handles().unwrap(), &script), 0);
}

#[test]
fn lifecycle() {
    if !unified_host() {
        return;
    }
    let id = unique("life");
    let mut g = Guard::new(Cgroup::resolve(None, &id).unwrap());
    assert!(g.cg.is_v2());
    g.cg.create().unwrap();
    let dir = g.cg.paths()[0].1.to_path_buf();
    assert!(dir.is_dir());
    let ctl = read(&dir, "cgroup.controllers");
    for c in ["cpu", "memory", "pids", "io"] {
        assert!(ctl.split(' ').any(|x| x == c), "{c} missing from {ctl}");
    }
    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(64 << 20)
                .reservation(16 << 20)
                .build()
                .unwrap(),
        )
        .cpu(
            LinuxCpuBuilder::default()
                .shares(1024u64)
                .quota(20000)
                .period(100000u64)
                .cpus("0")
                .mems("0")
                .build()
                .unwrap(),
        )
        .pids(LinuxPidsBuilder::default().limit(32).build().unwrap())
        .block_io(
            LinuxBlockIoBuilder::default()
                .weight(500u16)
                .build()
                .unwrap(),
        )
        .devices(vec![
            dev_rule(false, None, 0, 0, "rwm"),
            dev_rule(true, Some(LinuxDeviceType::C), 1, 3, "rwm"),
        ])
        .unified(
            [("memory.high".to_string(), "50000000".to_string())]
                .into_iter()
                .collect::<std::collections::HashMap<_, _>>(),
        )
        .build()
        .unwrap();
    g.cg.apply(&r).unwrap();
    assert_eq!(read(&dir, "memory.max"), (64u64 << 20).to_string());
    assert_eq!(read(&dir, "memory.low"), (16u64 << 20).to_string());
    assert_eq!(read(&dir, "memory.high"), "49999872"); // page aligned
    assert_eq!(read(&dir, "cpu.weight"), "100");
    assert_eq!(read(&dir, "cpu.max"), "20000 100000");
    assert_eq!(read(&dir, "cpuset.cpus"), "0");
    assert_eq!(read(&dir, "pids.max"), "32");
    if dir.join("memory.swap.max").exists() {
        let swap = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(64 << 20)
                    .swap(96 << 20)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        g.cg.update(&swap).unwrap();
        assert_eq!(read(&dir, "memory.swap.max"), (32u64 << 20).to_string());
    }
    let only_quota = LinuxResourcesBuilder::default()
        .cpu(LinuxCpuBuilder::default().quota(-1).build().unwrap())
        .build()
        .unwrap();
    g.cg.update(&only_quota).unwrap();
    assert_eq!(read(&dir, "cpu.max"), "max 100000");

    // Values the host cannot apply name the file.
    let check = |r: LinuxResources, needle: &str| {
        let e = g.cg.apply(&r).unwrap_err().to_string();
        assert!(e.contains(needle), "{needle}: {e}");
    };
    check(
        LinuxResourcesBuilder::default()
            .network(
                LinuxNetworkBuilder::default()
                    .class_id(1u32)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap(),
        "net_cls.classid",
    );
    check(
        LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .swappiness(10u64)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap(),
        "memory.swappiness",
    );
    check(
        LinuxResourcesBuilder::default()
            .unified(
                [("memory.nonexistent".to_string(), "1".to_string())]
                    .into_iter()
                    .collect::<std::collections::HashMap<_, _>>(),
            )
            .build()
            .unwrap(),
        "memory.nonexistent",
    );

    // Processes.
    let pid = g.spawn_sleep();
    g.cg.add_process(pid).unwrap();
    let h = g.cg.attach_handles().unwrap();
    assert!(h.clone_into_fd().is_some());
    assert_eq!(run_in(h, NULL_OK_ZERO_DENIED), 0);
    assert_eq!(g.cg.pids().unwrap(), vec![pid]);

    g.cg.freeze().unwrap();
    assert!(g.cg.is_frozen().unwrap());
    assert_eq!(read(&dir, "cgroup.freeze"), "1");
    g.cg.thaw().unwrap();
    assert!(!g.cg.is_frozen().unwrap());

    let s = g.cg.stats().unwrap();
    assert_eq!(s.pids.current, 1);
    assert_eq!(s.pids.limit, 32);
    assert_eq!(s.memory.usage.limit, 64 << 20);
    assert!(s.memory.usage.usage > 0);
    assert!(s.cpu.usage.total > 0);
    assert_eq!(s.cpuset.cpus, vec![0]);
    assert_eq!(g.cg.oom_kill_count().unwrap(), 0);

    g.kill_children();
    g.cg.destroy().unwrap();
    assert!(!dir.exists());
}

#[test]
fn oom_kill_is_counted() {
    if !unified_host() {
        return;
    }
    let mut g = Guard::new(Cgroup::resolve(None, &unique("oom")).unwrap());
    g.cg.create().unwrap();
    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(8 << 20)
                .swap(8 << 20)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    g.cg.apply(&r).unwrap();
    // Fill memory in a tmpfs-backed pipe-free way: a shell variable doubling.
    let code = run_in(
        g.cg.attach_handles().unwrap(),
        "x=aaaaaaaaaaaaaaaa; while :; do x=\"$x$x\"; done",
    );
    assert_ne!(code, 0);
    assert!(g.cg.oom_kill_count().unwrap() >= 1);
}

#[test]
fn clone_into_cgroup() {
    if !unified_host() {
        return;
    }
    let mut g = Guard::new(Cgroup::resolve(None, &unique("clone3")).unwrap());
    g.cg.create().unwrap();
    let h = g.cg.attach_handles().unwrap();
    let fd = h.clone_into_fd().unwrap();
    // struct clone_args up to the cgroup field (CLONE_ARGS_SIZE_VER2 = 88).
    let mut args = [0u64; 11];
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    args[0] = CLONE_INTO_CGROUP;
    args[4] = libc::SIGCHLD as u64; // exit_signal
    use std::os::fd::AsRawFd;
    args[10] = fd.as_raw_fd() as u64;
    // SAFETY: clone3 with a valid clone_args of the size we pass; the child
    // only calls async-signal-safe pause/_exit.
    let pid = unsafe { libc::syscall(libc::SYS_clone3, args.as_mut_ptr(), 88usize) };
    if pid == 0 {
        // SAFETY: in the child: sleep until killed, never return into Rust.
        unsafe {
            libc::pause();
            libc::_exit(0);
        }
    }
    assert!(pid > 0, "clone3: {}", std::io::Error::last_os_error());
    let pid = pid as i32;
    let found = g.cg.pids().unwrap();
    // SAFETY: plain syscalls on the child we just created.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
    assert_eq!(found, vec![pid]);
}
