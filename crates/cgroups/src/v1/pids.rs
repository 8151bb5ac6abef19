//! v1 pids controller (same files as v2).

use std::path::Path;

use oci_spec::runtime::LinuxPids;

use crate::error::Result;
use crate::fs;
use crate::stats::Pids;

/// OCI: a limit of 0 or below means "no limit".
pub(crate) fn apply(dir: &Path, p: &LinuxPids) -> Result<()> {
    let v = if p.limit() > 0 {
        p.limit().to_string()
    } else {
        "max".to_string()
    };
    fs::write(dir, "pids.max", &v)
}

pub(crate) fn stats(dir: &Path) -> Result<Pids> {
    let max = fs::read_u64_opt(dir, "pids.max")?.unwrap_or(u64::MAX);
    Ok(Pids {
        current: fs::read_u64_opt(dir, "pids.current")?.unwrap_or(0),
        limit: if max == u64::MAX { 0 } else { max },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxPidsBuilder;

    #[test]
    fn limit_and_max() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("pids.max"), "").unwrap();
        apply(
            t.path(),
            &LinuxPidsBuilder::default().limit(7).build().unwrap(),
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(t.path().join("pids.max")).unwrap(),
            "7"
        );
        assert_eq!(stats(t.path()).unwrap().limit, 7);
        apply(
            t.path(),
            &LinuxPidsBuilder::default().limit(-1).build().unwrap(),
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(t.path().join("pids.max")).unwrap(),
            "max"
        );
        assert_eq!(stats(t.path()).unwrap().limit, 0);
    }
}
