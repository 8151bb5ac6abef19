//! onggi-runtime: an OCI runtime (runtime-spec 1.3) with runc's command
//! line. The binary only parses arguments; everything is here.
//!
//! Module map: `spec` loads and checks a bundle; `create` clones the init
//! (parent side) and `init` is what the init does until execve (child
//! side); `rootfs` builds the container's "/"; `lifecycle` and `run` are
//! the commands after create; `state` is what is kept between commands.

pub mod caps;
pub mod cpu;
pub mod create;
pub mod error;
pub mod exec;
pub mod features;
pub mod hooks;
pub mod init;
pub mod lifecycle;
pub mod log;
pub mod manage;
pub mod rootfs;
pub mod run;
pub mod selfprotect;
pub mod signal;
pub mod spec;
pub mod state;
pub mod supervise;
pub mod sync;
pub mod time;
pub mod trampoline;
pub mod tty;

pub use error::{Error, Result};
pub use oci_spec;
