//! v1 cpu controller (cpus/mems live in cpuset.rs).

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::error::{Error, Result};
use crate::fs;
use crate::stats::Throttling;

fn is_einval(e: &Error) -> bool {
    matches!(e, Error::Write { source, .. } if source.raw_os_error() == Some(libc::EINVAL))
}

pub(super) fn apply(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(s) = c.shares().filter(|s| *s != 0) {
        fs::write(dir, "cpu.shares", &s.to_string())?;
        // The kernel clamps to [2, 262144] silently; say so instead.
        let got = fs::read_u64(dir, "cpu.shares")?;
        if got != s {
            return Err(Error::InvalidValue {
                file: dir.join("cpu.shares").display().to_string(),
                msg: format!("asked for {s}, the kernel set {got} (range 2..262144)"),
            });
        }
    }
    // Period and quota are checked against each other by the kernel, so one
    // order fails where the other works: try period first, and if the kernel
    // says EINVAL, write it again after the quota.
    let period = c.period().filter(|p| *p != 0);
    let mut period_later = false;
    if let Some(p) = period {
        if let Err(e) = fs::write(dir, "cpu.cfs_period_us", &p.to_string()) {
            if !is_einval(&e) {
                return Err(e);
            }
            period_later = true;
        }
    }
    if let Some(q) = c.quota().filter(|q| *q != 0) {
        fs::write(dir, "cpu.cfs_quota_us", &q.to_string())?;
    }
    if let (true, Some(p)) = (period_later, period) {
        fs::write(dir, "cpu.cfs_period_us", &p.to_string())?;
    }
    if let Some(b) = c.burst() {
        fs::write(dir, "cpu.cfs_burst_us", &b.to_string())?;
    }
    if let Some(p) = c.realtime_period().filter(|p| *p != 0) {
        fs::write(dir, "cpu.rt_period_us", &p.to_string())?;
    }
    if let Some(r) = c.realtime_runtime().filter(|r| *r != 0) {
        fs::write(dir, "cpu.rt_runtime_us", &r.to_string())?;
    }
    if let Some(i) = c.idle() {
        fs::write(dir, "cpu.idle", &i.to_string())?;
    }
    Ok(())
}

pub(super) fn throttling(dir: &Path) -> Result<Throttling> {
    let kv = fs::read_flat_keyed_opt(dir, "cpu.stat")?;
    Ok(Throttling {
        periods: fs::keyed(&kv, "nr_periods").unwrap_or(0),
        throttled_periods: fs::keyed(&kv, "nr_throttled").unwrap_or(0),
        throttled_time: fs::keyed(&kv, "throttled_time").unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxCpuBuilder;
    use std::fs as sfs;

    #[test]
    fn writes_fields() {
        let t = tempfile::tempdir().unwrap();
        for f in [
            "cpu.shares",
            "cpu.cfs_period_us",
            "cpu.cfs_quota_us",
            "cpu.cfs_burst_us",
            "cpu.rt_period_us",
            "cpu.rt_runtime_us",
            "cpu.idle",
        ] {
            sfs::write(t.path().join(f), "").unwrap();
        }
        let c = LinuxCpuBuilder::default()
            .shares(512u64)
            .quota(50000)
            .period(100000u64)
            .burst(1000u64)
            .realtime_period(1000000u64)
            .realtime_runtime(1000)
            .idle(1)
            .build()
            .unwrap();
        apply(t.path(), &c).unwrap();
        let get = |f: &str| sfs::read_to_string(t.path().join(f)).unwrap();
        assert_eq!(get("cpu.shares"), "512");
        assert_eq!(get("cpu.cfs_quota_us"), "50000");
        assert_eq!(get("cpu.cfs_period_us"), "100000");
        assert_eq!(get("cpu.cfs_burst_us"), "1000");
        assert_eq!(get("cpu.rt_runtime_us"), "1000");
        assert_eq!(get("cpu.idle"), "1");
    }

    #[test]
    fn missing_burst_names_file() {
        let t = tempfile::tempdir().unwrap();
        let e = apply(
            t.path(),
            &LinuxCpuBuilder::default().burst(5u64).build().unwrap(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("cpu.cfs_burst_us"), "{e}");
    }
}
