//! Minimal images from host binaries: the binaries, exactly the shared
//! libraries they load (as ld.so would find them) and nothing else.

pub mod elf;
mod from_host;
pub mod ldcache;
mod tree;

pub use from_host::{build_from_host, BuildOptions};
pub use tree::rfc3339;
