//! v2 cpuset controller.

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use super::Avail;
use crate::error::Result;
use crate::fs;
use crate::stats::{parse_cpu_list, CpuSet};

pub(crate) fn apply(dir: &Path, avail: &Avail, c: &LinuxCpu) -> Result<()> {
    if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        avail.need("cpuset", "cpuset.cpus")?;
        fs::write(dir, "cpuset.cpus", cpus)?;
    }
    if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        avail.need("cpuset", "cpuset.mems")?;
        fs::write(dir, "cpuset.mems", mems)?;
    }
    Ok(())
}

pub(crate) fn stats(dir: &Path) -> Result<CpuSet> {
    // The effective lists say what the tasks can really use.
    let list = |f: &str| -> Result<Vec<u16>> {
        let s = fs::read_opt(dir, f)?.unwrap_or_default();
        parse_cpu_list(&s).ok_or_else(|| fs::parse_err(dir.join(f), format!("bad list {s:?}")))
    };
    Ok(CpuSet {
        cpus: list("cpuset.cpus.effective")?,
        mems: list("cpuset.mems.effective")?,
        ..Default::default()
    })
}
