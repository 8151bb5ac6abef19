//! fstab-style mount options to mount(2) flags, propagation changes,
//! recursive attributes (mount_setattr) and the filesystem data string.

use nix::mount::MsFlags;

/// Attribute bits of mount_setattr(2) (linux/mount.h).
pub mod attr {
    pub const RDONLY: u64 = 0x1;
    pub const NOSUID: u64 = 0x2;
    pub const NODEV: u64 = 0x4;
    pub const NOEXEC: u64 = 0x8;
    pub const ATIME_MASK: u64 = 0x70;
    pub const RELATIME: u64 = 0x0;
    pub const NOATIME: u64 = 0x10;
    pub const STRICTATIME: u64 = 0x20;
    pub const NODIRATIME: u64 = 0x80;
    pub const NOSYMFOLLOW: u64 = 0x0020_0000;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags to set in mount(2).
    pub flags: MsFlags,
    /// Flags the options explicitly clear (e.g. "rw", "suid"); needed to know
    /// which flags a bind remount must keep.
    pub cleared: MsFlags,
    /// Propagation changes, applied in order after the mount.
    pub propagation: Vec<MsFlags>,
    /// Recursive attributes ("rro", "rnosuid", ...): set / clear masks.
    pub rec_set: u64,
    pub rec_clear: u64,
    /// Everything else, comma-joined, passed as mount data.
    pub data: String,
    /// "idmap" (Some(false)) or "ridmap" (Some(true), recursive).
    pub idmap: Option<bool>,
}

impl MountOptions {
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }
}

/// A propagation option name to its flags.
pub fn propagation_flag(name: &str) -> Option<MsFlags> {
    Some(match name {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

/// (set?, flag) for a plain mount(2) option.
fn flag(name: &str) -> Option<(bool, MsFlags)> {
    use MsFlags as F;
    Some(match name {
        "defaults" => (true, F::empty()),
        "ro" => (true, F::MS_RDONLY),
        "rw" => (false, F::MS_RDONLY),
        "nosuid" => (true, F::MS_NOSUID),
        "suid" => (false, F::MS_NOSUID),
        "nodev" => (true, F::MS_NODEV),
        "dev" => (false, F::MS_NODEV),
        "noexec" => (true, F::MS_NOEXEC),
        "exec" => (false, F::MS_NOEXEC),
        "sync" => (true, F::MS_SYNCHRONOUS),
        "async" => (false, F::MS_SYNCHRONOUS),
        "dirsync" => (true, F::MS_DIRSYNC),
        "remount" => (true, F::MS_REMOUNT),
        "mand" => (true, F::MS_MANDLOCK),
        "nomand" => (false, F::MS_MANDLOCK),
        "atime" => (false, F::MS_NOATIME),
        "noatime" => (true, F::MS_NOATIME),
        "diratime" => (false, F::MS_NODIRATIME),
        "nodiratime" => (true, F::MS_NODIRATIME),
        "relatime" => (true, F::MS_RELATIME),
        "norelatime" => (false, F::MS_RELATIME),
        "strictatime" => (true, F::MS_STRICTATIME),
        "nostrictatime" => (false, F::MS_STRICTATIME),
        "lazytime" => (true, F::MS_LAZYTIME),
        "nolazytime" => (false, F::MS_LAZYTIME),
        "iversion" => (true, F::MS_I_VERSION),
        "noiversion" => (false, F::MS_I_VERSION),
        "silent" => (true, F::MS_SILENT),
        "loud" => (false, F::MS_SILENT),
        "bind" => (true, F::MS_BIND),
        "rbind" => (true, F::MS_BIND | F::MS_REC),
        // MS_NOSYMFOLLOW (Linux 5.10) is not in every libc's MsFlags.
        "nosymfollow" => (true, F::from_bits_retain(256)),
        "symfollow" => (false, F::from_bits_retain(256)),
        _ => return None,
    })
}

/// (set?, attribute) for a recursive "r…" option applied with mount_setattr.
fn rec_attr(name: &str) -> Option<(bool, u64)> {
    Some(match name {
        "rro" => (true, attr::RDONLY),
        "rrw" => (false, attr::RDONLY),
        "rnosuid" => (true, attr::NOSUID),
        "rsuid" => (false, attr::NOSUID),
        "rnodev" => (true, attr::NODEV),
        "rdev" => (false, attr::NODEV),
        "rnoexec" => (true, attr::NOEXEC),
        "rexec" => (false, attr::NOEXEC),
        "rnodiratime" => (true, attr::NODIRATIME),
        "rdiratime" => (false, attr::NODIRATIME),
        "rrelatime" => (true, attr::RELATIME),
        "rnorelatime" => (false, attr::RELATIME),
        "rnoatime" => (true, attr::NOATIME),
        "ratime" => (false, attr::NOATIME),
        "rstrictatime" => (true, attr::STRICTATIME),
        "rnostrictatime" => (false, attr::STRICTATIME),
        "rnosymfollow" => (true, attr::NOSYMFOLLOW),
        "rsymfollow" => (false, attr::NOSYMFOLLOW),
        _ => return None,
    })
}

/// Every option is accepted at this level; combinations are checked by
/// the spec validation (e.g. idmap needs a bind mount and id mappings).
pub fn check_option(_o: &str) -> Result<(), String> {
    Ok(())
}

pub fn parse(options: &[String]) -> MountOptions {
    let mut m = MountOptions {
        flags: MsFlags::empty(),
        cleared: MsFlags::empty(),
        propagation: Vec::new(),
        rec_set: 0,
        rec_clear: 0,
        data: String::new(),
        idmap: None,
    };
    let mut data: Vec<&str> = Vec::new();
    for o in options {
        let o = o.as_str();
        if let Some((set, f)) = flag(o) {
            if set {
                m.flags |= f;
                m.cleared &= !f;
            } else {
                m.flags &= !f;
                m.cleared |= f;
            }
        } else if o == "idmap" || o == "ridmap" {
            m.idmap = Some(o == "ridmap");
        } else if let Some(p) = propagation_flag(o) {
            m.propagation.push(p);
        } else if let Some((set, a)) = rec_attr(o) {
            if set {
                m.rec_set |= a;
                m.rec_clear &= !a;
            } else {
                m.rec_clear |= a;
                m.rec_set &= !a;
            }
            if a & attr::ATIME_MASK != 0 || a == attr::RELATIME {
                // The atime attributes are an enum: changing one means
                // clearing the whole field first.
                m.rec_clear |= attr::ATIME_MASK;
            }
        } else if !o.is_empty() {
            data.push(o);
        }
    }
    m.data = data.join(",");
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[&str]) -> MountOptions {
        parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn flags_data_and_propagation() {
        let m = p(&["nosuid", "strictatime", "mode=755", "size=65536k", "rslave"]);
        assert_eq!(m.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(m.data, "mode=755,size=65536k");
        assert_eq!(m.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
    }

    #[test]
    fn later_options_win() {
        let m = p(&["ro", "rw", "rbind"]);
        assert!(!m.flags.contains(MsFlags::MS_RDONLY));
        assert!(m.cleared.contains(MsFlags::MS_RDONLY));
        assert!(m.is_bind() && m.flags.contains(MsFlags::MS_REC));
    }

    #[test]
    fn recursive_attributes() {
        let m = p(&["rro", "rnosuid", "rnoatime"]);
        assert_eq!(m.rec_set, attr::RDONLY | attr::NOSUID | attr::NOATIME);
        assert_eq!(m.rec_clear & attr::ATIME_MASK, attr::ATIME_MASK);
        assert!(m.data.is_empty());
    }
}
