//! Syscall ABIs this build can filter and their name tables.
//!
//! The tables are generated from the kernel's uapi headers (see tools/gen_syscalls.py) and
//! checked in, so a lookup is a binary search over static data: no libseccomp, no allocation.
//! A name missing from a table is a syscall this ABI does not have (or that is newer than the
//! table); compile() skips it, as runc does for names libseccomp cannot resolve.

use crate::tables;

/// `AUDIT_ARCH_X86_64`: the value the kernel puts in `seccomp_data.arch` for x86_64 and x32.
pub(crate) const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
/// `AUDIT_ARCH_I386`.
pub(crate) const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// x32 syscalls share the x86_64 audit arch and are told apart by this bit in the number.
pub(crate) const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// A syscall ABI the kernel of this host can report in `seccomp_data`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Abi {
    X86_64,
    X86,
    X32,
}

impl Abi {
    /// Whether syscall arguments are 64 bits wide. On 32-bit ABIs only the low word of
    /// `seccomp_data.args[i]` is meaningful.
    pub(crate) fn args_are_64bit(self) -> bool {
        // x32 passes full 64-bit registers to the kernel (e.g. for off_t) even though its
        // pointers are 32 bits, so its arguments are compared on 64 bits.
        matches!(self, Abi::X86_64 | Abi::X32)
    }

    fn table(self) -> &'static [(&'static str, u32)] {
        match self {
            Abi::X86_64 => tables::x86_64::X86_64,
            Abi::X86 => tables::x86::X86,
            Abi::X32 => tables::x32::X32,
        }
    }

    /// The syscall number of `name` in this ABI, or None if the ABI has no such syscall.
    pub(crate) fn resolve(self, name: &str) -> Option<u32> {
        let table = self.table();
        table
            .binary_search_by(|(n, _)| (*n).cmp(name))
            .ok()
            .map(|i| table[i].1)
    }
}

/// i386 also reaches the socket and SysV IPC syscalls through the socketcall(2) and ipc(2)
/// multiplexers, selected by their first argument. A rule for, say, `connect` must cover
/// `socketcall(SYS_CONNECT, ...)` too or a 32-bit program walks around it (libseccomp does the
/// same). Returns the multiplexer's number and the value of its first argument (for ipc, the
/// low 16 bits; the high ones carry a version).
pub(crate) fn x86_multiplexed(name: &str) -> Option<(u32, u32)> {
    const SOCKETCALL: u32 = 102;
    const IPC: u32 = 117;
    // linux/net.h SYS_* and linux/ipc.h call numbers.
    const SOCKET_CALLS: [&str; 20] = [
        "socket",
        "bind",
        "connect",
        "listen",
        "accept",
        "getsockname",
        "getpeername",
        "socketpair",
        "send",
        "recv",
        "sendto",
        "recvfrom",
        "shutdown",
        "setsockopt",
        "getsockopt",
        "sendmsg",
        "recvmsg",
        "accept4",
        "recvmmsg",
        "sendmmsg",
    ];
    const IPC_CALLS: [(&str, u32); 12] = [
        ("semop", 1),
        ("semget", 2),
        ("semctl", 3),
        ("semtimedop", 4),
        ("msgsnd", 11),
        ("msgrcv", 12),
        ("msgget", 13),
        ("msgctl", 14),
        ("shmat", 21),
        ("shmdt", 22),
        ("shmget", 23),
        ("shmctl", 24),
    ];
    if let Some(i) = SOCKET_CALLS.iter().position(|n| *n == name) {
        return Some((SOCKETCALL, i as u32 + 1));
    }
    IPC_CALLS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, call)| (IPC, *call))
}

/// The ABI of this build's own processes, always part of a filter.
#[cfg(target_arch = "x86_64")]
pub(crate) const NATIVE: Option<Abi> = Some(Abi::X86_64);
#[cfg(not(target_arch = "x86_64"))]
pub(crate) const NATIVE: Option<Abi> = None;

/// Maps an OCI architecture to an ABI this host can execute. `Ok(None)` means the
/// architecture is valid but can never appear in `seccomp_data` on this kernel (e.g.
/// SCMP_ARCH_AARCH64 on x86_64), so filtering it needs no code at all.
pub(crate) fn abi_of(arch: oci_spec::runtime::Arch) -> Option<Abi> {
    use oci_spec::runtime::Arch;
    match arch {
        Arch::ScmpArchNative => NATIVE,
        #[cfg(target_arch = "x86_64")]
        Arch::ScmpArchX86_64 => Some(Abi::X86_64),
        #[cfg(target_arch = "x86_64")]
        Arch::ScmpArchX86 => Some(Abi::X86),
        #[cfg(target_arch = "x86_64")]
        Arch::ScmpArchX32 => Some(Abi::X32),
        _ => None,
    }
}

/// OCI names of the architectures this build generates filter code for.
pub(crate) fn supported() -> Vec<&'static str> {
    #[cfg(target_arch = "x86_64")]
    {
        vec!["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_and_unique() {
        for abi in [Abi::X86_64, Abi::X86, Abi::X32] {
            let t = abi.table();
            assert!(
                t.windows(2).all(|w| w[0].0 < w[1].0),
                "{abi:?} table not sorted"
            );
        }
    }

    #[test]
    fn known_numbers() {
        assert_eq!(Abi::X86_64.resolve("read"), Some(0));
        assert_eq!(Abi::X86_64.resolve("mkdir"), Some(83));
        assert_eq!(Abi::X86_64.resolve("file_setattr"), Some(469));
        assert_eq!(Abi::X86.resolve("read"), Some(3));
        assert_eq!(Abi::X86.resolve("socketcall"), Some(102));
        assert_eq!(Abi::X32.resolve("read"), Some(X32_SYSCALL_BIT));
        assert_eq!(Abi::X86_64.resolve("socketcall"), None);
        assert_eq!(Abi::X86_64.resolve("no_such_syscall"), None);
    }
}
