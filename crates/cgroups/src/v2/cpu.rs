//! v2 cpu controller.

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use super::{unsupported, Avail};
use crate::error::Result;
use crate::fs;
use crate::stats::{CpuUsage, Throttling};

/// cpu.shares (v1, 2..262144, default 1024) to cpu.weight (1..10000, default
/// 100). Like current runc and crun, a quadratic in log2(shares) through
/// (2, 1), (1024, 100) and (262144, 10000), so the defaults map to each
/// other (the older linear formula mapped 1024 to 39).
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    if shares <= 2 {
        return 1;
    }
    if shares >= 262_144 {
        return 10_000;
    }
    let l = (shares as f64).log2();
    let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
    (10f64.powf(exponent).ceil() as u64).clamp(1, 10_000)
}

/// Current "quota period" of cpu.max, to keep the half not being changed.
fn current_max(dir: &Path) -> Result<(String, String)> {
    let s = fs::read(dir, "cpu.max")?;
    let mut it = s.split_whitespace();
    Ok((
        it.next().unwrap_or("max").to_string(),
        it.next().unwrap_or("100000").to_string(),
    ))
}

pub(crate) fn apply(dir: &Path, avail: &Avail, c: &LinuxCpu) -> Result<()> {
    if c.realtime_runtime().is_some_and(|v| v != 0) {
        return Err(unsupported(
            "linux.resources.cpu.realtimeRuntime",
            "cpu.rt_runtime_us",
        ));
    }
    if c.realtime_period().is_some_and(|v| v != 0) {
        return Err(unsupported(
            "linux.resources.cpu.realtimePeriod",
            "cpu.rt_period_us",
        ));
    }
    if let Some(s) = c.shares().filter(|s| *s != 0) {
        avail.need("cpu", "cpu.weight")?;
        fs::write(dir, "cpu.weight", &shares_to_weight(s).to_string())?;
    }
    let quota = c.quota().filter(|q| *q != 0);
    let period = c.period().filter(|p| *p != 0);
    if quota.is_some() || period.is_some() {
        avail.need("cpu", "cpu.max")?;
        let (cur_q, cur_p) = current_max(dir)?;
        let q = match quota {
            Some(q) if q > 0 => q.to_string(),
            Some(_) => "max".to_string(),
            None => cur_q,
        };
        let p = period.map_or(cur_p, |p| p.to_string());
        fs::write(dir, "cpu.max", &format!("{q} {p}"))?;
    }
    if let Some(b) = c.burst() {
        avail.need("cpu", "cpu.max.burst")?;
        fs::write(dir, "cpu.max.burst", &b.to_string())?;
    }
    if let Some(i) = c.idle() {
        avail.need("cpu", "cpu.idle")?;
        fs::write(dir, "cpu.idle", &i.to_string())?;
    }
    Ok(())
}

/// cpu.stat is there even without the cpu controller (usage part only).
pub(crate) fn stats(dir: &Path) -> Result<(CpuUsage, Throttling)> {
    let kv = fs::read_flat_keyed_opt(dir, "cpu.stat")?;
    let us = |k: &str| fs::keyed(&kv, k).unwrap_or(0).saturating_mul(1000);
    Ok((
        CpuUsage {
            total: us("usage_usec"),
            kernel: us("system_usec"),
            user: us("user_usec"),
            ..Default::default()
        },
        Throttling {
            periods: fs::keyed(&kv, "nr_periods").unwrap_or(0),
            throttled_periods: fs::keyed(&kv, "nr_throttled").unwrap_or(0),
            throttled_time: us("throttled_usec"),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxCpuBuilder;
    use std::fs as sfs;

    #[test]
    fn weight_conversion() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 100);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert!(shares_to_weight(512) < 100 && shares_to_weight(2048) > 100);
    }

    #[test]
    fn cpu_max_keeps_other_half() {
        let t = tempfile::tempdir().unwrap();
        sfs::write(t.path().join("cgroup.controllers"), "cpu").unwrap();
        sfs::write(t.path().join("cpu.max"), "max 100000\n").unwrap();
        let avail = Avail::read(t.path()).unwrap();
        apply(
            t.path(),
            &avail,
            &LinuxCpuBuilder::default().quota(5000).build().unwrap(),
        )
        .unwrap();
        assert_eq!(
            sfs::read_to_string(t.path().join("cpu.max")).unwrap(),
            "5000 100000"
        );
        apply(
            t.path(),
            &avail,
            &LinuxCpuBuilder::default().period(20000u64).build().unwrap(),
        )
        .unwrap();
        assert_eq!(
            sfs::read_to_string(t.path().join("cpu.max")).unwrap(),
            "5000 20000"
        );
        let e = apply(
            t.path(),
            &avail,
            &LinuxCpuBuilder::default()
                .realtime_runtime(5)
                .build()
                .unwrap(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("cpu.rt_runtime_us"));
    }
}
