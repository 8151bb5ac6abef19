//! Generated syscall tables (tools/gen_syscalls.py).
pub(crate) mod x32;
pub(crate) mod x86;
pub(crate) mod x86_64;
