//! v1 cpuacct controller: statistics only.

use std::path::Path;

use crate::error::Result;
use crate::fs;
use crate::stats::CpuUsage;

/// USER_HZ ticks to nanoseconds (cpuacct.stat counts in USER_HZ).
fn ticks_to_ns(t: u64) -> u64 {
    // SAFETY: sysconf has no memory effects; it only returns a value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as u64 } else { 100 };
    t.saturating_mul(1_000_000_000 / hz)
}

fn list(dir: &Path, file: &str) -> Result<Vec<u64>> {
    let Some(s) = fs::read_opt(dir, file)? else {
        return Ok(Vec::new());
    };
    let path = dir.join(file);
    s.split_whitespace()
        .map(|v| fs::parse_u64(&path, v))
        .collect()
}

pub(super) fn usage(dir: &Path) -> Result<CpuUsage> {
    let stat = fs::read_flat_keyed_opt(dir, "cpuacct.stat")?;
    Ok(CpuUsage {
        total: fs::read_u64_opt(dir, "cpuacct.usage")?.unwrap_or(0),
        percpu: list(dir, "cpuacct.usage_percpu")?,
        percpu_kernel: list(dir, "cpuacct.usage_percpu_sys")?,
        percpu_user: list(dir, "cpuacct.usage_percpu_user")?,
        kernel: ticks_to_ns(fs::keyed(&stat, "system").unwrap_or(0)),
        user: ticks_to_ns(fs::keyed(&stat, "user").unwrap_or(0)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_usage() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("cpuacct.usage"), "123\n").unwrap();
        std::fs::write(t.path().join("cpuacct.usage_percpu"), "100 23 \n").unwrap();
        std::fs::write(t.path().join("cpuacct.stat"), "user 1\nsystem 2\n").unwrap();
        let u = usage(t.path()).unwrap();
        assert_eq!(u.total, 123);
        assert_eq!(u.percpu, vec![100, 23]);
        assert!(u.kernel > u.user && u.user > 0);
    }
}
