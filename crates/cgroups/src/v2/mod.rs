//! The cgroup v2 manager: one directory in the unified hierarchy.

pub(crate) mod bpf;
pub(crate) mod cpu;
pub(crate) mod cpuset;
pub(crate) mod devices;
pub(crate) mod freezer;
pub(crate) mod hugetlb;
pub(crate) mod io;
pub(crate) mod memory;
pub(crate) mod pids;
pub(crate) mod rdma;
pub(crate) mod unified;

use std::path::Path;

use oci_spec::runtime::LinuxResources;

use crate::error::{Error, Result};
use crate::fs;
use crate::stats::{read_psi, Stats};
use crate::Cgroup;

/// Enable every available controller in the `cgroup.subtree_control` of each
/// ancestor, from the mount point down to the leaf's parent, so the leaf gets
/// the interface files. Controllers that cannot be enabled are skipped here;
/// applying a resource that needs one then fails naming the missing file.
pub(crate) fn after_create(cg: &Cgroup) -> Result<()> {
    let Some(d) = cg.dirs.first() else {
        return Ok(());
    };
    let Ok(rel) = d.path.strip_prefix(&d.mount) else {
        return Ok(());
    };
    let mut cur = d.mount.clone();
    for c in rel.components() {
        enable_controllers(&cur)?;
        cur.push(c);
    }
    Ok(())
}

fn enable_controllers(dir: &Path) -> Result<()> {
    let avail = fs::read(dir, "cgroup.controllers")?;
    let enabled = fs::read(dir, "cgroup.subtree_control")?;
    let missing: Vec<&str> = avail
        .split_whitespace()
        .filter(|c| !enabled.split_whitespace().any(|e| e == *c))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let all: Vec<String> = missing.iter().map(|c| format!("+{c}")).collect();
    if fs::write(dir, "cgroup.subtree_control", &all.join(" ")).is_err() {
        // One refusal (say cpu, with a realtime task in the parent) must not
        // cost the others.
        for c in &all {
            let _ = fs::write(dir, "cgroup.subtree_control", c);
        }
    }
    Ok(())
}

/// Controllers this cgroup has (enabled in its parent's subtree_control).
pub(crate) struct Avail(String);

impl Avail {
    fn read(dir: &Path) -> Result<Avail> {
        Ok(Avail(
            fs::read_opt(dir, "cgroup.controllers")?.unwrap_or_default(),
        ))
    }
    /// `Ok` if `controller` is available, else an error naming `file`.
    pub(crate) fn need(&self, controller: &str, file: &str) -> Result<()> {
        if self.0.split_whitespace().any(|c| c == controller) {
            Ok(())
        } else {
            Err(Error::ControllerMissing {
                controller: controller.to_string(),
                file: file.to_string(),
            })
        }
    }
}

fn unsupported(what: &str, file: &str) -> Error {
    Error::Unsupported {
        what: what.to_string(),
        file: file.to_string(),
        version: "v2",
    }
}

pub(crate) fn apply(cg: &Cgroup, r: &LinuxResources) -> Result<()> {
    let dir = cg.v2_dir();
    let avail = Avail::read(dir)?;
    if let Some(n) = r.network() {
        if n.class_id().is_some() {
            return Err(unsupported(
                "linux.resources.network.classID",
                "net_cls.classid",
            ));
        }
        if n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
            return Err(unsupported(
                "linux.resources.network.priorities",
                "net_prio.ifpriomap",
            ));
        }
    }
    if let Some(c) = r.cpu() {
        cpuset::apply(dir, &avail, c)?;
        cpu::apply(dir, &avail, c)?;
    }
    if let Some(m) = r.memory() {
        memory::apply(dir, &avail, m)?;
    }
    if let Some(p) = r.pids() {
        avail.need("pids", "pids.max")?;
        pids::apply(dir, p)?;
    }
    if let Some(b) = r.block_io() {
        io::apply(dir, &avail, b)?;
    }
    if let Some(h) = r.hugepage_limits().as_ref().filter(|h| !h.is_empty()) {
        hugetlb::apply(dir, &avail, h)?;
    }
    if let Some(rd) = r.rdma().as_ref().filter(|r| !r.is_empty()) {
        avail.need("rdma", "rdma.max")?;
        rdma::apply(dir, rd)?;
    }
    if let Some(devs) = r.devices() {
        devices::apply(dir, devs)?;
    }
    // Last, so explicit unified values win over the converted ones.
    if let Some(u) = r.unified().as_ref().filter(|u| !u.is_empty()) {
        unified::apply(dir, u)?;
    }
    Ok(())
}

pub(crate) fn stats(dir: &Path) -> Result<Stats> {
    let mut s = Stats::default();
    let (usage, throttling) = cpu::stats(dir)?;
    s.cpu.usage = usage;
    s.cpu.throttling = throttling;
    s.cpu.psi = read_psi(dir, "cpu.pressure")?;
    s.cpuset = cpuset::stats(dir)?;
    s.memory = memory::stats(dir)?;
    s.memory.psi = read_psi(dir, "memory.pressure")?;
    s.pids = pids::stats(dir)?;
    s.blkio = io::stats(dir)?;
    s.blkio.psi = read_psi(dir, "io.pressure")?;
    s.hugetlb = hugetlb::stats(dir)?;
    s.rdma = rdma::stats(dir)?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs as sfs;

    #[test]
    fn enables_controllers_top_down() {
        let t = tempfile::tempdir().unwrap();
        let m = t.path();
        sfs::create_dir_all(m.join("a/b")).unwrap();
        for d in [m.to_path_buf(), m.join("a")] {
            sfs::write(d.join("cgroup.controllers"), "cpu memory pids\n").unwrap();
            sfs::write(d.join("cgroup.subtree_control"), "memory\n").unwrap();
        }
        let cg = Cgroup::from_v2_dir(m.to_path_buf(), m.join("a/b"));
        after_create(&cg).unwrap();
        assert_eq!(
            sfs::read_to_string(m.join("a/cgroup.subtree_control")).unwrap(),
            "+cpu +pids"
        );
    }

    #[test]
    fn network_is_an_error() {
        use oci_spec::runtime::{LinuxNetworkBuilder, LinuxResourcesBuilder};
        let t = tempfile::tempdir().unwrap();
        let cg = Cgroup::from_v2_dir("/".into(), t.path().into());
        let r = LinuxResourcesBuilder::default()
            .network(
                LinuxNetworkBuilder::default()
                    .class_id(1u32)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let e = apply(&cg, &r).unwrap_err().to_string();
        assert!(e.contains("net_cls.classid"), "{e}");
    }
}
