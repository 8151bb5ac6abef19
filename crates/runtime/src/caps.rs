//! Linux capabilities: names to numbers and the five sets applied to the
//! container process, through capget/capset and prctl directly.

use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};

/// The kernel's number for a capability.
pub fn number(c: Capability) -> u32 {
    use Capability::*;
    match c {
        Chown => 0,
        DacOverride => 1,
        DacReadSearch => 2,
        Fowner => 3,
        Fsetid => 4,
        Kill => 5,
        Setgid => 6,
        Setuid => 7,
        Setpcap => 8,
        LinuxImmutable => 9,
        NetBindService => 10,
        NetBroadcast => 11,
        NetAdmin => 12,
        NetRaw => 13,
        IpcLock => 14,
        IpcOwner => 15,
        SysModule => 16,
        SysRawio => 17,
        SysChroot => 18,
        SysPtrace => 19,
        SysPacct => 20,
        SysAdmin => 21,
        SysBoot => 22,
        SysNice => 23,
        SysResource => 24,
        SysTime => 25,
        SysTtyConfig => 26,
        Mknod => 27,
        Lease => 28,
        AuditWrite => 29,
        AuditControl => 30,
        Setfcap => 31,
        MacOverride => 32,
        MacAdmin => 33,
        Syslog => 34,
        WakeAlarm => 35,
        BlockSuspend => 36,
        AuditRead => 37,
        Perfmon => 38,
        Bpf => 39,
        CheckpointRestore => 40,
    }
}

/// The highest capability this kernel knows (/proc/sys/kernel/cap_last_cap).
pub fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// The five sets as bit masks, computed before fork so the child only does
/// syscalls. Capabilities the kernel does not know are left out, as runc does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapSets {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

fn mask(set: &Option<Capabilities>, last: u32) -> u64 {
    set.iter()
        .flatten()
        .map(|c| number(*c))
        .filter(|n| *n <= last)
        .fold(0, |m, n| m | (1u64 << n))
}

impl CapSets {
    pub fn from_spec(caps: Option<&LinuxCapabilities>, last: u32) -> CapSets {
        match caps {
            None => CapSets::default(),
            Some(c) => CapSets {
                bounding: mask(c.bounding(), last),
                effective: mask(c.effective(), last),
                permitted: mask(c.permitted(), last),
                inheritable: mask(c.inheritable(), last),
                ambient: mask(c.ambient(), last),
            },
        }
    }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Drop every capability not in `keep` from the bounding set. Needs
/// CAP_SETPCAP, so it runs before the user switch.
pub fn drop_bounding(keep: u64, last: u32) -> nix::Result<()> {
    for cap in 0..=last {
        if keep & (1u64 << cap) == 0 {
            // SAFETY: prctl with integer arguments only.
            let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
            if r != 0 {
                let e = nix::errno::Errno::last();
                // EINVAL: this kernel does not know the capability.
                if e != nix::errno::Errno::EINVAL {
                    return Err(e);
                }
            }
        }
    }
    Ok(())
}

/// Set effective, permitted and inheritable sets of this thread.
pub fn set_process_caps(sets: &CapSets) -> nix::Result<()> {
    let header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let split = |m: u64| [(m & 0xffff_ffff) as u32, (m >> 32) as u32];
    let (e, p, i) = (
        split(sets.effective),
        split(sets.permitted),
        split(sets.inheritable),
    );
    let data = [
        CapData {
            effective: e[0],
            permitted: p[0],
            inheritable: i[0],
        },
        CapData {
            effective: e[1],
            permitted: p[1],
            inheritable: i[1],
        },
    ];
    // SAFETY: header and data are valid for the v3 ABI (two CapData).
    let r = unsafe { libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr()) };
    if r != 0 {
        return Err(nix::errno::Errno::last());
    }
    Ok(())
}

/// Raise the ambient set (after capset: ambient caps must be permitted and
/// inheritable).
pub fn set_ambient(ambient: u64, last: u32) -> nix::Result<()> {
    // SAFETY: prctl with integer arguments only.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    for cap in 0..=last {
        if ambient & (1u64 << cap) != 0 {
            // SAFETY: prctl with integer arguments only.
            let r = unsafe {
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE,
                    cap as libc::c_ulong,
                    0,
                    0,
                )
            };
            if r != 0 {
                return Err(nix::errno::Errno::last());
            }
        }
    }
    Ok(())
}

/// Names of every capability this build knows, for `features`.
pub fn all_names() -> Vec<String> {
    use Capability::*;
    let all = [
        AuditControl,
        AuditRead,
        AuditWrite,
        BlockSuspend,
        Bpf,
        CheckpointRestore,
        Chown,
        DacOverride,
        DacReadSearch,
        Fowner,
        Fsetid,
        IpcLock,
        IpcOwner,
        Kill,
        Lease,
        LinuxImmutable,
        MacAdmin,
        MacOverride,
        Mknod,
        NetAdmin,
        NetBindService,
        NetBroadcast,
        NetRaw,
        Perfmon,
        Setfcap,
        Setgid,
        Setpcap,
        Setuid,
        SysAdmin,
        SysBoot,
        SysChroot,
        SysModule,
        SysNice,
        SysPacct,
        SysPtrace,
        SysRawio,
        SysResource,
        SysTime,
        SysTtyConfig,
        Syslog,
        WakeAlarm,
    ];
    let mut v: Vec<(u32, String)> = all
        .iter()
        .map(|c| {
            (
                number(*c),
                serde_json::to_value(c)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default(),
            )
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, n)| n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cover_every_number_once() {
        let names = all_names();
        assert_eq!(names.len(), 41);
        assert_eq!(names[0], "CAP_CHOWN");
        assert_eq!(names[40], "CAP_CHECKPOINT_RESTORE");
    }

    #[test]
    fn masks_skip_unknown_caps() {
        let caps: LinuxCapabilities = serde_json::from_value(serde_json::json!({
            "bounding": ["CAP_KILL", "CAP_CHECKPOINT_RESTORE"],
            "effective": ["CAP_SYS_ADMIN"]
        }))
        .expect("parse");
        let s = CapSets::from_spec(Some(&caps), 39);
        assert_eq!(s.bounding, 1 << 5);
        assert_eq!(s.effective, 1 << 21);
        assert_eq!(s.ambient, 0);
    }
}
