//! Real filters in forked children: errno, kill, argument matching, ABIs and flags.

mod common;

use common::*;
use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;

const EPERM: i32 = libc::EPERM;

/// A path under a fresh temp dir, as a NUL-terminated buffer made before fork.
fn dir_path(tmp: &tempfile::TempDir, name: &str) -> std::ffi::CString {
    let p = tmp.path().join(name);
    std::ffi::CString::new(p.into_os_string().into_encoded_bytes()).expect("no NUL in path")
}

fn mkdir(path: &std::ffi::CStr) -> Result<i64, i32> {
    sys(libc::SYS_mkdir, [path.as_ptr() as u64, 0o755, 0])
}

/// lseek(-1, offset, whence): EBADF when allowed, so any other errno comes from the filter.
/// Its offset is a full 64-bit argument.
fn lseek(offset: u64, whence: u64) -> Result<i64, i32> {
    sys(libc::SYS_lseek, [u64::MAX, offset, whence])
}

#[test]
fn denied_mkdir_gets_eperm_and_other_calls_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = dir_path(&tmp, "denied");
    let f = filter(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#,
    );
    assert_eq!(exited(errno_in_child(&f, || mkdir(&path))), EPERM);
    assert!(!tmp.path().join("denied").exists());
    // Without the filter the same call works, so the EPERM above came from it.
    assert_eq!(
        exited(in_child(|| mkdir(&path).map_or_else(|e| e, |_| 0))),
        0
    );
    assert!(tmp.path().join("denied").exists());
    assert_eq!(exited(errno_in_child(&f, || lseek(0, 0))), libc::EBADF);
}

#[test]
fn errno_ret_and_default_errno_ret() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = dir_path(&tmp, "d");
    let f = filter(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":28}]}"#,
    );
    assert_eq!(exited(errno_in_child(&f, || mkdir(&path))), libc::ENOSPC);
    // Default deny with a custom errno; everything the child needs after load is allowed.
    let f = filter(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":6,"syscalls":[
            {"names":["exit_group","exit","lseek"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    assert_eq!(exited(errno_in_child(&f, || mkdir(&path))), libc::ENXIO);
    assert_eq!(exited(errno_in_child(&f, || lseek(0, 0))), libc::EBADF);
}

#[test]
fn kill_process_and_kill_thread_end_with_sigsys() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = dir_path(&tmp, "d");
    for action in [
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_THREAD",
    ] {
        let f = filter(&format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{{"names":["mkdir"],"action":"{action}"}}]}}"#
        ));
        match errno_in_child(&f, || mkdir(&path)) {
            WaitStatus::Signaled(_, Signal::SIGSYS, _) => {}
            other => panic!("{action}: expected SIGSYS, got {other:?}"),
        }
    }
    assert!(!tmp.path().join("d").exists());
}

#[test]
fn trap_raises_sigsys() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = dir_path(&tmp, "d");
    let f = filter(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_TRAP"}]}"#,
    );
    match errno_in_child(&f, || mkdir(&path)) {
        WaitStatus::Signaled(_, Signal::SIGSYS, _) => {}
        other => panic!("expected SIGSYS, got {other:?}"),
    }
}

#[test]
fn argument_filter_matches_only_the_given_value() {
    let f = filter(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["personality"],"action":"SCMP_ACT_ERRNO",
            "args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    let personality = |p: u64| sys(libc::SYS_personality, [p, 0, 0]);
    assert_eq!(exited(errno_in_child(&f, || personality(8))), EPERM);
    assert_eq!(exited(errno_in_child(&f, || personality(0xffff_ffff))), 0);
    assert_eq!(exited(errno_in_child(&f, || personality(0))), 0);
}

#[test]
fn every_operator_on_64_bit_values() {
    const BIG: u64 = 0x1_0000_0005;
    let cases: &[(&str, &[(u64, bool)])] = &[
        ("SCMP_CMP_EQ", &[(BIG, true), (5, false), (BIG + 1, false)]),
        ("SCMP_CMP_NE", &[(BIG, false), (5, true), (u64::MAX, true)]),
        (
            "SCMP_CMP_LT",
            &[(5, true), (BIG - 1, true), (BIG, false), (u64::MAX, false)],
        ),
        ("SCMP_CMP_LE", &[(BIG, true), (BIG + 1, false), (0, true)]),
        (
            "SCMP_CMP_GE",
            &[(BIG, true), (0xffff_ffff, false), (u64::MAX, true)],
        ),
        (
            "SCMP_CMP_GT",
            &[(BIG, false), (BIG + 1, true), (6, false), (1 << 63, true)],
        ),
    ];
    for (op, probes) in cases {
        let f = filter(&format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{{"names":["lseek"],"action":"SCMP_ACT_ERRNO",
                "errnoRet":33,"args":[{{"index":1,"value":{BIG},"op":"{op}"}}]}}]}}"#
        ));
        for &(offset, denied) in *probes {
            let want = if denied { libc::EDOM } else { libc::EBADF };
            let got = exited(errno_in_child(&f, || lseek(offset, 0)));
            assert_eq!(got, want, "{op} {offset:#x}");
        }
    }
}

#[test]
fn masked_eq_and_anded_args() {
    // Denied when the offset's bits 32..40 are 0x12, whatever the rest, and whence is 1.
    let f = filter(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["lseek"],"action":"SCMP_ACT_ERRNO",
            "errnoRet":33,"args":[{"index":1,"value":1095216660480,"valueTwo":77309411328,"op":"SCMP_CMP_MASKED_EQ"},
            {"index":2,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    let probe = |offset: u64, whence: u64| exited(errno_in_child(&f, || lseek(offset, whence)));
    assert_eq!(probe(0x12_0000_0000, 1), libc::EDOM);
    assert_eq!(probe(0xab12_dead_beef, 1), libc::EDOM);
    assert_eq!(probe(0x13_0000_0000, 1), libc::EBADF);
    assert_eq!(probe(0x12_0000_0000, 0), libc::EBADF, "args are ANDed");
}

#[test]
fn same_argument_twice_is_ored_like_runc() {
    let f = filter(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["lseek"],"action":"SCMP_ACT_ERRNO",
            "errnoRet":33,"args":[{"index":2,"value":1,"op":"SCMP_CMP_EQ"},{"index":2,"value":2,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    for (whence, want) in [
        (0, libc::EBADF),
        (1, libc::EDOM),
        (2, libc::EDOM),
        (3, libc::EBADF),
    ] {
        assert_eq!(
            exited(errno_in_child(&f, || lseek(0, whence))),
            want,
            "whence {whence}"
        );
    }
}

/// A 32-bit (int 0x80) personality() call.
fn personality_i386(persona: u32) -> Result<i64, i32> {
    let mut ret: i64 = 136; // __NR_personality on i386
                            // SAFETY: int 0x80 enters the kernel's i386 syscall path; personality takes an integer
                            // in ebx and touches no user memory. rbx is reserved by LLVM, so it is saved around the
                            // call; r8-r11 are clobbered by the 32-bit entry.
    unsafe {
        std::arch::asm!(
            "xchg rbx, {p:r}",
            "int 0x80",
            "xchg rbx, {p:r}",
            p = inout(reg) u64::from(persona) => _,
            inout("rax") ret,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
        );
    }
    let ret = ret as i32;
    if ret < 0 {
        Err(-ret)
    } else {
        Ok(i64::from(ret))
    }
}

#[test]
fn i386_syscalls_follow_the_architectures_list() {
    assert_eq!(
        exited(in_child(
            || personality_i386(0xffff_ffff).map_or_else(|e| e, |_| 0)
        )),
        0
    );
    let rule = r#""syscalls":[{"names":["personality"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]}]"#;
    let with_x86 = filter(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],{rule}}}"#
    ));
    assert_eq!(
        exited(errno_in_child(&with_x86, || personality_i386(8))),
        EPERM
    );
    assert_eq!(
        exited(errno_in_child(&with_x86, || personality_i386(0xffff_ffff))),
        0
    );
    // Not listed: an i386 syscall is a bad-architecture call and kills.
    let native = filter(&format!(r#"{{"defaultAction":"SCMP_ACT_ALLOW",{rule}}}"#));
    match errno_in_child(&native, || personality_i386(0xffff_ffff)) {
        WaitStatus::Signaled(_, Signal::SIGSYS, _) => {}
        other => panic!("expected SIGSYS, got {other:?}"),
    }
}

#[test]
fn x32_syscalls_follow_the_architectures_list() {
    let getpid_x32 = || sys(0x4000_0000 | 39, [0, 0, 0]);
    let with_x32 =
        filter(r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X32"]}"#);
    let got = exited(errno_in_child(&with_x32, getpid_x32));
    // Allowed through the filter; the kernel then runs it or, without x32 support, says ENOSYS.
    assert!(got == 0 || got == libc::ENOSYS, "{got}");
    let native = filter(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#);
    match errno_in_child(&native, getpid_x32) {
        WaitStatus::Signaled(_, Signal::SIGSYS, _) => {}
        other => panic!("expected SIGSYS, got {other:?}"),
    }
}

#[test]
fn kernel_accepts_every_flag() {
    let f = filter(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_SPEC_ALLOW",
            "SECCOMP_FILTER_FLAG_TSYNC","SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_LOG"},{"names":["rmdir"],"action":"SCMP_ACT_ERRNO"}]}"#,
    );
    assert_eq!(
        exited(errno_in_child(&f, || sys(
            libc::SYS_rmdir,
            [c"/".as_ptr() as u64, 0, 0]
        ))),
        EPERM
    );
    let f = filter(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/nonexistent","flags":["SECCOMP_FILTER_FLAG_TSYNC",
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],"syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
    );
    let status = in_child(|| match load(&f) {
        Ok(Some(_fd)) => 0,
        Ok(None) => 1,
        Err(code) => code,
    });
    assert_eq!(exited(status), 0);
}

#[test]
fn load_without_privilege_or_no_new_privs_fails_cleanly() {
    // As root the kernel accepts a filter without no_new_privs; as another user it answers
    // EACCES. Either way load() reports instead of panicking.
    let f = filter(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#);
    let status = in_child(|| match f.load() {
        Ok(_) => 0,
        Err(e) => e as i32,
    });
    let code = exited(status);
    assert!(code == 0 || code == libc::EACCES, "{code}");
}
