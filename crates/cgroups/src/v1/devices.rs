//! v1 devices controller: deny everything, then write the rules in order.

use std::path::Path;

use oci_spec::runtime::LinuxDeviceCgroup;

use crate::devices::Rule;
use crate::error::Result;
use crate::fs;

pub(super) fn apply(dir: &Path, devices: &[LinuxDeviceCgroup]) -> Result<()> {
    // Validate all rules before writing any, so a bad rule leaves the
    // previous policy in place.
    let rules = devices
        .iter()
        .map(|d| {
            let f = if d.allow() {
                "devices.allow"
            } else {
                "devices.deny"
            };
            Rule::from_oci(d, &dir.join(f).display().to_string())
        })
        .collect::<Result<Vec<_>>>()?;
    // Default deny: "a" switches the cgroup to deny-all and drops exceptions.
    fs::write(dir, "devices.deny", "a")?;
    for r in &rules {
        let f = if r.allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        fs::write(dir, f, &r.v1_line())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxDeviceCgroupBuilder, LinuxDeviceType};

    #[test]
    fn writes_last_rule() {
        // A scratch file only keeps the last write; the order is tested on a
        // real cgroup in tests/v1.rs.
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("devices.allow"), "").unwrap();
        std::fs::write(t.path().join("devices.deny"), "").unwrap();
        let rules = vec![
            LinuxDeviceCgroupBuilder::default()
                .allow(false)
                .access("rwm")
                .build()
                .unwrap(),
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(LinuxDeviceType::C)
                .major(1)
                .minor(3)
                .access("rwm")
                .build()
                .unwrap(),
        ];
        apply(t.path(), &rules).unwrap();
        assert_eq!(
            std::fs::read_to_string(t.path().join("devices.allow")).unwrap(),
            "c 1:3 rwm"
        );
        assert_eq!(
            std::fs::read_to_string(t.path().join("devices.deny")).unwrap(),
            "a *:* rwm"
        );
    }
}
