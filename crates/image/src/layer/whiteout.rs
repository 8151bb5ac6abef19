//! Whiteouts: how a layer deletes what lower layers hold. In a layer tar
//! they are `.wh.NAME` (delete NAME) and `.wh..wh..opq` (hide everything
//! the lower layers have in this directory). In a snapshot they become
//! what overlayfs understands: a 0/0 character device and the
//! `trusted.overlay.opaque` xattr.

use std::ffi::OsStr;
use std::os::fd::AsFd;

use nix::sys::stat::{mknodat, Mode, SFlag};

use super::safe::{remove_all_at, set_xattr_at};

pub const WHITEOUT_PREFIX: &str = ".wh.";
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Turns `.wh.NAME` in `dir` into an overlay whiteout for NAME.
pub fn make_whiteout(dir: &impl AsFd, name: &OsStr) -> std::io::Result<()> {
    remove_all_at(dir, name)?;
    mknodat(dir.as_fd(), name, SFlag::S_IFCHR, Mode::empty(), 0)?;
    Ok(())
}

/// Marks `dir` (opened as `parent`/`name`) opaque.
pub fn make_opaque(parent: &impl AsFd, name: &OsStr) -> std::io::Result<()> {
    set_xattr_at(parent, name, OVERLAY_OPAQUE_XATTR, b"y")
}
