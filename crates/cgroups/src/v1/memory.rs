//! v1 memory controller.

use std::path::Path;

use oci_spec::runtime::LinuxMemory;

use crate::error::{Error, Result};
use crate::fs;
use crate::stats::{Memory, MemoryEntry};
use crate::Cgroup;

const LIMIT: &str = "memory.limit_in_bytes";
const MEMSW: &str = "memory.memsw.limit_in_bytes";

/// OCI uses 0 for "not set" on limits; -1 means unlimited.
fn set(v: Option<i64>) -> Option<i64> {
    v.filter(|v| *v != 0)
}

pub(super) fn apply(dir: &Path, m: &LinuxMemory) -> Result<()> {
    let limit = set(m.limit());
    let mut swap = set(m.swap());
    if let Some(l) = limit.filter(|l| *l < -1) {
        return Err(invalid(LIMIT, format!("negative limit {l}")));
    }
    if let Some(s) = swap.filter(|s| *s < -1) {
        return Err(invalid(MEMSW, format!("negative memory+swap limit {s}")));
    }
    // "memory unlimited, swap unspecified" means both unlimited: otherwise the
    // kernel refuses a memory limit above the current memsw limit.
    if limit == Some(-1) && swap.is_none() && dir.join(MEMSW).exists() {
        swap = Some(-1);
    }
    if m.check_before_update() == Some(true) {
        if let Some(l) = limit.filter(|l| *l > 0) {
            let usage = fs::read_u64(dir, "memory.usage_in_bytes")?;
            if usage >= l as u64 {
                return Err(Error::UsageAboveLimit {
                    path: dir.join("memory.usage_in_bytes"),
                    usage,
                    limit: l,
                });
            }
        }
    }
    match (limit, swap) {
        (Some(l), Some(s)) => {
            // The kernel keeps memory limit <= memsw limit at every step, so
            // raise memsw first when it grows past the current memory limit,
            // and lower the memory limit first otherwise.
            let cur = fs::read_u64(dir, LIMIT)?;
            if s == -1 || cur < s as u64 {
                fs::write(dir, MEMSW, &s.to_string())?;
                fs::write(dir, LIMIT, &l.to_string())?;
            } else {
                fs::write(dir, LIMIT, &l.to_string())?;
                fs::write(dir, MEMSW, &s.to_string())?;
            }
        }
        (Some(l), None) => fs::write(dir, LIMIT, &l.to_string())?,
        (None, Some(s)) => fs::write(dir, MEMSW, &s.to_string())?,
        (None, None) => {}
    }
    if let Some(r) = set(m.reservation()) {
        fs::write(dir, "memory.soft_limit_in_bytes", &r.to_string())?;
    }
    if let Some(k) = set(m.kernel()) {
        fs::write(dir, "memory.kmem.limit_in_bytes", &k.to_string())?;
    }
    if let Some(k) = set(m.kernel_tcp()) {
        fs::write(dir, "memory.kmem.tcp.limit_in_bytes", &k.to_string())?;
    }
    if let Some(s) = m.swappiness() {
        if s > 100 {
            return Err(invalid("memory.swappiness", format!("{s} is above 100")));
        }
        fs::write(dir, "memory.swappiness", &s.to_string())?;
    }
    if let Some(d) = m.disable_oom_killer() {
        fs::write(dir, "memory.oom_control", if d { "1" } else { "0" })?;
    }
    if let Some(h) = m.use_hierarchy() {
        fs::write(dir, "memory.use_hierarchy", if h { "1" } else { "0" })?;
    }
    Ok(())
}

fn invalid(file: &str, msg: String) -> Error {
    Error::InvalidValue {
        file: file.to_string(),
        msg,
    }
}

fn dir(cg: &Cgroup) -> Result<&Path> {
    cg.v1_dir("memory").ok_or_else(|| Error::ControllerMissing {
        controller: "memory".into(),
        file: "memory.oom_control".into(),
    })
}

pub(crate) fn oom_kill_count(cg: &Cgroup) -> Result<u64> {
    let dir = dir(cg)?;
    let kv = fs::parse_flat_keyed(
        &dir.join("memory.oom_control"),
        &fs::read(dir, "memory.oom_control")?,
    )?;
    // Kernels before 4.13 have no oom_kill line: nothing was counted.
    Ok(fs::keyed(&kv, "oom_kill").unwrap_or(0))
}

fn entry(dir: &Path, prefix: &str) -> Result<MemoryEntry> {
    let f = |n: &str| fs::read_u64_opt(dir, &format!("{prefix}.{n}"));
    Ok(MemoryEntry {
        limit: f("limit_in_bytes")?.unwrap_or(0),
        usage: f("usage_in_bytes")?.unwrap_or(0),
        max: f("max_usage_in_bytes")?.unwrap_or(0),
        failcnt: f("failcnt")?.unwrap_or(0),
    })
}

pub(super) fn stats(dir: &Path) -> Result<Memory> {
    let raw = fs::read_flat_keyed_opt(dir, "memory.stat")?;
    let mut m = Memory {
        cache: fs::keyed(&raw, "total_cache")
            .or_else(|| fs::keyed(&raw, "cache"))
            .unwrap_or(0),
        usage: entry(dir, "memory")?,
        swap: entry(dir, "memory.memsw")?,
        kernel: entry(dir, "memory.kmem")?,
        kernel_tcp: entry(dir, "memory.kmem.tcp")?,
        raw: raw.into_iter().collect(),
        psi: None,
    };
    // Without swap accounting there is no memsw: report memory as runc does.
    if !dir.join("memory.memsw.usage_in_bytes").exists() {
        m.swap = m.usage.clone();
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxMemoryBuilder;
    use std::fs as sfs;

    fn scratch(limit: &str) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        for f in [
            LIMIT,
            MEMSW,
            "memory.soft_limit_in_bytes",
            "memory.swappiness",
            "memory.oom_control",
            "memory.usage_in_bytes",
        ] {
            sfs::write(t.path().join(f), "").unwrap();
        }
        sfs::write(t.path().join(LIMIT), limit).unwrap();
        sfs::write(t.path().join("memory.usage_in_bytes"), "1000").unwrap();
        t
    }

    fn get(t: &tempfile::TempDir, f: &str) -> String {
        sfs::read_to_string(t.path().join(f)).unwrap()
    }

    #[test]
    fn writes_fields() {
        let t = scratch("9223372036854771712");
        let m = LinuxMemoryBuilder::default()
            .limit(1 << 20)
            .swap(2 << 20)
            .reservation(1 << 19)
            .swappiness(10u64)
            .disable_oom_killer(true)
            .build()
            .unwrap();
        apply(t.path(), &m).unwrap();
        assert_eq!(get(&t, LIMIT), "1048576");
        assert_eq!(get(&t, MEMSW), "2097152");
        assert_eq!(get(&t, "memory.soft_limit_in_bytes"), "524288");
        assert_eq!(get(&t, "memory.swappiness"), "10");
        assert_eq!(get(&t, "memory.oom_control"), "1");
    }

    #[test]
    fn unlimited_memory_means_unlimited_swap() {
        let t = scratch("100");
        apply(
            t.path(),
            &LinuxMemoryBuilder::default().limit(-1).build().unwrap(),
        )
        .unwrap();
        assert_eq!(get(&t, LIMIT), "-1");
        assert_eq!(get(&t, MEMSW), "-1");
    }

    #[test]
    fn bad_values_name_the_file() {
        let t = scratch("100");
        let e = apply(
            t.path(),
            &LinuxMemoryBuilder::default()
                .swappiness(101u64)
                .build()
                .unwrap(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("memory.swappiness"), "{e}");
        let e = apply(
            t.path(),
            &LinuxMemoryBuilder::default().kernel(5).build().unwrap(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("memory.kmem.limit_in_bytes"), "{e}");
    }

    #[test]
    fn check_before_update() {
        let t = scratch("100000");
        let m = LinuxMemoryBuilder::default()
            .limit(500)
            .check_before_update(true)
            .build()
            .unwrap();
        assert!(matches!(
            apply(t.path(), &m),
            Err(Error::UsageAboveLimit { .. })
        ));
    }

    #[test]
    fn oom_count() {
        let t = tempfile::tempdir().unwrap();
        sfs::write(
            t.path().join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
        )
        .unwrap();
        let cg = Cgroup::from_v1_dirs(vec![(vec!["memory".into()], "/".into(), t.path().into())]);
        assert_eq!(oom_kill_count(&cg).unwrap(), 3);
    }
}
