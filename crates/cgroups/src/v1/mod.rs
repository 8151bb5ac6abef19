//! The cgroup v1 manager: one directory per mounted hierarchy.

pub(crate) mod blkio;
pub(crate) mod cpu;
pub(crate) mod cpuacct;
pub(crate) mod cpuset;
pub(crate) mod devices;
pub(crate) mod freezer;
pub(crate) mod hugetlb;
pub(crate) mod memory;
pub(crate) mod net_cls;
pub(crate) mod net_prio;
pub(crate) mod pids;
pub(crate) mod rdma;

use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxMemory, LinuxResources};

use crate::error::{Error, Result};
use crate::stats::{read_psi, Stats};
use crate::Cgroup;

/// The directory of `controller`, or an error naming the file we needed.
fn need<'a>(cg: &'a Cgroup, controller: &str, file: &str) -> Result<&'a Path> {
    cg.v1_dir(controller)
        .ok_or_else(|| Error::ControllerMissing {
            controller: controller.to_string(),
            file: file.to_string(),
        })
}

pub(crate) fn after_create(cg: &Cgroup) -> Result<()> {
    let Some(d) = cg
        .dirs
        .iter()
        .find(|d| d.controllers.iter().any(|c| c == "cpuset"))
    else {
        return Ok(());
    };
    // Top-down, so each level inherits from a filled-in parent.
    let mut leaf_done = false;
    for p in cg
        .created
        .iter()
        .filter(|p| p.starts_with(&d.path) || d.path.starts_with(p))
    {
        if p.starts_with(&d.mount) {
            cpuset::inherit(p)?;
            leaf_done |= *p == d.path;
        }
    }
    if leaf_done {
        return Ok(());
    }
    cpuset::inherit(&d.path)
}

fn memory_set(m: &LinuxMemory) -> bool {
    m.limit().is_some()
        || m.reservation().is_some()
        || m.swap().is_some()
        || m.kernel().is_some()
        || m.kernel_tcp().is_some()
        || m.swappiness().is_some()
        || m.disable_oom_killer().is_some()
        || m.use_hierarchy().is_some()
}

fn blkio_set(b: &LinuxBlockIo) -> bool {
    b.weight().is_some_and(|w| w != 0)
        || b.leaf_weight().is_some_and(|w| w != 0)
        || b.weight_device().as_ref().is_some_and(|v| !v.is_empty())
        || b.throttle_read_bps_device()
            .as_ref()
            .is_some_and(|v| !v.is_empty())
        || b.throttle_write_bps_device()
            .as_ref()
            .is_some_and(|v| !v.is_empty())
        || b.throttle_read_iops_device()
            .as_ref()
            .is_some_and(|v| !v.is_empty())
        || b.throttle_write_iops_device()
            .as_ref()
            .is_some_and(|v| !v.is_empty())
}

pub(crate) fn apply(cg: &Cgroup, r: &LinuxResources) -> Result<()> {
    if let Some((k, _)) = r.unified().as_ref().and_then(|u| u.iter().next()) {
        return Err(Error::Unsupported {
            what: "linux.resources.unified".into(),
            file: k.clone(),
            version: "v1",
        });
    }
    if let Some(c) = r.cpu() {
        if cpuset::wants(c) {
            cpuset::apply(need(cg, "cpuset", "cpuset.cpus")?, c)?;
        }
    }
    if let Some(devs) = r.devices() {
        devices::apply(need(cg, "devices", "devices.allow")?, devs)?;
    }
    if let Some(m) = r.memory().as_ref().filter(|m| memory_set(m)) {
        memory::apply(need(cg, "memory", "memory.limit_in_bytes")?, m)?;
    }
    if let Some(c) = r.cpu() {
        let wants_cpu = c.shares().is_some()
            || c.quota().is_some()
            || c.period().is_some()
            || c.burst().is_some()
            || c.realtime_runtime().is_some()
            || c.realtime_period().is_some()
            || c.idle().is_some();
        if wants_cpu {
            cpu::apply(need(cg, "cpu", "cpu.shares")?, c)?;
        }
    }
    if let Some(p) = r.pids() {
        pids::apply(need(cg, "pids", "pids.max")?, p)?;
    }
    if let Some(b) = r.block_io().as_ref().filter(|b| blkio_set(b)) {
        blkio::apply(need(cg, "blkio", "blkio.weight")?, b)?;
    }
    if let Some(h) = r.hugepage_limits().as_ref().filter(|h| !h.is_empty()) {
        let file = format!("hugetlb.{}.limit_in_bytes", h[0].page_size());
        hugetlb::apply(need(cg, "hugetlb", &file)?, h)?;
    }
    if let Some(n) = r.network() {
        if let Some(id) = n.class_id() {
            net_cls::apply(need(cg, "net_cls", "net_cls.classid")?, id)?;
        }
        if let Some(p) = n.priorities().as_ref().filter(|p| !p.is_empty()) {
            net_prio::apply(need(cg, "net_prio", "net_prio.ifpriomap")?, p)?;
        }
    }
    if let Some(rd) = r.rdma().as_ref().filter(|r| !r.is_empty()) {
        rdma::apply(need(cg, "rdma", "rdma.max")?, rd)?;
    }
    Ok(())
}

pub(crate) fn stats(cg: &Cgroup) -> Result<Stats> {
    let mut s = Stats::default();
    if let Some(d) = cg.v1_dir("cpuacct") {
        s.cpu.usage = cpuacct::usage(d)?;
    }
    if let Some(d) = cg.v1_dir("cpu") {
        s.cpu.throttling = cpu::throttling(d)?;
        // v1 has PSI files only with the kernel's cgroup1 PSI option.
        s.cpu.psi = read_psi(d, "cpu.pressure")?;
    }
    if let Some(d) = cg.v1_dir("cpuset") {
        s.cpuset = cpuset::stats(d)?;
    }
    if let Some(d) = cg.v1_dir("memory") {
        s.memory = memory::stats(d)?;
        s.memory.psi = read_psi(d, "memory.pressure")?;
    }
    if let Some(d) = cg.v1_dir("pids") {
        s.pids = pids::stats(d)?;
    }
    if let Some(d) = cg.v1_dir("blkio") {
        s.blkio = blkio::stats(d)?;
        s.blkio.psi = read_psi(d, "io.pressure")?;
    }
    if let Some(d) = cg.v1_dir("hugetlb") {
        s.hugetlb = hugetlb::stats(d)?;
    }
    if let Some(d) = cg.v1_dir("rdma") {
        s.rdma = rdma::stats(d)?;
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxNetworkBuilder, LinuxResourcesBuilder};
    use std::collections::HashMap;

    #[test]
    fn unmounted_controllers_name_the_file() {
        let t = tempfile::tempdir().unwrap();
        let cg = Cgroup::from_v1_dirs(vec![(vec!["memory".into()], "/".into(), t.path().into())]);
        let r = LinuxResourcesBuilder::default()
            .network(
                LinuxNetworkBuilder::default()
                    .class_id(5u32)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let e = apply(&cg, &r).unwrap_err().to_string();
        assert!(e.contains("net_cls.classid"), "{e}");
        let mut u = HashMap::new();
        u.insert("memory.max".to_string(), "1".to_string());
        let r = LinuxResourcesBuilder::default().unified(u).build().unwrap();
        let e = apply(&cg, &r).unwrap_err().to_string();
        assert!(e.contains("memory.max") && e.contains("v1"), "{e}");
        // Empty resources touch nothing.
        apply(&cg, &LinuxResources::default()).unwrap();
    }
}
