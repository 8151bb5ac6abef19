//! Root integration tests on a real cgroup v1 (or hybrid) host. They create
//! cgroups below the test's own cgroup in every hierarchy and remove them.
//! Skipped when not root or not on v1.

mod common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use common::{is_root, unique, Guard};
use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType,
    LinuxHugepageLimitBuilder, LinuxMemoryBuilder, LinuxNetworkBuilder, LinuxPidsBuilder,
    LinuxResources, LinuxResourcesBuilder,
};
use onggi_cgroups::{detect, Cgroup, Error, Hierarchy};

fn v1_host() -> bool {
    if !is_root() {
        eprintln!("skipped: not root");
        return false;
    }
    match detect() {
        Ok(Hierarchy::V1 | Hierarchy::Hybrid) => true,
        other => {
            eprintln!("skipped: not a cgroup v1 host ({other:?})");
            false
        }
    }
}

fn dir(cg: &Cgroup, controller: &str) -> std::path::PathBuf {
    cg.paths()
        .into_iter()
        .find(|(c, _)| c.split(',').any(|c| c == controller))
        .map(|(_, p)| p.to_path_buf())
        .unwrap_or_else(|| panic!("no {controller} hierarchy"))
}

fn read(p: &Path, f: &str) -> String {
    std::fs::read_to_string(p.join(f))
        .unwrap()
        .trim()
        .to_string()
}

fn own_cgroup(controller: &str) -> String {
    let s = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    s.lines()
        .find_map(|l| {
            let mut it = l.splitn(3, ':');
            let (_, c, p) = (it.next()?, it.next()?, it.next()?);
            c.split(',').any(|c| c == controller).then(|| p.to_string())
        })
        .unwrap()
}

#[test]
fn lifecycle() {
    if !v1_host() {
        return;
    }
    let id = unique("life");
    let mut g = Guard::new(Cgroup::resolve(None, &id).unwrap());
    assert!(!g.cg.is_v2());
    // Relative paths go below our own cgroup in each hierarchy.
    let mem = dir(&g.cg, "memory");
    let own = own_cgroup("memory");
    assert!(
        mem.ends_with(format!("{}/{id}", own.trim_start_matches('/'))),
        "{mem:?}"
    );
    g.cg.create().unwrap();
    for (_, p) in g.cg.paths() {
        assert!(p.is_dir(), "{p:?}");
    }
    assert!(dir(&g.cg, "name=systemd").is_dir());
    // Only the leaf was new.
    assert_eq!(g.cg.created_dirs().len(), g.cg.paths().len());
    let cpuset = dir(&g.cg, "cpuset");
    assert!(!read(&cpuset, "cpuset.cpus").is_empty());
    assert!(!read(&cpuset, "cpuset.mems").is_empty());

    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(64 << 20)
                .swap(128 << 20)
                .reservation(32 << 20)
                .swappiness(20u64)
                .build()
                .unwrap(),
        )
        .cpu(
            LinuxCpuBuilder::default()
                .shares(512u64)
                .quota(20000)
                .period(100000u64)
                .cpus("0")
                .mems("0")
                .build()
                .unwrap(),
        )
        .pids(LinuxPidsBuilder::default().limit(32).build().unwrap())
        .devices(vec![
            LinuxDeviceCgroupBuilder::default()
                .allow(false)
                .access("rwm")
                .build()
                .unwrap(),
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(LinuxDeviceType::C)
                .major(1)
                .minor(3)
                .access("rwm")
                .build()
                .unwrap(),
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(LinuxDeviceType::C)
                .major(1)
                .minor(5)
                .access("r")
                .build()
                .unwrap(),
        ])
        .build()
        .unwrap();
    g.cg.apply(&r).unwrap();
    assert_eq!(
        read(&mem, "memory.limit_in_bytes"),
        (64u64 << 20).to_string()
    );
    assert_eq!(
        read(&mem, "memory.memsw.limit_in_bytes"),
        (128u64 << 20).to_string()
    );
    assert_eq!(read(&mem, "memory.swappiness"), "20");
    let cpu = dir(&g.cg, "cpu");
    assert_eq!(read(&cpu, "cpu.shares"), "512");
    assert_eq!(read(&cpu, "cpu.cfs_quota_us"), "20000");
    assert_eq!(read(&cpuset, "cpuset.cpus"), "0");
    assert_eq!(read(&dir(&g.cg, "pids"), "pids.max"), "32");
    let list = read(&dir(&g.cg, "devices"), "devices.list");
    assert_eq!(list.lines().collect::<Vec<_>>(), ["c 1:3 rwm", "c 1:5 r"]);

    // Lowering the limit below the old swap limit needs memory first...
    let lower = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(16 << 20)
                .swap(24 << 20)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    g.cg.update(&lower).unwrap();
    assert_eq!(
        read(&mem, "memory.memsw.limit_in_bytes"),
        (24u64 << 20).to_string()
    );
    // ...and raising it above the old swap limit needs swap first.
    let raise = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(256 << 20)
                .swap(512 << 20)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    g.cg.update(&raise).unwrap();
    assert_eq!(
        read(&mem, "memory.limit_in_bytes"),
        (256u64 << 20).to_string()
    );
    let unl = LinuxResourcesBuilder::default()
        .memory(LinuxMemoryBuilder::default().limit(-1).build().unwrap())
        .build()
        .unwrap();
    g.cg.update(&unl).unwrap();

    // Processes: an existing one via add_process...
    let pid = g.spawn_sleep();
    g.cg.add_process(pid).unwrap();
    assert_eq!(g.cg.pids().unwrap(), vec![pid]);
    // ...and a new one entering through the pre-opened handles after fork.
    let h = g.cg.attach_handles().unwrap();
    let mut cmd = Command::new("sleep");
    cmd.arg("1000");
    // SAFETY: enter() only calls write(2) on fds it owns; no allocation.
    unsafe {
        cmd.pre_exec(move || {
            h.enter()
                .map_err(|(e, _)| std::io::Error::from_raw_os_error(e as i32))
        });
    }
    let c2 = cmd.spawn().unwrap();
    let pid2 = c2.id() as i32;
    g.children.push(c2);
    let mut want = vec![pid, pid2];
    want.sort();
    assert_eq!(g.cg.pids().unwrap(), want);
    for (_, p) in g.cg.paths() {
        let procs = read(p, "cgroup.procs");
        assert!(
            procs.lines().any(|l| l == pid2.to_string()),
            "{p:?}: {procs}"
        );
    }

    g.cg.freeze().unwrap();
    assert!(g.cg.is_frozen().unwrap());
    g.cg.thaw().unwrap();
    assert!(!g.cg.is_frozen().unwrap());

    let s = g.cg.stats().unwrap();
    assert_eq!(s.pids.current, 2);
    assert_eq!(s.pids.limit, 32);
    assert!(s.memory.usage.usage > 0);
    assert_eq!(s.cpuset.cpus, vec![0]);
    let j = serde_json::to_value(&s).unwrap();
    assert!(j["memory"]["usage"]["limit"].as_u64().unwrap() > 0);
    assert_eq!(g.cg.oom_kill_count().unwrap(), 0);

    g.kill_children();
    g.cg.destroy().unwrap();
    for (_, p) in g.cg.paths() {
        assert!(!p.exists(), "{p:?}");
    }
    g.cg.destroy().unwrap();
}

#[test]
fn destroy_keeps_dirs_it_did_not_make() {
    if !v1_host() {
        return;
    }
    let parent = unique("parent");
    let mut outer = Guard::new(Cgroup::resolve(Some(&parent), "x").unwrap());
    outer.cg.create().unwrap();
    let mut inner = Guard::new(Cgroup::resolve(Some(&format!("{parent}/child")), "x").unwrap());
    inner.cg.create().unwrap();
    assert_eq!(inner.cg.created_dirs().len(), inner.cg.paths().len());
    inner.cg.destroy().unwrap();
    for (_, p) in outer.cg.paths() {
        assert!(p.is_dir());
    }
    // A second create of an existing cgroup records nothing new.
    let mut again = Cgroup::resolve(Some(&parent), "x").unwrap();
    again.create().unwrap();
    assert!(again.created_dirs().is_empty());
}

#[test]
fn unavailable_resources_are_errors() {
    if !v1_host() {
        return;
    }
    let mut g = Guard::new(Cgroup::resolve(None, &unique("errs")).unwrap());
    g.cg.create().unwrap();
    let check = |r: LinuxResources, needle: &str| {
        let e = g.cg.apply(&r).unwrap_err().to_string();
        assert!(e.contains(needle), "{needle}: {e}");
    };
    check(
        LinuxResourcesBuilder::default()
            .block_io(
                LinuxBlockIoBuilder::default()
                    .leaf_weight(100u16)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap(),
        "blkio.leaf_weight",
    );
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
    if !Path::new("/sys/fs/cgroup/hugetlb").exists() {
        check(
            LinuxResourcesBuilder::default()
                .hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
                    .page_size("2MB")
                    .limit(1 << 21)
                    .build()
                    .unwrap()])
                .build()
                .unwrap(),
            "hugetlb.2MB.limit_in_bytes",
        );
    }
    // Out of range: the kernel clamps cpu.shares, we report it.
    check(
        LinuxResourcesBuilder::default()
            .cpu(LinuxCpuBuilder::default().shares(1u64).build().unwrap())
            .build()
            .unwrap(),
        "cpu.shares",
    );
    // Kernel refuses memory above memsw.
    check(
        LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(64 << 20)
                    .swap(32 << 20)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap(),
        "memory",
    );
    assert!(matches!(
        Cgroup::resolve(Some("a/../b"), "x"),
        Err(Error::InvalidPath { .. })
    ));
    assert!(matches!(
        Cgroup::resolve(Some("system.slice:onggi:x"), "x"),
        Err(Error::SystemdUnsupported(_))
    ));
}
