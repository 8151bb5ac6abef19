//! Unit tests of compile(): validation errors, name handling, flags, and the generated
//! program's decisions, run through the BPF interpreter in bpf::interp.

use crate::bpf::interp::{run, Data};
use crate::compile::*;
use crate::names::{AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT};
use crate::{compile, parse_seccomp, Error, Filter};

const EPERM: u32 = libc::EPERM as u32;
const ENOSYS: u32 = libc::ENOSYS as u32;
const MKDIR: u32 = 83;
const MKDIR_I386: u32 = 39;
const PERSONALITY: u32 = 135;

fn filter(json: &str) -> Result<Filter, Error> {
    compile(&parse_seccomp(json.as_bytes())?)
}

fn ok(json: &str) -> Filter {
    match filter(json) {
        Ok(f) => f,
        Err(e) => panic!("compile failed: {e}\n{json}"),
    }
}

fn err(json: &str) -> String {
    match filter(json) {
        Ok(_) => panic!("compile should fail:\n{json}"),
        Err(e) => e.to_string(),
    }
}

fn x64(f: &Filter, nr: u32, args: [u64; 6]) -> u32 {
    run(
        f.instructions(),
        &Data {
            nr,
            arch: AUDIT_ARCH_X86_64,
            args,
        },
    )
}

fn call(f: &Filter, nr: u32) -> u32 {
    x64(f, nr, [0; 6])
}

#[test]
fn errors_name_what_is_wrong() {
    let e = err(r#"{"defaultAction":"SCMP_ACT_BOGUS"}"#);
    assert!(
        e.contains("SCMP_ACT_BOGUS") && e.contains("defaultAction"),
        "{e}"
    );
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOPE"}]}"#,
    );
    assert!(
        e.contains("SCMP_ACT_NOPE") && e.contains("syscalls[0].action"),
        "{e}"
    );
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO",
            "args":[{"index":0,"value":1,"op":"SCMP_CMP_ALMOST"}]}]}"#,
    );
    assert!(
        e.contains("SCMP_CMP_ALMOST") && e.contains("args[0].op"),
        "{e}"
    );
    let e = err(r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_VAX"]}"#);
    assert!(e.contains("SCMP_ARCH_VAX"), "{e}");
    let e = err(r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_FAST"]}"#);
    assert!(e.contains("SECCOMP_FILTER_FLAG_FAST"), "{e}");
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_KILL","errnoRet":5}]}"#,
    );
    assert!(e.contains("SCMP_ACT_KILL") && e.contains("mkdir"), "{e}");
    let e = err(r#"{"defaultAction":"SCMP_ACT_ALLOW","defaultErrnoRet":1}"#);
    assert!(
        e.contains("defaultErrnoRet") && e.contains("SCMP_ACT_ALLOW"),
        "{e}"
    );
    let e = err(r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":70000}"#);
    assert!(e.contains("70000"), "{e}");
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO",
            "args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    assert!(e.contains("index 6"), "{e}");
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["ioctl"],"action":"SCMP_ACT_NOTIFY"}]}"#,
    );
    assert!(e.contains("listenerPath") && e.contains("ioctl"), "{e}");
    let e = err(r#"{"defaultAction":"SCMP_ACT_NOTIFY","listenerPath":"/x"}"#);
    assert!(e.contains("defaultAction"), "{e}");
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":[],"action":"SCMP_ACT_ERRNO"}]}"#,
    );
    assert!(e.contains("syscalls[0].names"), "{e}");
}

#[test]
fn errno_defaults_to_eperm_and_takes_errno_ret() {
    let f = ok(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["mkdir"],"action":"SCMP_ACT_ERRNO"},
        {"names":["rmdir"],"action":"SCMP_ACT_ERRNO","errnoRet":38},
        {"names":["chdir"],"action":"SCMP_ACT_TRACE"},
        {"names":["fchdir"],"action":"SCMP_ACT_KILL_PROCESS"},
        {"names":["chroot"],"action":"SCMP_ACT_KILL"},
        {"names":["sync"],"action":"SCMP_ACT_TRAP"},
        {"names":["syncfs"],"action":"SCMP_ACT_LOG"}]}"#);
    assert_eq!(call(&f, MKDIR), RET_ERRNO | EPERM);
    assert_eq!(call(&f, 84), RET_ERRNO | 38);
    assert_eq!(call(&f, 80), RET_TRACE | EPERM);
    assert_eq!(call(&f, 81), RET_KILL_PROCESS);
    assert_eq!(call(&f, 161), RET_KILL_THREAD);
    assert_eq!(call(&f, 162), RET_TRAP);
    assert_eq!(call(&f, 306), RET_LOG);
    assert_eq!(call(&f, 0), RET_ALLOW);
    let f = ok(r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":13}"#);
    assert_eq!(call(&f, MKDIR), RET_ERRNO | 13);
}

#[test]
fn unknown_names_are_skipped() {
    let f = ok(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["no_such_syscall","mkdir","socketcall"],"action":"SCMP_ACT_ERRNO"}]}"#);
    assert_eq!(call(&f, MKDIR), RET_ERRNO | EPERM);
    let only_unknown = ok(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["no_such_syscall"],"action":"SCMP_ACT_ERRNO"}]}"#);
    let empty = ok(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#);
    assert_eq!(
        only_unknown.instructions().len(),
        empty.instructions().len()
    );
}

#[test]
fn rules_equal_to_the_default_are_dropped() {
    let f = ok(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
        {"names":["mkdir"],"action":"SCMP_ACT_ERRNO"},
        {"names":["rmdir"],"action":"SCMP_ACT_ERRNO","errnoRet":1},
        {"names":["chdir"],"action":"SCMP_ACT_ERRNO","errnoRet":2}]}"#);
    assert_eq!(call(&f, MKDIR), RET_ERRNO | EPERM);
    assert_eq!(call(&f, 80), RET_ERRNO | 2);
}

#[test]
fn flags() {
    let f = ok(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW","SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}"#,
    );
    assert_eq!(
        f.flags(),
        (libc::SECCOMP_FILTER_FLAG_LOG | libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW) as u32
    );
    assert!(!f.has_notify());
    let f = ok(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/agent.sock",
        "flags":["SECCOMP_FILTER_FLAG_TSYNC","SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
    );
    let want = libc::SECCOMP_FILTER_FLAG_TSYNC
        | libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH
        | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
        | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
    assert_eq!(f.flags(), want as u32);
    assert!(f.has_notify());
    assert_eq!(call(&f, MKDIR), RET_USER_NOTIF);
    assert_eq!(
        f.listener_path(),
        Some(std::path::Path::new("/run/agent.sock"))
    );
}

#[test]
fn architectures_dispatch() {
    let profile = |archs: &str| {
        ok(&format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW","architectures":[{archs}],
            "syscalls":[{{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}}]}}"#
        ))
    };
    let i386 = |f: &Filter, nr| {
        run(
            f.instructions(),
            &Data {
                nr,
                arch: AUDIT_ARCH_I386,
                args: [0; 6],
            },
        )
    };
    let all = profile(r#""SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32","SCMP_ARCH_AARCH64""#);
    assert_eq!(call(&all, MKDIR), RET_ERRNO | EPERM);
    assert_eq!(i386(&all, MKDIR_I386), RET_ERRNO | EPERM);
    assert_eq!(i386(&all, MKDIR), RET_ALLOW, "83 is not mkdir on i386");
    assert_eq!(call(&all, X32_SYSCALL_BIT | MKDIR), RET_ERRNO | EPERM);
    assert_eq!(call(&all, X32_SYSCALL_BIT), RET_ALLOW);
    assert_eq!(
        run(
            all.instructions(),
            &Data {
                nr: 0,
                arch: 0xc00000b7,
                args: [0; 6]
            }
        ),
        RET_KILL_PROCESS
    );
    // The native ABI is always there; the others only when listed.
    let native = profile("");
    assert_eq!(call(&native, MKDIR), RET_ERRNO | EPERM);
    assert_eq!(i386(&native, MKDIR_I386), RET_KILL_PROCESS);
    assert_eq!(call(&native, X32_SYSCALL_BIT | MKDIR), RET_KILL_PROCESS);
    let x86_only = profile(r#""SCMP_ARCH_X86""#);
    assert_eq!(call(&x86_only, MKDIR), RET_ERRNO | EPERM);
    assert_eq!(i386(&x86_only, MKDIR_I386), RET_ERRNO | EPERM);
}

#[test]
fn enosys_above_the_profile_like_runc() {
    let f = ok(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
        {"names":["read","write","mkdir"],"action":"SCMP_ACT_ALLOW"}]}"#);
    assert_eq!(call(&f, 0), RET_ALLOW);
    assert_eq!(call(&f, 2), RET_ERRNO | EPERM);
    assert_eq!(call(&f, MKDIR), RET_ALLOW);
    assert_eq!(call(&f, MKDIR + 1), RET_ERRNO | ENOSYS);
    assert_eq!(call(&f, 435), RET_ERRNO | ENOSYS);
    let allow = ok(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["read"],"action":"SCMP_ACT_ERRNO"}]}"#);
    assert_eq!(call(&allow, 435), RET_ALLOW);
}

#[test]
fn several_rules_for_one_syscall() {
    // Conditional rules: the first that matches decides; an unconditional rule wins.
    let f = ok(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["personality"],"action":"SCMP_ACT_ERRNO","errnoRet":1,"args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]},
        {"names":["personality"],"action":"SCMP_ACT_ERRNO","errnoRet":2,"args":[{"index":0,"value":4,"op":"SCMP_CMP_GE"}]},
        {"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":3,"args":[{"index":1,"value":0,"op":"SCMP_CMP_EQ"}]},
        {"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":4},
        {"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":5}]}"#);
    let p = |a0| x64(&f, PERSONALITY, [a0, 0, 0, 0, 0, 0]);
    assert_eq!(p(8), RET_ERRNO | 1);
    assert_eq!(p(9), RET_ERRNO | 2);
    assert_eq!(p(3), RET_ALLOW);
    assert_eq!(x64(&f, MKDIR, [0; 6]), RET_ERRNO | 4);
    assert_eq!(x64(&f, MKDIR, [0, 7, 0, 0, 0, 0]), RET_ERRNO | 4);
}

#[test]
fn args_on_different_indexes_and_or_on_the_same_index() {
    let f = ok(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["personality"],"action":"SCMP_ACT_ERRNO","args":[
            {"index":0,"value":1,"op":"SCMP_CMP_EQ"},{"index":1,"value":2,"op":"SCMP_CMP_EQ"}]},
        {"names":["mkdir"],"action":"SCMP_ACT_ERRNO","args":[
            {"index":0,"value":1,"op":"SCMP_CMP_EQ"},{"index":0,"value":2,"op":"SCMP_CMP_EQ"}]}]}"#);
    let p = |a0, a1| x64(&f, PERSONALITY, [a0, a1, 0, 0, 0, 0]);
    assert_eq!(p(1, 2), RET_ERRNO | EPERM);
    assert_eq!(p(1, 3), RET_ALLOW);
    assert_eq!(p(0, 2), RET_ALLOW);
    let m = |a0| x64(&f, MKDIR, [a0, 0, 0, 0, 0, 0]);
    assert_eq!(m(1), RET_ERRNO | EPERM);
    assert_eq!(m(2), RET_ERRNO | EPERM);
    assert_eq!(m(3), RET_ALLOW);
}

#[test]
fn masked_eq_and_64_bit_values() {
    let f = ok(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["personality"],"action":"SCMP_ACT_ERRNO","args":[
            {"index":0,"value":4294967295,"valueTwo":8,"op":"SCMP_CMP_MASKED_EQ"}]},
        {"names":["mkdir"],"action":"SCMP_ACT_ERRNO","args":[
            {"index":2,"value":4294967297,"op":"SCMP_CMP_GT"}]}]}"#);
    let p = |a0| x64(&f, PERSONALITY, [a0, 0, 0, 0, 0, 0]);
    assert_eq!(p(8), RET_ERRNO | EPERM);
    assert_eq!(p(0xdead_0000_0000_0008), RET_ERRNO | EPERM);
    assert_eq!(p(9), RET_ALLOW);
    let m = |a2| x64(&f, MKDIR, [0, 0, a2, 0, 0, 0]);
    assert_eq!(m(0x1_0000_0002), RET_ERRNO | EPERM);
    assert_eq!(m(0x2_0000_0000), RET_ERRNO | EPERM);
    assert_eq!(m(0x1_0000_0001), RET_ALLOW);
    assert_eq!(m(0xffff_ffff), RET_ALLOW);
}

#[test]
fn big_profile_fits_and_decides_every_syscall() {
    // Every x86_64 syscall allowed by name, like a wide Docker profile on three ABIs.
    let names: Vec<&str> = crate::tables::x86_64::X86_64
        .iter()
        .map(|(n, _)| *n)
        .collect();
    let json = format!(
        r#"{{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
        "syscalls":[{{"names":{}, "action":"SCMP_ACT_ALLOW"}}]}}"#,
        serde_json::to_string(&names).unwrap_or_default()
    );
    let f = ok(&json);
    assert!(f.instructions().len() <= MAX_INSNS);
    for (_, nr) in crate::tables::x86_64::X86_64 {
        assert_eq!(call(&f, *nr), RET_ALLOW, "syscall {nr}");
    }
    for (_, nr) in crate::tables::x86::X86 {
        let got = run(
            f.instructions(),
            &Data {
                nr: *nr,
                arch: AUDIT_ARCH_I386,
                args: [0; 6],
            },
        );
        assert!(
            got == RET_ALLOW || got == RET_ERRNO | EPERM,
            "i386 syscall {nr}: {got:#x}"
        );
    }
    assert_eq!(call(&f, 1000), RET_ERRNO | ENOSYS);
}

#[test]
fn interval_search_decides_every_number() {
    // Every third syscall allowed, every seventh behind an argument check: runs, gaps and
    // bodies interleave in the number space.
    let table = crate::tables::x86_64::X86_64;
    let allowed: Vec<&str> = table.iter().step_by(3).map(|(n, _)| *n).collect();
    let checked: Vec<&str> = table.iter().skip(1).step_by(7).map(|(n, _)| *n).collect();
    let json = format!(
        r#"{{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{{"names":{}, "action":"SCMP_ACT_ALLOW"}},
        {{"names":{}, "action":"SCMP_ACT_LOG","args":[{{"index":0,"value":1,"op":"SCMP_CMP_EQ"}}]}}]}}"#,
        serde_json::to_string(&allowed).unwrap_or_default(),
        serde_json::to_string(&checked).unwrap_or_default(),
    );
    let f = ok(&json);
    let max = table.iter().map(|(_, nr)| *nr).max().unwrap_or(0);
    let nr_of = |name: &str| table.iter().find(|(n, _)| *n == name).map(|(_, nr)| *nr);
    let allowed: Vec<u32> = allowed.iter().filter_map(|n| nr_of(n)).collect();
    let checked: Vec<u32> = checked.iter().filter_map(|n| nr_of(n)).collect();
    let last = allowed.iter().chain(&checked).copied().max().unwrap_or(0);
    for nr in 0..=max + 2 {
        let (want1, want0) = if allowed.contains(&nr) {
            (RET_ALLOW, RET_ALLOW)
        } else if checked.contains(&nr) {
            (RET_LOG, RET_ERRNO | EPERM)
        } else if nr > last {
            (RET_ERRNO | ENOSYS, RET_ERRNO | ENOSYS)
        } else {
            (RET_ERRNO | EPERM, RET_ERRNO | EPERM)
        };
        assert_eq!(x64(&f, nr, [1, 0, 0, 0, 0, 0]), want1, "nr {nr} arg 1");
        assert_eq!(x64(&f, nr, [0; 6]), want0, "nr {nr} arg 0");
    }
}

#[test]
fn i386_socketcall_and_ipc_follow_the_direct_rules() {
    let f = ok(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86"],"syscalls":[
        {"names":["connect","shmget"],"action":"SCMP_ACT_ERRNO","errnoRet":13},
        {"names":["bind"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":3,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    let i386 = |nr, a0| {
        let args = [a0, 0, 0, 0, 0, 0];
        run(
            f.instructions(),
            &Data {
                nr,
                arch: AUDIT_ARCH_I386,
                args,
            },
        )
    };
    assert_eq!(i386(362, 0), RET_ERRNO | 13, "direct connect");
    assert_eq!(i386(102, 3), RET_ERRNO | 13, "socketcall(SYS_CONNECT)");
    assert_eq!(i386(102, 1), RET_ALLOW, "socketcall(SYS_SOCKET)");
    assert_eq!(
        i386(102, 2),
        RET_ALLOW,
        "conditional bind stays on the direct call"
    );
    assert_eq!(i386(117, 23), RET_ERRNO | 13, "ipc(SHMGET)");
    assert_eq!(
        i386(117, 0x1_0017),
        RET_ERRNO | 13,
        "ipc(SHMGET) with a version"
    );
    assert_eq!(i386(117, 22), RET_ALLOW, "ipc(SHMDT)");
    // x86_64 has no multiplexers.
    assert_eq!(call(&f, 41), RET_ALLOW);
    assert_eq!(call(&f, 42), RET_ERRNO | 13);
}

/// x86_64 numbers of the calls the runtime's exec trampoline makes.
const EXECVE: u32 = 59;
const EXECVEAT: u32 = 322;
const FCNTL: u32 = 72;
const WRITEV: u32 = 20;
const EXIT_GROUP: u32 = 231;

/// A filter around a hand-written program (for programs compile() never emits).
fn raw(program: Vec<libc::sock_filter>) -> Filter {
    Filter {
        program,
        flags: 0,
        has_notify: false,
        listener_path: None,
        listener_metadata: None,
    }
}

fn ins(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

#[test]
fn allows_x86_64_plain_allow_and_log_only() {
    let any = [None; 6];
    let all = ok(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#);
    for nr in [EXECVE, EXECVEAT, FCNTL, WRITEV, EXIT_GROUP] {
        assert!(all.allows_x86_64(nr, any), "{nr}");
    }
    let deny = ok(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["execveat"],"action":"SCMP_ACT_ERRNO"}]}"#);
    assert!(!deny.allows_x86_64(EXECVEAT, any));
    assert!(deny.allows_x86_64(EXECVE, any));
    let log = ok(r#"{"defaultAction":"SCMP_ACT_LOG","syscalls":[
        {"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#);
    assert!(log.allows_x86_64(EXECVEAT, any));
    assert!(!log.allows_x86_64(MKDIR, any));
    for action in [
        "SCMP_ACT_NOTIFY",
        "SCMP_ACT_TRACE",
        "SCMP_ACT_TRAP",
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_PROCESS",
    ] {
        let f = ok(&format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/agent.sock","syscalls":[
            {{"names":["writev"],"action":"{action}"}}]}}"#
        ));
        assert!(!f.allows_x86_64(WRITEV, any), "{action}");
        assert!(f.allows_x86_64(EXIT_GROUP, any), "{action}");
    }
    // A default-deny profile that lists what is needed.
    let listed = ok(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
        {"names":["execve","execveat","fcntl","writev","exit_group"],"action":"SCMP_ACT_ALLOW"}]}"#);
    for nr in [EXECVE, EXECVEAT, FCNTL, WRITEV, EXIT_GROUP] {
        assert!(listed.allows_x86_64(nr, any), "{nr}");
    }
    assert!(!listed.allows_x86_64(MKDIR, any));
    // The x32 ABI and i386 are not what is asked about.
    assert!(!deny.allows_x86_64(X32_SYSCALL_BIT | EXECVEAT, any));
}

#[test]
fn allows_x86_64_with_unknown_arguments_needs_every_value() {
    // fcntl(fd, F_SETFD, FD_CLOEXEC) is refused for fd 5 only.
    let f = ok(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["fcntl"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":5,"op":"SCMP_CMP_EQ"}]}]}"#);
    let call = |fd: Option<u64>| f.allows_x86_64(FCNTL, [fd, Some(2), Some(1), None, None, None]);
    assert!(call(Some(3)));
    assert!(!call(Some(5)));
    assert!(!call(None), "some fd is refused");
    // A rule on an argument the question fixes: decided by its value.
    let g = ok(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["execveat"],"action":"SCMP_ACT_ERRNO","args":[{"index":4,"value":4096,"op":"SCMP_CMP_MASKED_EQ","valueTwo":4096}]}]}"#);
    assert!(!g.allows_x86_64(
        EXECVEAT,
        [None, Some(0), Some(0), Some(0), Some(0x1000), None]
    ));
    assert!(g.allows_x86_64(EXECVEAT, [None, Some(0), Some(0), Some(0), Some(0), None]));
    // Unknown arguments of other syscalls cost nothing.
    assert!(g.allows_x86_64(EXECVE, [None; 6]));
}

#[test]
fn allows_x86_64_refuses_what_it_cannot_evaluate() {
    let ld_nr = ins(0x20, 0, 0, 0);
    let allow = ins(0x06, 0, 0, 0x7fff_0000);
    assert!(raw(vec![allow]).allows_x86_64(EXECVE, [None; 6]));
    assert!(!raw(vec![]).allows_x86_64(EXECVE, [None; 6]), "empty");
    // BPF_MISC|BPF_TAX, a real opcode the builder never emits.
    assert!(!raw(vec![ld_nr, ins(0x07, 0, 0, 0), allow]).allows_x86_64(EXECVE, [None; 6]));
    // A jump past the end, a read outside seccomp_data, an unaligned read.
    assert!(!raw(vec![ins(0x05, 0, 0, 7), allow]).allows_x86_64(EXECVE, [None; 6]));
    assert!(!raw(vec![ins(0x20, 0, 0, 64), allow]).allows_x86_64(EXECVE, [None; 6]));
    assert!(!raw(vec![ins(0x20, 0, 0, 2), allow]).allows_x86_64(EXECVE, [None; 6]));
    // Falling off the end without a ret.
    assert!(!raw(vec![ld_nr]).allows_x86_64(EXECVE, [None; 6]));
    // An unknown jump opcode (0x50) on a known and on an unknown value.
    assert!(!raw(vec![ld_nr, ins(0x55, 0, 0, 0), allow]).allows_x86_64(EXECVE, [None; 6]));
    assert!(
        !raw(vec![ins(0x20, 0, 0, 16), ins(0x55, 0, 0, 0), allow]).allows_x86_64(EXECVE, [None; 6])
    );
    // 40 two-way branches on an unknown argument, joining again: 2^40 paths, over budget.
    let mut prog = Vec::new();
    for _ in 0..40 {
        prog.push(ins(0x20, 0, 0, 16));
        prog.push(ins(0x15, 0, 1, 1));
        prog.push(ins(0x05, 0, 0, 0));
    }
    prog.push(allow);
    let branchy = raw(prog);
    assert!(!branchy.allows_x86_64(EXECVE, [None; 6]), "over budget");
    assert!(
        branchy.allows_x86_64(EXECVE, [Some(1); 6]),
        "one path when known"
    );
}

#[test]
fn docker_like_profile_allows_the_trampoline() {
    let f = ok(include_str!("../tests/data/docker_like.json"));
    let fd = None;
    assert!(f.allows_x86_64(
        EXECVEAT,
        [fd, Some(0), Some(0), Some(0), Some(0x1000), None]
    ));
    assert!(f.allows_x86_64(FCNTL, [fd, Some(2), Some(1), None, None, None]));
    assert!(f.allows_x86_64(FCNTL, [fd, Some(2), Some(0), None, None, None]));
    assert!(f.allows_x86_64(EXECVE, [Some(0), Some(0), Some(0), None, None, None]));
    assert!(f.allows_x86_64(WRITEV, [fd, Some(0), Some(2), None, None, None]));
    assert!(f.allows_x86_64(EXIT_GROUP, [None; 6]));
}
