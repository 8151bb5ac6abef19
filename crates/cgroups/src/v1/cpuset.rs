//! v1 cpuset controller. A new v1 cpuset starts with empty cpus and mems, and
//! no task can join it until both are set, so `create` copies the parent's.

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::error::Result;
use crate::fs;
use crate::stats::{parse_cpu_list, CpuSet};

/// Fill empty cpuset.cpus / cpuset.mems of `dir` from its parent.
pub(super) fn inherit(dir: &Path) -> Result<()> {
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    for f in ["cpuset.cpus", "cpuset.mems"] {
        if fs::read(dir, f)?.trim().is_empty() {
            let v = fs::read(parent, f)?;
            let v = v.trim();
            if !v.is_empty() {
                fs::write(dir, f, v)?;
            }
        }
    }
    Ok(())
}

pub(super) fn wants(c: &LinuxCpu) -> bool {
    c.cpus().as_deref().is_some_and(|s| !s.is_empty())
        || c.mems().as_deref().is_some_and(|s| !s.is_empty())
}

pub(super) fn apply(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        fs::write(dir, "cpuset.cpus", cpus)?;
    }
    if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        fs::write(dir, "cpuset.mems", mems)?;
    }
    Ok(())
}

pub(super) fn stats(dir: &Path) -> Result<CpuSet> {
    let list = |f: &str| -> Result<Vec<u16>> {
        let s = fs::read_opt(dir, f)?.unwrap_or_default();
        parse_cpu_list(&s).ok_or_else(|| fs::parse_err(dir.join(f), format!("bad list {s:?}")))
    };
    let n = |f: &str| -> Result<u64> { Ok(fs::read_u64_opt(dir, f)?.unwrap_or(0)) };
    let level = fs::read_opt(dir, "cpuset.sched_relax_domain_level")?
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or(0);
    Ok(CpuSet {
        cpus: list("cpuset.cpus")?,
        mems: list("cpuset.mems")?,
        cpu_exclusive: n("cpuset.cpu_exclusive")?,
        mem_hardwall: n("cpuset.mem_hardwall")?,
        mem_exclusive: n("cpuset.mem_exclusive")?,
        memory_migrate: n("cpuset.memory_migrate")?,
        memory_spread_page: n("cpuset.memory_spread_page")?,
        memory_spread_slab: n("cpuset.memory_spread_slab")?,
        memory_pressure: n("cpuset.memory_pressure")?,
        sched_load_balance: n("cpuset.sched_load_balance")?,
        sched_relax_domain_level: level,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs as sfs;

    #[test]
    fn inherits_from_parent() {
        let t = tempfile::tempdir().unwrap();
        let c = t.path().join("c");
        sfs::create_dir(&c).unwrap();
        sfs::write(t.path().join("cpuset.cpus"), "0-1\n").unwrap();
        sfs::write(t.path().join("cpuset.mems"), "0\n").unwrap();
        sfs::write(c.join("cpuset.cpus"), "\n").unwrap();
        sfs::write(c.join("cpuset.mems"), "0\n").unwrap();
        inherit(&c).unwrap();
        assert_eq!(sfs::read_to_string(c.join("cpuset.cpus")).unwrap(), "0-1");
        let s = stats(&c).unwrap();
        assert_eq!(s.cpus, vec![0, 1]);
        assert_eq!(s.mems, vec![0]);
    }
}
