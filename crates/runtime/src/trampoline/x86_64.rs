//! The trampoline program for x86_64 (Intel syntax, position-independent)
//! and the ELF image and sealed memfd that hold it.

use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::{Error, Result};

// The trampoline, position-independent (relative jumps, RIP-relative
// data), between two global labels; `image` copies the bytes behind an
// ELF header. Registers: r12 = the fifo fd, r14 = argv, r15 = envp
// (syscall clobbers only rax, rcx and r11). Never called in this
// process: its own section keeps it apart from the runtime's code.
std::arch::global_asm!(
    ".pushsection .text.onggi_trampoline,\"ax\",@progbits",
    ".globl onggi_trampoline_start",
    ".hidden onggi_trampoline_start",
    ".globl onggi_trampoline_end",
    ".hidden onggi_trampoline_end",
    "onggi_trampoline_start:",
    // Entry, as the kernel sets up a static ELF: [rsp] = argc, then
    // argv[0..argc], NULL, envp..., NULL.
    "mov rcx, qword ptr [rsp]", // rcx = argc
    "cmp rcx, 2",
    "jb .Longgi_tr_usage", // need argv[0] (the fd) and argv[1] (the path)
    "lea r14, [rsp + 8]",  // r14 = argv
    "lea r15, [r14 + 8*rcx + 8]", // r15 = envp, past argv's NULL
    // 1. argv[0] -> fd: one or more decimal digits, at most INT_MAX.
    "mov rsi, qword ptr [r14]", // rsi = argv[0]
    "xor edi, edi",             // rdi = the fd so far
    "movzx eax, byte ptr [rsi]",
    "test eax, eax",
    "jz .Longgi_tr_usage", // empty
    ".Longgi_tr_digit:",
    "sub eax, 0x30", // '0'..'9' -> 0..9, any other byte -> above 9 (unsigned)
    "cmp eax, 9",
    "ja .Longgi_tr_usage",
    "imul rdi, rdi, 10", // rdi <= INT_MAX here, so no overflow
    "add rdi, rax",
    "cmp rdi, 0x7fffffff",
    "ja .Longgi_tr_usage",
    "inc rsi",
    "movzx eax, byte ptr [rsi]",
    "test eax, eax",
    "jnz .Longgi_tr_digit",
    "mov r12, rdi", // r12 = fd
    // 2. fcntl(fd, F_SETFD, FD_CLOEXEC): the fd must not reach the
    //    program. On failure report (rather than exec with it open).
    "mov eax, 72", // SYS_fcntl
    "mov esi, 2",  // F_SETFD
    "mov edx, 1",  // FD_CLOEXEC
    "syscall",
    "test rax, rax",
    "jnz .Longgi_tr_failed", // rax = -errno
    // 3. execve(argv[1], &argv[2], envp); returns only on failure.
    "mov eax, 59", // SYS_execve
    "mov rdi, qword ptr [r14 + 8]",
    "lea rsi, [r14 + 16]",
    "mov rdx, r15",
    "syscall",
    // 4. Report: rax = -errno. The stack gets the 16-byte record header
    //    (magic, errno) at [rsp] and two iovecs at [rsp + 16].
    ".Longgi_tr_failed:",
    "neg eax", // eax = errno (1..4095)
    "sub rsp, 48",
    "mov rcx, qword ptr [rip + .Longgi_tr_magic]",
    "mov qword ptr [rsp], rcx", // magic[0..8]
    "mov ecx, dword ptr [rip + .Longgi_tr_magic + 8]",
    "mov dword ptr [rsp + 8], ecx",  // magic[8..12]
    "mov dword ptr [rsp + 12], eax", // errno, little endian
    "mov rdi, qword ptr [r14 + 8]",  // rdi = argv[1], the path
    "xor ecx, ecx",                  // rcx = strlen(path)
    ".Longgi_tr_strlen:",
    "cmp byte ptr [rdi + rcx], 0",
    "je .Longgi_tr_strlen_done",
    "inc rcx",
    "jmp .Longgi_tr_strlen",
    ".Longgi_tr_strlen_done:",
    "mov qword ptr [rsp + 16], rsp", // iov[0] = {header, 16}
    "mov qword ptr [rsp + 24], 16",
    "mov qword ptr [rsp + 32], rdi", // iov[1] = {path, strlen(path)}
    "mov qword ptr [rsp + 40], rcx",
    "mov eax, 20", // SYS_writev(fd, iov, 2); a short write is not retried
    "mov rdi, r12",
    "lea rsi, [rsp + 16]",
    "mov edx, 2",
    "syscall",
    "mov edi, 1", // exit status 1
    "jmp .Longgi_tr_exit",
    ".Longgi_tr_usage:",
    "mov edi, 126", // EXIT_USAGE: not called by the init; nothing else done
    ".Longgi_tr_exit:",
    "mov eax, 231", // SYS_exit_group(edi)
    "syscall",
    "ud2",               // only if a seccomp filter made exit_group fail: die by SIGILL
    ".Longgi_tr_magic:", // MAGIC: "\0onggi-exec\0"
    ".byte 0",
    ".ascii \"onggi-exec\"",
    ".byte 0",
    "onggi_trampoline_end:",
    ".popsection",
);

extern "C" {
    static onggi_trampoline_start: u8;
    static onggi_trampoline_end: u8;
}

/// The assembled trampoline.
fn code() -> &'static [u8] {
    // SAFETY: both symbols are labels of the global_asm! block above, in
    // one section, start before end. The bytes between them are the
    // assembled trampoline, mapped readable with the binary's code and
    // never written; taking the addresses reads nothing.
    unsafe {
        let start = std::ptr::addr_of!(onggi_trampoline_start);
        let end = std::ptr::addr_of!(onggi_trampoline_end);
        std::slice::from_raw_parts(start, end as usize - start as usize)
    }
}

const VADDR: u64 = 0x40_0000;
const EHDR_SIZE: u16 = 64;
const PHDR_SIZE: u16 = 56;
/// The code follows the ELF header and the two program headers.
const CODE_OFFSET: u64 = EHDR_SIZE as u64 + 2 * PHDR_SIZE as u64;

/// The trampoline as a static ELF64 executable: header, a PT_LOAD that
/// maps the whole file read+execute at VADDR, a PT_GNU_STACK that asks
/// for a non-executable stack, then the code (the entry point).
pub fn image() -> Vec<u8> {
    let code = code();
    let size = CODE_OFFSET + code.len() as u64;
    let mut f = Vec::with_capacity(size as usize);
    let u16le = |f: &mut Vec<u8>, v: u16| f.extend_from_slice(&v.to_le_bytes());
    let u32le = |f: &mut Vec<u8>, v: u32| f.extend_from_slice(&v.to_le_bytes());
    let u64le = |f: &mut Vec<u8>, v: u64| f.extend_from_slice(&v.to_le_bytes());
    // Elf64_Ehdr. e_ident: magic, ELFCLASS64, ELFDATA2LSB, EV_CURRENT,
    // ELFOSABI_SYSV, padding.
    f.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    u16le(&mut f, 2); // e_type: ET_EXEC
    u16le(&mut f, 62); // e_machine: EM_X86_64
    u32le(&mut f, 1); // e_version
    u64le(&mut f, VADDR + CODE_OFFSET); // e_entry
    u64le(&mut f, EHDR_SIZE as u64); // e_phoff
    u64le(&mut f, 0); // e_shoff: no sections
    u32le(&mut f, 0); // e_flags
    u16le(&mut f, EHDR_SIZE); // e_ehsize
    u16le(&mut f, PHDR_SIZE); // e_phentsize
    u16le(&mut f, 2); // e_phnum
    u16le(&mut f, 64); // e_shentsize
    u16le(&mut f, 0); // e_shnum
    u16le(&mut f, 0); // e_shstrndx

    // Elf64_Phdr PT_LOAD, PF_R|PF_X: the whole file at VADDR.
    u32le(&mut f, 1); // p_type
    u32le(&mut f, 4 | 1); // p_flags
    u64le(&mut f, 0); // p_offset
    u64le(&mut f, VADDR); // p_vaddr
    u64le(&mut f, VADDR); // p_paddr
    u64le(&mut f, size); // p_filesz
    u64le(&mut f, size); // p_memsz
    u64le(&mut f, 0x1000); // p_align

    // Elf64_Phdr PT_GNU_STACK, PF_R|PF_W.
    u32le(&mut f, 0x6474_e551);
    u32le(&mut f, 4 | 2);
    for _ in 0..5 {
        u64le(&mut f, 0); // offset, vaddr, paddr, filesz, memsz
    }
    u64le(&mut f, 16); // p_align
    debug_assert_eq!(f.len() as u64, CODE_OFFSET);
    f.extend_from_slice(code);
    f
}

/// MFD_EXEC (Linux 6.3): executable even where vm.memfd_noexec=1 makes
/// memfds non-executable by default. Older kernels reject it (EINVAL).
const MFD_EXEC: libc::c_uint = 0x10;

pub fn memfd() -> Result<OwnedFd> {
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    let create = |flags: libc::c_uint| {
        // SAFETY: memfd_create with a C string literal and flags.
        unsafe { libc::memfd_create(c"onggi-trampoline".as_ptr(), flags) }
    };
    let mut fd = create(flags | MFD_EXEC);
    if fd < 0 && nix::errno::Errno::last() == nix::errno::Errno::EINVAL {
        fd = create(flags);
    }
    if fd < 0 {
        return Err(Error::sys(
            "memfd_create for the exec trampoline",
            nix::errno::Errno::last(),
        ));
    }
    // SAFETY: a new fd that nothing else owns.
    let memfd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut file = std::fs::File::from(memfd);
    file.write_all(&image())
        .map_err(|e| Error::io("exec trampoline memfd", e))?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl(F_ADD_SEALS) on our memfd.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
        return Err(Error::sys(
            "seal the exec trampoline memfd",
            nix::errno::Errno::last(),
        ));
    }
    Ok(file.into())
}
