//! v2 memory controller.

use std::path::Path;

use oci_spec::runtime::LinuxMemory;

use super::{unsupported, Avail};
use crate::error::{Error, Result};
use crate::fs;
use crate::stats::{Memory, MemoryEntry};

fn max_str(v: i64) -> String {
    if v == -1 {
        "max".to_string()
    } else {
        v.to_string()
    }
}

fn invalid(file: &str, msg: impl Into<String>) -> Error {
    Error::InvalidValue {
        file: file.to_string(),
        msg: msg.into(),
    }
}

/// OCI's swap is memory+swap (the v1 memsw meaning); v2's memory.swap.max is
/// swap alone. Returns the memory.swap.max value, None for "leave alone".
pub(crate) fn swap_max(limit: Option<i64>, swap: Option<i64>) -> Result<Option<i64>> {
    let (limit, swap) = (limit.unwrap_or(0), swap.unwrap_or(0));
    // "memory unlimited, swap unset" means unlimited swap too, as on v1.
    if limit == -1 && swap == 0 {
        return Ok(Some(-1));
    }
    match swap {
        0 => Ok(None),
        -1 => Ok(Some(-1)),
        s if s < -1 => Err(invalid(
            "memory.swap.max",
            format!("negative memory+swap limit {s}"),
        )),
        s => {
            if limit <= 0 {
                return Err(invalid(
                    "memory.swap.max",
                    "a swap limit needs a memory limit (OCI swap is memory+swap)",
                ));
            }
            if s < limit {
                return Err(invalid(
                    "memory.swap.max",
                    format!("memory+swap limit {s} is below the memory limit {limit}"),
                ));
            }
            Ok(Some(s - limit))
        }
    }
}

pub(crate) fn apply(dir: &Path, avail: &Avail, m: &LinuxMemory) -> Result<()> {
    let limit = m.limit().filter(|l| *l != 0);
    if let Some(l) = limit.filter(|l| *l < -1) {
        return Err(invalid("memory.max", format!("negative limit {l}")));
    }
    let swap = swap_max(limit, m.swap())?;
    if m.swappiness().is_some() {
        return Err(unsupported(
            "linux.resources.memory.swappiness",
            "memory.swappiness",
        ));
    }
    if m.kernel().is_some_and(|k| k != 0) {
        return Err(unsupported(
            "linux.resources.memory.kernel",
            "memory.kmem.limit_in_bytes",
        ));
    }
    if m.kernel_tcp().is_some_and(|k| k != 0) {
        return Err(unsupported(
            "linux.resources.memory.kernelTCP",
            "memory.kmem.tcp.limit_in_bytes",
        ));
    }
    if m.disable_oom_killer() == Some(true) {
        return Err(unsupported(
            "linux.resources.memory.disableOOMKiller",
            "memory.oom_control",
        ));
    }
    // v2 is always hierarchical: only asking for the opposite is an error.
    if m.use_hierarchy() == Some(false) {
        return Err(unsupported(
            "linux.resources.memory.useHierarchy=false",
            "memory.use_hierarchy",
        ));
    }
    let reservation = m.reservation().filter(|r| *r != 0);
    if limit.is_none() && swap.is_none() && reservation.is_none() {
        return Ok(());
    }
    avail.need("memory", "memory.max")?;
    if m.check_before_update() == Some(true) {
        if let Some(l) = limit.filter(|l| *l > 0) {
            let usage = fs::read_u64(dir, "memory.current")?;
            if usage >= l as u64 {
                return Err(Error::UsageAboveLimit {
                    path: dir.join("memory.current"),
                    usage,
                    limit: l,
                });
            }
        }
    }
    if let Some(s) = swap {
        // Unlimited swap on a host without swap accounting needs no write.
        if !(s == -1
            && limit == Some(-1)
            && m.swap().is_none()
            && !dir.join("memory.swap.max").exists())
        {
            fs::write(dir, "memory.swap.max", &max_str(s))?;
        }
    }
    if let Some(l) = limit {
        fs::write(dir, "memory.max", &max_str(l))?;
    }
    if let Some(r) = reservation {
        fs::write(dir, "memory.low", &max_str(r))?;
    }
    Ok(())
}

pub(crate) fn oom_kill_count(dir: &Path) -> Result<u64> {
    let kv = fs::parse_flat_keyed(&dir.join("memory.events"), &fs::read(dir, "memory.events")?)?;
    Ok(fs::keyed(&kv, "oom_kill").unwrap_or(0))
}

pub(crate) fn stats(dir: &Path) -> Result<Memory> {
    let n = |f: &str| -> Result<u64> { Ok(fs::read_u64_opt(dir, f)?.unwrap_or(0)) };
    let raw = fs::read_flat_keyed_opt(dir, "memory.stat")?;
    let events = fs::read_flat_keyed_opt(dir, "memory.events")?;
    let usage = MemoryEntry {
        limit: n("memory.max")?,
        usage: n("memory.current")?,
        max: n("memory.peak")?,
        failcnt: fs::keyed(&events, "max").unwrap_or(0),
    };
    // Like runc: report swap as memory+swap, the v1 meaning.
    let swap = match fs::read_u64_opt(dir, "memory.swap.current")? {
        Some(cur) => MemoryEntry {
            limit: n("memory.swap.max")?.saturating_add(usage.limit),
            usage: cur.saturating_add(usage.usage),
            max: n("memory.swap.peak")?,
            failcnt: 0,
        },
        None => MemoryEntry::default(),
    };
    Ok(Memory {
        cache: fs::keyed(&raw, "file").unwrap_or(0),
        usage,
        swap,
        kernel: MemoryEntry {
            usage: fs::keyed(&raw, "kernel").unwrap_or(0),
            ..Default::default()
        },
        kernel_tcp: MemoryEntry {
            usage: fs::keyed(&raw, "sock").unwrap_or(0),
            ..Default::default()
        },
        raw: raw.into_iter().collect(),
        psi: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxMemoryBuilder;
    use std::fs as sfs;

    #[test]
    fn swap_conversion() {
        assert_eq!(swap_max(Some(100), Some(300)).unwrap(), Some(200));
        assert_eq!(swap_max(Some(100), Some(-1)).unwrap(), Some(-1));
        assert_eq!(swap_max(Some(-1), None).unwrap(), Some(-1));
        assert_eq!(swap_max(Some(100), None).unwrap(), None);
        assert!(swap_max(None, Some(100)).is_err());
        assert!(swap_max(Some(200), Some(100)).is_err());
    }

    #[test]
    fn writes_and_refuses() {
        let t = tempfile::tempdir().unwrap();
        for f in [
            "memory.max",
            "memory.swap.max",
            "memory.low",
            "cgroup.controllers",
        ] {
            sfs::write(t.path().join(f), "").unwrap();
        }
        sfs::write(t.path().join("cgroup.controllers"), "memory pids").unwrap();
        let avail = Avail::read(t.path()).unwrap();
        let m = LinuxMemoryBuilder::default()
            .limit(100)
            .swap(150)
            .reservation(50)
            .build()
            .unwrap();
        apply(t.path(), &avail, &m).unwrap();
        let get = |f: &str| sfs::read_to_string(t.path().join(f)).unwrap();
        assert_eq!(get("memory.max"), "100");
        assert_eq!(get("memory.swap.max"), "50");
        assert_eq!(get("memory.low"), "50");
        let m = LinuxMemoryBuilder::default()
            .swappiness(5u64)
            .build()
            .unwrap();
        let e = apply(t.path(), &avail, &m).unwrap_err().to_string();
        assert!(e.contains("memory.swappiness"), "{e}");
        sfs::write(t.path().join("cgroup.controllers"), "pids").unwrap();
        let avail = Avail::read(t.path()).unwrap();
        let m = LinuxMemoryBuilder::default().limit(100).build().unwrap();
        let e = apply(t.path(), &avail, &m).unwrap_err().to_string();
        assert!(e.contains("memory.max"), "{e}");
    }
}
