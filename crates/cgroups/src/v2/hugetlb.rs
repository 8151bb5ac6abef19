//! v2 hugetlb controller.

use std::collections::BTreeMap;
use std::path::Path;

use oci_spec::runtime::LinuxHugepageLimit;

use super::Avail;
use crate::error::Result;
use crate::fs;
use crate::stats::Hugetlb;
use crate::v1::hugetlb::{check_size, sizes};

pub(crate) fn apply(dir: &Path, avail: &Avail, limits: &[LinuxHugepageLimit]) -> Result<()> {
    for l in limits {
        let file = format!("hugetlb.{}.max", l.page_size());
        check_size(l.page_size(), &file)?;
        avail.need("hugetlb", &file)?;
        let v = if l.limit() < 0 {
            "max".to_string()
        } else {
            l.limit().to_string()
        };
        fs::write(dir, &file, &v)?;
        // Reservations are charged separately; limit them the same, as runc does.
        let rsvd = format!("hugetlb.{}.rsvd.max", l.page_size());
        if dir.join(&rsvd).exists() {
            fs::write(dir, &rsvd, &v)?;
        }
    }
    Ok(())
}

pub(crate) fn stats(dir: &Path) -> Result<BTreeMap<String, Hugetlb>> {
    let mut out = BTreeMap::new();
    for s in sizes(dir, ".current")? {
        let events = fs::read_flat_keyed_opt(dir, &format!("hugetlb.{s}.events"))?;
        out.insert(
            s.clone(),
            Hugetlb {
                usage: fs::read_u64_opt(dir, &format!("hugetlb.{s}.current"))?.unwrap_or(0),
                max: 0,
                failcnt: fs::keyed(&events, "max").unwrap_or(0),
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
    fn writes_max_and_rsvd() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("cgroup.controllers"), "hugetlb").unwrap();
        std::fs::write(t.path().join("hugetlb.2MB.max"), "").unwrap();
        std::fs::write(t.path().join("hugetlb.2MB.rsvd.max"), "").unwrap();
        std::fs::write(t.path().join("hugetlb.2MB.current"), "0\n").unwrap();
        let avail = Avail::read(t.path()).unwrap();
        let l = LinuxHugepageLimitBuilder::default()
            .page_size("2MB")
            .limit(4 << 20)
            .build()
            .unwrap();
        apply(t.path(), &avail, &[l]).unwrap();
        assert_eq!(
            std::fs::read_to_string(t.path().join("hugetlb.2MB.rsvd.max")).unwrap(),
            "4194304"
        );
        assert!(stats(t.path()).unwrap().contains_key("2MB"));
    }
}
