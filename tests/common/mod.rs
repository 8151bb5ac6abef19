//! Shared harness for the black-box runtime tests: bundles with a busybox
//! rootfs, a per-test state root, and a guard that force-deletes every
//! container a test created and checks that nothing was left behind.
//!
//! Every test file does `mod common;`; not every file uses every helper.
#![allow(dead_code)]

mod bundle;
mod cgroups;
mod ctx;
mod proc;
mod rootfs;
mod run;
mod tty;

#[allow(unused_imports)]
pub use bundle::*;
#[allow(unused_imports)]
pub use cgroups::*;
#[allow(unused_imports)]
pub use ctx::*;
#[allow(unused_imports)]
pub use proc::*;
#[allow(unused_imports)]
pub use rootfs::*;
#[allow(unused_imports)]
pub use run::*;
#[allow(unused_imports)]
pub use tty::*;
