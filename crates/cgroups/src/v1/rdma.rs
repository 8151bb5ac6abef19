//! rdma controller: the same rdma.max format on v1 and v2.

use std::collections::HashMap;
use std::path::Path;

use oci_spec::runtime::LinuxRdma;

use crate::error::{Error, Result};
use crate::fs;
use crate::stats::{Rdma, RdmaEntry};

pub(crate) fn apply(dir: &Path, rdma: &HashMap<String, LinuxRdma>) -> Result<()> {
    // Sorted, so the writes (and errors) are deterministic.
    let mut devs: Vec<_> = rdma.iter().collect();
    devs.sort_by(|a, b| a.0.cmp(b.0));
    for (dev, l) in devs {
        if dev.is_empty() || dev.contains(char::is_whitespace) {
            return Err(Error::InvalidValue {
                file: dir.join("rdma.max").display().to_string(),
                msg: format!("bad rdma device name {dev:?}"),
            });
        }
        let mut line = dev.clone();
        if let Some(h) = l.hca_handles() {
            line.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = l.hca_objects() {
            line.push_str(&format!(" hca_object={o}"));
        }
        if line.len() > dev.len() {
            fs::write(dir, "rdma.max", &line)?;
        }
    }
    Ok(())
}

fn parse(dir: &Path, file: &str) -> Result<Vec<RdmaEntry>> {
    let Some(s) = fs::read_opt(dir, file)? else {
        return Ok(Vec::new());
    };
    let num = |v: &str| {
        if v == "max" {
            u32::MAX
        } else {
            v.parse().unwrap_or(0)
        }
    };
    let mut out = Vec::new();
    for line in s.lines() {
        let mut it = line.split_whitespace();
        let Some(dev) = it.next() else { continue };
        let mut e = RdmaEntry {
            device: dev.to_string(),
            ..Default::default()
        };
        for kv in it {
            match kv.split_once('=') {
                Some(("hca_handle", v)) => e.hca_handles = num(v),
                Some(("hca_object", v)) => e.hca_objects = num(v),
                _ => {}
            }
        }
        out.push(e);
    }
    Ok(out)
}

pub(crate) fn stats(dir: &Path) -> Result<Rdma> {
    Ok(Rdma {
        rdma_limit: parse(dir, "rdma.max")?,
        rdma_current: parse(dir, "rdma.current")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxRdmaBuilder;

    #[test]
    fn writes_and_parses() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("rdma.max"), "").unwrap();
        let mut m = HashMap::new();
        m.insert(
            "mlx4_0".to_string(),
            LinuxRdmaBuilder::default()
                .hca_handles(2u32)
                .hca_objects(2000u32)
                .build()
                .unwrap(),
        );
        apply(t.path(), &m).unwrap();
        let s = stats(t.path()).unwrap();
        assert_eq!(s.rdma_limit[0].hca_objects, 2000);
        assert_eq!(s.rdma_limit[0].device, "mlx4_0");
    }
}
