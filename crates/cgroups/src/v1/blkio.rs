//! v1 blkio controller. Kernels without CFQ have no blkio.weight; like runc we
//! then use BFQ's blkio.bfq.weight, and report blkio.weight when neither exists.

use std::path::Path;

use oci_spec::runtime::LinuxBlockIo;

use crate::error::{Error, Result};
use crate::fs;
use crate::stats::{Blkio, BlkioEntry};

fn weight_file(dir: &Path, cfq: &'static str, bfq: &'static str) -> &'static str {
    if !dir.join(cfq).exists() && dir.join(bfq).exists() {
        bfq
    } else {
        cfq
    }
}

pub(super) fn apply(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    // 0 means unset (runc's rule; Docker sends 0 in every spec and update).
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        fs::write(
            dir,
            weight_file(dir, "blkio.weight", "blkio.bfq.weight"),
            &w.to_string(),
        )?;
    }
    if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
        fs::write(dir, "blkio.leaf_weight", &w.to_string())?;
    }
    for d in b.weight_device().as_deref().unwrap_or_default() {
        if let Some(w) = d.weight() {
            let f = weight_file(dir, "blkio.weight_device", "blkio.bfq.weight_device");
            fs::write(dir, f, &format!("{}:{} {w}", d.major(), d.minor()))?;
        }
        if let Some(w) = d.leaf_weight() {
            fs::write(
                dir,
                "blkio.leaf_weight_device",
                &format!("{}:{} {w}", d.major(), d.minor()),
            )?;
        }
    }
    let throttles = [
        (
            "blkio.throttle.read_bps_device",
            b.throttle_read_bps_device(),
        ),
        (
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device(),
        ),
        (
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device(),
        ),
        (
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device(),
        ),
    ];
    for (file, list) in throttles {
        for d in list.as_deref().unwrap_or_default() {
            fs::write(
                dir,
                file,
                &format!("{}:{} {}", d.major(), d.minor(), d.rate()),
            )?;
        }
    }
    Ok(())
}

/// Parse "8:0 Read 4096" lines (the "Total" line is skipped).
fn entries(dir: &Path, file: &str) -> Result<Vec<BlkioEntry>> {
    let Some(s) = fs::read_opt(dir, file)? else {
        return Ok(Vec::new());
    };
    let path = dir.join(file);
    let mut out = Vec::new();
    for line in s.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.is_empty() || f[0] == "Total" {
            continue;
        }
        let bad = || Error::Parse {
            path: path.clone(),
            msg: format!("bad line {line:?}"),
        };
        let (maj, min) = f[0].split_once(':').ok_or_else(bad)?;
        let (op, value) = match f.len() {
            3 => (f[1].to_string(), f[2]),
            2 => (String::new(), f[1]),
            _ => return Err(bad()),
        };
        out.push(BlkioEntry {
            major: maj.parse().map_err(|_| bad())?,
            minor: min.parse().map_err(|_| bad())?,
            op,
            value: value.parse().map_err(|_| bad())?,
        });
    }
    Ok(out)
}

pub(super) fn stats(dir: &Path) -> Result<Blkio> {
    // CFQ files first (absent on modern kernels), then BFQ, then throttle.
    let pick = |names: &[&str]| -> Result<Vec<BlkioEntry>> {
        for n in names {
            let e = entries(dir, n)?;
            if !e.is_empty() {
                return Ok(e);
            }
        }
        Ok(Vec::new())
    };
    Ok(Blkio {
        io_service_bytes_recursive: pick(&[
            "blkio.io_service_bytes_recursive",
            "blkio.bfq.io_service_bytes_recursive",
            "blkio.throttle.io_service_bytes_recursive",
        ])?,
        io_serviced_recursive: pick(&[
            "blkio.io_serviced_recursive",
            "blkio.bfq.io_serviced_recursive",
            "blkio.throttle.io_serviced_recursive",
        ])?,
        io_queued_recursive: pick(&["blkio.io_queued_recursive"])?,
        io_service_time_recursive: pick(&["blkio.io_service_time_recursive"])?,
        io_wait_time_recursive: pick(&["blkio.io_wait_time_recursive"])?,
        io_merged_recursive: pick(&["blkio.io_merged_recursive"])?,
        io_time_recursive: pick(&["blkio.time_recursive"])?,
        sectors_recursive: pick(&["blkio.sectors_recursive"])?,
        psi: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxBlockIoBuilder, LinuxThrottleDeviceBuilder};

    #[test]
    fn bfq_fallback_and_missing_weight() {
        let t = tempfile::tempdir().unwrap();
        let b = LinuxBlockIoBuilder::default()
            .weight(300u16)
            .build()
            .unwrap();
        let e = apply(t.path(), &b).unwrap_err();
        assert!(e.to_string().contains("blkio.weight"), "{e}");
        std::fs::write(t.path().join("blkio.bfq.weight"), "").unwrap();
        apply(t.path(), &b).unwrap();
        assert_eq!(
            std::fs::read_to_string(t.path().join("blkio.bfq.weight")).unwrap(),
            "300"
        );
        let b = LinuxBlockIoBuilder::default()
            .leaf_weight(300u16)
            .build()
            .unwrap();
        assert!(apply(t.path(), &b)
            .unwrap_err()
            .to_string()
            .contains("blkio.leaf_weight"));
    }

    #[test]
    fn throttle() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("blkio.throttle.read_bps_device"), "").unwrap();
        let d = LinuxThrottleDeviceBuilder::default()
            .major(8)
            .minor(0)
            .rate(1000u64)
            .build()
            .unwrap();
        let b = LinuxBlockIoBuilder::default()
            .throttle_read_bps_device(vec![d])
            .build()
            .unwrap();
        apply(t.path(), &b).unwrap();
        assert_eq!(
            std::fs::read_to_string(t.path().join("blkio.throttle.read_bps_device")).unwrap(),
            "8:0 1000"
        );
    }

    #[test]
    fn parses_stats() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(
            t.path().join("blkio.throttle.io_service_bytes_recursive"),
            "8:0 Read 4096\n8:0 Write 0\nTotal 4096\n",
        )
        .unwrap();
        let s = stats(t.path()).unwrap();
        assert_eq!(s.io_service_bytes_recursive.len(), 2);
        assert_eq!(s.io_service_bytes_recursive[0].op, "Read");
        assert_eq!(s.io_service_bytes_recursive[0].value, 4096);
    }
}
