//! The cgroup v2 manager (in progress: every entry point reports so).
pub(crate) mod freezer;
pub(crate) mod memory;

use std::path::Path;

use oci_spec::runtime::LinuxResources;

use crate::error::{Error, Result};
use crate::stats::Stats;
use crate::Cgroup;

pub(crate) fn todo(p: &Path) -> Error {
    Error::Unsupported {
        what: "the cgroup v2 manager (not written yet)".into(),
        file: p.display().to_string(),
        version: "v2",
    }
}

pub(crate) fn after_create(cg: &Cgroup) -> Result<()> {
    Err(todo(cg.v2_dir()))
}
pub(crate) fn apply(cg: &Cgroup, _r: &LinuxResources) -> Result<()> {
    Err(todo(cg.v2_dir()))
}
pub(crate) fn stats(d: &Path) -> Result<Stats> {
    Err(todo(d))
}
