//! v2 io controller. Weights use io.bfq.weight when BFQ is there (same
//! 1..1000 range as blkio), else io.weight with runc's blkio-to-io scaling.

use std::path::Path;

use oci_spec::runtime::LinuxBlockIo;

use super::{unsupported, Avail};
use crate::error::{Error, Result};
use crate::fs;
use crate::stats::{Blkio, BlkioEntry};

/// blkio weight [10, 1000] to io.weight [1, 10000].
pub(crate) fn blkio_to_io_weight(w: u16) -> u64 {
    let w = u64::from(w.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

fn weight_target(dir: &Path) -> (&'static str, bool) {
    if dir.join("io.bfq.weight").exists() {
        ("io.bfq.weight", false)
    } else {
        ("io.weight", true)
    }
}

pub(crate) fn apply(dir: &Path, avail: &Avail, b: &LinuxBlockIo) -> Result<()> {
    if b.leaf_weight().is_some_and(|w| w != 0) {
        return Err(unsupported(
            "linux.resources.blockIO.leafWeight",
            "blkio.leaf_weight",
        ));
    }
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        avail.need("io", "io.weight")?;
        let (file, scale) = weight_target(dir);
        let v = if scale {
            blkio_to_io_weight(w)
        } else {
            u64::from(w)
        };
        // The default weight is written as "default <w>".
        fs::write(dir, file, &format!("default {v}"))?;
    }
    for d in b.weight_device().as_deref().unwrap_or_default() {
        if d.leaf_weight().is_some() {
            return Err(unsupported(
                "linux.resources.blockIO.weightDevice[].leafWeight",
                "blkio.leaf_weight_device",
            ));
        }
        if let Some(w) = d.weight() {
            avail.need("io", "io.weight")?;
            let (file, scale) = weight_target(dir);
            let v = if scale {
                blkio_to_io_weight(w)
            } else {
                u64::from(w)
            };
            fs::write(dir, file, &format!("{}:{} {v}", d.major(), d.minor()))?;
        }
    }
    let throttles = [
        ("rbps", b.throttle_read_bps_device()),
        ("wbps", b.throttle_write_bps_device()),
        ("riops", b.throttle_read_iops_device()),
        ("wiops", b.throttle_write_iops_device()),
    ];
    for (key, list) in throttles {
        for d in list.as_deref().unwrap_or_default() {
            avail.need("io", "io.max")?;
            // 0 means "no limit" in OCI's throttle lists.
            let rate = if d.rate() == 0 {
                "max".to_string()
            } else {
                d.rate().to_string()
            };
            fs::write(
                dir,
                "io.max",
                &format!("{}:{} {key}={rate}", d.major(), d.minor()),
            )?;
        }
    }
    Ok(())
}

/// io.stat lines: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0".
pub(crate) fn stats(dir: &Path) -> Result<Blkio> {
    let mut out = Blkio::default();
    let Some(s) = fs::read_opt(dir, "io.stat")? else {
        return Ok(out);
    };
    let path = dir.join("io.stat");
    for line in s.lines() {
        let mut it = line.split_whitespace();
        let Some(dev) = it.next() else { continue };
        let bad = || Error::Parse {
            path: path.clone(),
            msg: format!("bad line {line:?}"),
        };
        let (maj, min) = dev.split_once(':').ok_or_else(bad)?;
        let (major, minor) = (
            maj.parse::<u64>().map_err(|_| bad())?,
            min.parse::<u64>().map_err(|_| bad())?,
        );
        for kv in it {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse::<u64>() else {
                continue;
            };
            let (list, op) = match k {
                "rbytes" => (&mut out.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut out.io_service_bytes_recursive, "Write"),
                "dbytes" => (&mut out.io_service_bytes_recursive, "Discard"),
                "rios" => (&mut out.io_serviced_recursive, "Read"),
                "wios" => (&mut out.io_serviced_recursive, "Write"),
                "dios" => (&mut out.io_serviced_recursive, "Discard"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxBlockIoBuilder, LinuxThrottleDeviceBuilder};

    #[test]
    fn weights_and_throttle() {
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10000);
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("cgroup.controllers"), "io").unwrap();
        std::fs::write(t.path().join("io.weight"), "").unwrap();
        std::fs::write(t.path().join("io.max"), "").unwrap();
        let avail = Avail::read(t.path()).unwrap();
        let d = LinuxThrottleDeviceBuilder::default()
            .major(8)
            .minor(0)
            .rate(1000u64)
            .build()
            .unwrap();
        let b = LinuxBlockIoBuilder::default()
            .weight(1000u16)
            .throttle_write_iops_device(vec![d])
            .build()
            .unwrap();
        apply(t.path(), &avail, &b).unwrap();
        assert_eq!(
            std::fs::read_to_string(t.path().join("io.weight")).unwrap(),
            "default 10000"
        );
        assert_eq!(
            std::fs::read_to_string(t.path().join("io.max")).unwrap(),
            "8:0 wiops=1000"
        );
    }

    #[test]
    fn parses_io_stat() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(
            t.path().join("io.stat"),
            "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
        )
        .unwrap();
        let s = stats(t.path()).unwrap();
        assert_eq!(s.io_service_bytes_recursive[1].value, 20);
        assert_eq!(s.io_serviced_recursive[0].op, "Read");
    }
}
