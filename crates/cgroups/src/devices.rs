//! Device rules from linux.resources.devices, validated once and shared by the
//! v1 writer (devices.allow / devices.deny) and the v2 eBPF program.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::error::{Error, Result};

pub(crate) const ACC_READ: u8 = 1;
pub(crate) const ACC_WRITE: u8 = 2;
pub(crate) const ACC_MKNOD: u8 = 4;
pub(crate) const ACC_ALL: u8 = 7;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DevType {
    All,
    Block,
    Char,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rule {
    pub allow: bool,
    pub typ: DevType,
    /// None = any.
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: u8,
}

fn num(v: Option<i64>, what: &str, file: &str) -> Result<Option<u32>> {
    match v {
        None => Ok(None),
        // -1 is how some callers spell the wildcard.
        Some(-1) => Ok(None),
        Some(n) => u32::try_from(n).map(Some).map_err(|_| Error::InvalidValue {
            file: file.to_string(),
            msg: format!("{what} number {n} is out of range"),
        }),
    }
}

impl Rule {
    /// `file` names where the rule goes, for error messages.
    pub(crate) fn from_oci(d: &LinuxDeviceCgroup, file: &str) -> Result<Rule> {
        let typ = match d.typ() {
            None | Some(LinuxDeviceType::A) => DevType::All,
            Some(LinuxDeviceType::B) => DevType::Block,
            Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => DevType::Char,
            Some(LinuxDeviceType::P) => {
                return Err(Error::InvalidValue {
                    file: file.to_string(),
                    msg: "device type \"p\" (FIFO) cannot be used in a device cgroup rule".into(),
                })
            }
        };
        let mut access = 0;
        let acc = d.access().as_deref().unwrap_or("");
        for c in acc.chars() {
            access |= match c {
                'r' => ACC_READ,
                'w' => ACC_WRITE,
                'm' => ACC_MKNOD,
                _ => {
                    return Err(Error::InvalidValue {
                        file: file.to_string(),
                        msg: format!("device access {acc:?} has {c:?}; only r, w, m are allowed"),
                    })
                }
            };
        }
        if acc.is_empty() {
            access = ACC_ALL;
        }
        Ok(Rule {
            allow: d.allow(),
            typ,
            major: num(d.major(), "major", file)?,
            minor: num(d.minor(), "minor", file)?,
            access,
        })
    }

    /// The v1 devices.allow/deny line, e.g. "c 1:3 rwm" or "a *:* rwm".
    pub(crate) fn v1_line(&self) -> String {
        let t = match self.typ {
            DevType::All => 'a',
            DevType::Block => 'b',
            DevType::Char => 'c',
        };
        let n = |v: Option<u32>| v.map_or("*".to_string(), |v| v.to_string());
        let mut acc = String::new();
        for (bit, c) in [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')] {
            if self.access & bit != 0 {
                acc.push(c);
            }
        }
        format!("{t} {}:{} {acc}", n(self.major), n(self.minor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceCgroupBuilder;

    #[test]
    fn formats_v1() {
        let d = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::C)
            .major(1)
            .minor(3)
            .access("rw")
            .build()
            .unwrap();
        assert_eq!(Rule::from_oci(&d, "f").unwrap().v1_line(), "c 1:3 rw");
        let d = LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .build()
            .unwrap();
        let r = Rule::from_oci(&d, "f").unwrap();
        assert_eq!(r.v1_line(), "a *:* rwm");
        assert!(!r.allow);
    }

    #[test]
    fn rejects_bad_access_and_fifo() {
        let d = LinuxDeviceCgroupBuilder::default()
            .access("rx")
            .build()
            .unwrap();
        assert!(Rule::from_oci(&d, "devices.allow")
            .unwrap_err()
            .to_string()
            .contains("devices.allow"));
        let d = LinuxDeviceCgroupBuilder::default()
            .typ(LinuxDeviceType::P)
            .build()
            .unwrap();
        assert!(Rule::from_oci(&d, "x").is_err());
        let d = LinuxDeviceCgroupBuilder::default()
            .major(-5)
            .build()
            .unwrap();
        assert!(Rule::from_oci(&d, "x").is_err());
    }
}
