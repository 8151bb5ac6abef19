//! From `linux.seccomp` to a BPF program: validation, name resolution and code generation.

use std::collections::BTreeMap;

use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};

use crate::bpf::{Builder, Cmp, CmpOp, Jmp, Label, OFF_ARCH, OFF_NR};
use crate::names::{self, Abi, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT};
use crate::{Error, Filter};

pub(crate) const RET_KILL_PROCESS: u32 = 0x8000_0000;
pub(crate) const RET_KILL_THREAD: u32 = 0x0000_0000;
pub(crate) const RET_TRAP: u32 = 0x0003_0000;
pub(crate) const RET_ERRNO: u32 = 0x0005_0000;
pub(crate) const RET_USER_NOTIF: u32 = 0x7fc0_0000;
pub(crate) const RET_TRACE: u32 = 0x7ff0_0000;
pub(crate) const RET_LOG: u32 = 0x7ffc_0000;
pub(crate) const RET_ALLOW: u32 = 0x7fff_0000;

/// The kernel's BPF_MAXINSNS.
pub(crate) const MAX_INSNS: usize = 4096;
/// seccomp_data has six arguments.
const MAX_ARG_INDEX: usize = 5;

/// What a syscall from an ABI that is not in the filter gets. libseccomp's default is to
/// kill the thread; killing the whole process avoids leaving a half-dead process behind, and
/// either way the syscall never runs.
const RET_BAD_ARCH: u32 = RET_KILL_PROCESS;

/// The OCI name of an action, for messages.
pub(crate) fn action_name(a: LinuxSeccompAction) -> &'static str {
    match a {
        LinuxSeccompAction::ScmpActKill => "SCMP_ACT_KILL",
        LinuxSeccompAction::ScmpActKillThread => "SCMP_ACT_KILL_THREAD",
        LinuxSeccompAction::ScmpActKillProcess => "SCMP_ACT_KILL_PROCESS",
        LinuxSeccompAction::ScmpActTrap => "SCMP_ACT_TRAP",
        LinuxSeccompAction::ScmpActErrno => "SCMP_ACT_ERRNO",
        LinuxSeccompAction::ScmpActNotify => "SCMP_ACT_NOTIFY",
        LinuxSeccompAction::ScmpActTrace => "SCMP_ACT_TRACE",
        LinuxSeccompAction::ScmpActLog => "SCMP_ACT_LOG",
        LinuxSeccompAction::ScmpActAllow => "SCMP_ACT_ALLOW",
    }
}

/// The SECCOMP_RET_* value of an action. errnoRet defaults to EPERM for ERRNO and TRACE, as
/// in runc; the spec requires an error when it is given to any other action.
fn action_value(
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    field: impl Fn() -> String,
) -> Result<u32, Error> {
    let with_errno = |base: u32| {
        let errno = errno_ret.unwrap_or(libc::EPERM as u32);
        if errno > u32::from(u16::MAX) {
            return Err(Error::ErrnoOutOfRange {
                field: field(),
                value: errno,
            });
        }
        Ok(base | errno)
    };
    let plain = |value: u32| match errno_ret {
        Some(_) => Err(Error::ErrnoNotAllowed {
            field: field(),
            action: action_name(action),
        }),
        None => Ok(value),
    };
    match action {
        LinuxSeccompAction::ScmpActErrno => with_errno(RET_ERRNO),
        LinuxSeccompAction::ScmpActTrace => with_errno(RET_TRACE),
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            plain(RET_KILL_THREAD)
        }
        LinuxSeccompAction::ScmpActKillProcess => plain(RET_KILL_PROCESS),
        LinuxSeccompAction::ScmpActTrap => plain(RET_TRAP),
        LinuxSeccompAction::ScmpActNotify => plain(RET_USER_NOTIF),
        LinuxSeccompAction::ScmpActLog => plain(RET_LOG),
        LinuxSeccompAction::ScmpActAllow => plain(RET_ALLOW),
    }
}

fn cmp_op(op: LinuxSeccompOperator) -> CmpOp {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => CmpOp::Ne,
        LinuxSeccompOperator::ScmpCmpLt => CmpOp::Lt,
        LinuxSeccompOperator::ScmpCmpLe => CmpOp::Le,
        LinuxSeccompOperator::ScmpCmpEq => CmpOp::Eq,
        LinuxSeccompOperator::ScmpCmpGe => CmpOp::Ge,
        LinuxSeccompOperator::ScmpCmpGt => CmpOp::Gt,
        LinuxSeccompOperator::ScmpCmpMaskedEq => CmpOp::MaskedEq,
    }
}

/// One validated rule of linux.seccomp.syscalls.
struct Rule<'a> {
    names: &'a [String],
    /// None for a rule dropped because its action is the default one.
    action: Option<u32>,
    /// Alternatives (ORed), each a list of conditions (ANDed). An empty list matches always.
    alts: Vec<Vec<Cmp>>,
}

/// What one syscall of one ABI does.
#[derive(Default)]
struct SyscallRules {
    /// An unconditional rule covers every argument value, so it wins over conditional rules
    /// (libseccomp drops the conditional ones); the first unconditional rule is kept.
    always: Option<u32>,
    /// Conditional rules in profile order; the first that matches decides.
    when: Vec<(u32, Vec<Cmp>)>,
}

pub(crate) fn compile(seccomp: &LinuxSeccomp) -> Result<Filter, Error> {
    let native = names::NATIVE.ok_or(Error::UnsupportedHost)?;
    let default_action = seccomp.default_action();
    if default_action == LinuxSeccompAction::ScmpActNotify {
        return Err(Error::NotifyAsDefault);
    }
    let default = action_value(default_action, seccomp.default_errno_ret(), || {
        "linux.seccomp.defaultAction/defaultErrnoRet".to_string()
    })?;

    let mut abis = vec![native];
    for arch in seccomp.architectures().iter().flatten() {
        // Architectures this kernel cannot run never reach the filter: nothing to emit.
        if let Some(abi) = names::abi_of(*arch) {
            abis.push(abi);
        }
    }
    abis.sort();
    abis.dedup();

    let all_rules = seccomp.syscalls().as_deref().unwrap_or_default();
    let mut rules = Vec::with_capacity(all_rules.len());
    let mut notify_rule = None;
    for (ri, sc) in all_rules.iter().enumerate() {
        if sc.names().is_empty() {
            return Err(Error::NoNames { rule: ri });
        }
        let action = action_value(sc.action(), sc.errno_ret(), || {
            format!("linux.seccomp.syscalls[{ri}] ({})", sc.names().join(","))
        })?;
        let mut conds = Vec::new();
        let mut per_index = [0u8; MAX_ARG_INDEX + 1];
        for (ai, arg) in sc.args().iter().flatten().enumerate() {
            let index = arg.index();
            if index > MAX_ARG_INDEX {
                return Err(Error::ArgIndex {
                    rule: ri,
                    arg: ai,
                    index,
                });
            }
            per_index[index] = per_index[index].saturating_add(1);
            conds.push(Cmp {
                index: index as u32,
                op: cmp_op(arg.op()),
                value: arg.value(),
                value_two: arg.value_two().unwrap_or(0),
            });
        }
        // Conditions on different arguments are ANDed. Several conditions on the same
        // argument are ORed, each a rule of its own: runc's long-standing behaviour, which
        // profiles rely on (e.g. several allowed values of one flag argument).
        let alts = if per_index.iter().any(|&n| n > 1) {
            conds.into_iter().map(|c| vec![c]).collect()
        } else {
            vec![conds]
        };
        // libseccomp rejects a rule whose action is the default one; runc drops it. Its names
        // still count for the ENOSYS stub, as in runc.
        if action == default {
            rules.push(Rule {
                names: sc.names(),
                action: None,
                alts,
            });
            continue;
        }
        if sc.action() == LinuxSeccompAction::ScmpActNotify && notify_rule.is_none() {
            notify_rule = Some(ri);
        }
        rules.push(Rule {
            names: sc.names(),
            action: Some(action),
            alts,
        });
    }

    let has_notify = notify_rule.is_some();
    if let Some(ri) = notify_rule {
        if seccomp.listener_path().is_none() {
            return Err(Error::NotifyWithoutListener {
                what: format!(
                    "linux.seccomp.syscalls[{ri}] ({})",
                    all_rules[ri].names().join(",")
                ),
            });
        }
    }

    let flags = filter_flags(seccomp.flags().as_deref().unwrap_or_default(), has_notify);

    // runc answers ENOSYS, not the default action, for syscalls numbered above every syscall
    // the profile names: those are newer than the profile, and libcs fall back on ENOSYS
    // (clone3, faccessat2, ...). An allowing or notifying default needs no such help.
    let stub = matches!(
        default_action,
        LinuxSeccompAction::ScmpActErrno
            | LinuxSeccompAction::ScmpActKill
            | LinuxSeccompAction::ScmpActKillThread
            | LinuxSeccompAction::ScmpActKillProcess
            | LinuxSeccompAction::ScmpActTrap
    ) && default != (RET_ERRNO | libc::ENOSYS as u32);

    let mut b = Builder::default();
    let (mut x86_64, mut x86, mut x32) = (None, None, None);
    // Emitted back to front: x32 before x86_64, whose audit arch block jumps into it.
    for &abi in abis.iter().rev() {
        let mut table: BTreeMap<u32, SyscallRules> = BTreeMap::new();
        let mut max_nr = None;
        for rule in &rules {
            if abi == Abi::X86 {
                if let Some(action) = rule.action {
                    add_multiplexed(&mut table, rule, action);
                }
            }
            for nr in rule.names.iter().filter_map(|n| abi.resolve(n)) {
                max_nr = max_nr.max(Some(nr));
                let Some(action) = rule.action else { continue };
                let entry = table.entry(nr).or_default();
                for alt in &rule.alts {
                    if alt.is_empty() {
                        entry.always.get_or_insert(action);
                    } else {
                        entry.when.push((action, alt.clone()));
                    }
                }
            }
        }
        let stub_above = if stub { max_nr } else { None };
        let l = section(&mut b, abi, &table, stub_above, default);
        match abi {
            Abi::X86_64 => x86_64 = Some(l),
            Abi::X32 => x32 = Some(l),
            Abi::X86 => {
                b.goto(l);
                x86 = Some(b.load(OFF_NR));
            }
        }
    }
    let bad_arch = b.ret(RET_BAD_ARCH);
    let audit_x86_64 = if x86_64.is_some() || x32.is_some() {
        // x32 syscalls arrive with the x86_64 audit arch and the x32 bit set in the number;
        // both sections expect the number already loaded.
        b.jump(
            Jmp::Set,
            X32_SYSCALL_BIT,
            x32.unwrap_or(bad_arch),
            x86_64.unwrap_or(bad_arch),
        );
        Some(b.load(OFF_NR))
    } else {
        None
    };
    let mut dispatch = bad_arch;
    if let Some(l) = x86 {
        dispatch = b.jump(Jmp::Eq, AUDIT_ARCH_I386, l, dispatch);
    }
    if let Some(l) = audit_x86_64 {
        dispatch = b.jump(Jmp::Eq, AUDIT_ARCH_X86_64, l, dispatch);
    }
    b.goto(dispatch);
    b.load(OFF_ARCH);

    if b.len() > MAX_INSNS {
        return Err(Error::TooLong {
            len: b.len(),
            max: MAX_INSNS,
        });
    }
    Ok(Filter {
        program: b.finish(),
        flags,
        has_notify,
        listener_path: seccomp.listener_path().clone(),
        listener_metadata: seccomp.listener_metadata().clone(),
    })
}

/// The socketcall/ipc side of an i386 rule (see names::x86_multiplexed). Only rules without
/// argument conditions apply: through the multiplexer the arguments are in user memory, out
/// of BPF's reach, so a conditional rule covers the direct syscall only.
fn add_multiplexed(table: &mut BTreeMap<u32, SyscallRules>, rule: &Rule, action: u32) {
    if !rule.alts.iter().any(Vec::is_empty) {
        return;
    }
    for (mux, call) in rule.names.iter().filter_map(|n| names::x86_multiplexed(n)) {
        let (op, value, value_two) = if mux == 117 {
            (CmpOp::MaskedEq, 0xffff, u64::from(call))
        } else {
            (CmpOp::Eq, u64::from(call), 0)
        };
        let cond = Cmp {
            index: 0,
            op,
            value,
            value_two,
        };
        table
            .entry(mux)
            .or_default()
            .when
            .push((action, vec![cond]));
    }
}

fn filter_flags(requested: &[LinuxSeccompFilterFlag], has_notify: bool) -> u32 {
    let mut flags = 0u32;
    for f in requested {
        flags |= match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
            }
            // The kernel refuses this flag without a listener, and it means nothing then.
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv if has_notify => {
                libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => 0,
        } as u32;
    }
    if has_notify {
        flags |= libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32;
        if flags & libc::SECCOMP_FILTER_FLAG_TSYNC as u32 != 0 {
            // TSYNC and NEW_LISTENER both use the return value; TSYNC_ESRCH lets them combine.
            flags |= libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH as u32;
        }
    }
    flags
}

/// Where a syscall number leads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// A plain return value.
    Ret(u32),
    /// The argument checks of one syscall, already emitted.
    Body(Label),
}

/// The code for one ABI. The 32-bit number space is cut into intervals that lead to the same
/// outcome (runs of allowed syscalls, gaps that get the default, everything above the
/// profile's last syscall for the ENOSYS stub), and a binary search over the interval starts
/// picks the right one: a Docker-like profile needs about 6 comparisons per syscall and a few
/// hundred instructions per ABI.
fn section(
    b: &mut Builder,
    abi: Abi,
    table: &BTreeMap<u32, SyscallRules>,
    stub_above: Option<u32>,
    default: u32,
) -> Label {
    let wide = abi.args_are_64bit();
    // (first number, outcome) of each interval, in order, neighbours always different.
    let mut segs: Vec<(u32, Outcome)> = vec![(0, Outcome::Ret(default))];
    let push = |segs: &mut Vec<(u32, Outcome)>, start: u32, o: Outcome| {
        match segs.last_mut() {
            Some(last) if last.0 == start => last.1 = o,
            Some(last) if last.1 == o => return,
            _ => segs.push((start, o)),
        }
        // Replacing the last interval's outcome can make it equal to the one before.
        if segs.len() >= 2 && segs[segs.len() - 2].1 == segs[segs.len() - 1].1 {
            segs.pop();
        }
    };
    for (&nr, rules) in table {
        let o = match rules.always {
            Some(action) => Outcome::Ret(action),
            None => {
                let mut next = b.ret(default);
                for (action, conds) in rules.when.iter().rev() {
                    let mut ok = b.ret(*action);
                    for c in conds.iter().rev() {
                        ok = b.cmp(wide, *c, ok, next);
                    }
                    next = ok;
                }
                Outcome::Body(next)
            }
        };
        push(&mut segs, nr, o);
        if let Some(after) = nr.checked_add(1) {
            push(&mut segs, after, Outcome::Ret(default));
        }
    }
    if let Some(after) = stub_above.and_then(|max| max.checked_add(1)) {
        push(
            &mut segs,
            after,
            Outcome::Ret(RET_ERRNO | libc::ENOSYS as u32),
        );
    }
    search(b, &segs)
}

/// Binary search over the interval starts.
fn search(b: &mut Builder, segs: &[(u32, Outcome)]) -> Label {
    if let [(_, o)] = segs {
        return match *o {
            Outcome::Ret(v) => b.ret(v),
            Outcome::Body(l) => l,
        };
    }
    let mid = segs.len() / 2;
    let upper = search(b, &segs[mid..]);
    let lower = search(b, &segs[..mid]);
    b.jump(Jmp::Ge, segs[mid].0, upper, lower)
}
