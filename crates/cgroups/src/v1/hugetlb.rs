//! v1 hugetlb controller.

use std::collections::BTreeMap;
use std::path::Path;

use oci_spec::runtime::LinuxHugepageLimit;

use crate::error::{Error, Result};
use crate::fs;
use crate::stats::Hugetlb;

/// Page sizes look like "2MB" or "1GB"; anything else would make a bogus path.
pub(crate) fn check_size(size: &str, file: &str) -> Result<()> {
    let ok = size.len() > 2
        && (size.ends_with("KB") || size.ends_with("MB") || size.ends_with("GB"))
        && size[..size.len() - 2].bytes().all(|b| b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidValue {
            file: file.to_string(),
            msg: format!("bad hugepage size {size:?} (expected e.g. 2MB, 1GB)"),
        })
    }
}

pub(super) fn apply(dir: &Path, limits: &[LinuxHugepageLimit]) -> Result<()> {
    for l in limits {
        let file = format!("hugetlb.{}.limit_in_bytes", l.page_size());
        check_size(l.page_size(), &file)?;
        fs::write(dir, &file, &l.limit().to_string())?;
    }
    Ok(())
}

/// The page sizes this cgroup has files for ("hugetlb.<size>.<suffix>").
pub(crate) fn sizes(dir: &Path, suffix: &str) -> Result<Vec<String>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::Read {
        path: dir.to_path_buf(),
        source: e,
    })?;
    let mut out: Vec<String> = rd
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().into_string().ok()?;
            let rest = n.strip_prefix("hugetlb.")?.strip_suffix(suffix)?;
            (!rest.contains('.')).then(|| rest.to_string())
        })
        .collect();
    out.sort();
    Ok(out)
}

pub(super) fn stats(dir: &Path) -> Result<BTreeMap<String, Hugetlb>> {
    let mut out = BTreeMap::new();
    for s in sizes(dir, ".limit_in_bytes")? {
        let f = |n: &str| fs::read_u64_opt(dir, &format!("hugetlb.{s}.{n}"));
        out.insert(
            s.clone(),
            Hugetlb {
                usage: f("usage_in_bytes")?.unwrap_or(0),
                max: f("max_usage_in_bytes")?.unwrap_or(0),
                failcnt: f("failcnt")?.unwrap_or(0),
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxHugepageLimitBuilder;

    #[test]
    fn writes_and_reads() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("hugetlb.2MB.limit_in_bytes"), "").unwrap();
        std::fs::write(t.path().join("hugetlb.2MB.usage_in_bytes"), "4\n").unwrap();
        let l = LinuxHugepageLimitBuilder::default()
            .page_size("2MB")
            .limit(1 << 21)
            .build()
            .unwrap();
        apply(t.path(), &[l]).unwrap();
        assert_eq!(stats(t.path()).unwrap()["2MB"].usage, 4);
        let l = LinuxHugepageLimitBuilder::default()
            .page_size("../x")
            .limit(1)
            .build()
            .unwrap();
        assert!(apply(t.path(), &[l]).is_err());
        let l = LinuxHugepageLimitBuilder::default()
            .page_size("1GB")
            .limit(1)
            .build()
            .unwrap();
        let e = apply(t.path(), &[l]).unwrap_err().to_string();
        assert!(e.contains("hugetlb.1GB.limit_in_bytes"), "{e}");
    }
}
