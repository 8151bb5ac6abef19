//! The container process's own attributes: rlimits, scheduler, I/O
//! priority, personality, user and groups, capabilities, and finally
//! execve. Everything is computed into a `ProcessPlan` before the fork.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    IOPriorityClass, LinuxPersonality, LinuxPersonalityDomain, LinuxSchedulerFlag,
    LinuxSchedulerPolicy, PosixRlimitType, Process,
};

use crate::caps::{self, CapSets};
use crate::error::{Error, Result, SysContext};

#[derive(Debug, Clone)]
pub struct Rlimit {
    pub resource: libc::__rlimit_resource_t,
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
    util_min: u32,
    util_max: u32,
}

#[derive(Debug, Clone)]
pub struct ProcessPlan {
    pub args: Vec<CString>,
    pub env: Vec<CString>,
    pub path_env: String,
    pub cwd: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub umask: u32,
    pub caps: CapSets,
    pub last_cap: u32,
    pub rlimits: Vec<Rlimit>,
    pub no_new_privs: bool,
    pub scheduler: Option<SchedAttr>,
    pub ioprio: Option<i32>,
    pub personality: Option<u64>,
    pub apparmor: Option<String>,
    pub terminal: bool,
    pub console_size: Option<(u16, u16)>,
    /// The env has no HOME: set it from the container's /etc/passwd, as runc.
    pub needs_home: bool,
}

fn cstring(what: &str, s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::Unsupported(format!("{what} {s:?} contains a NUL byte")))
}

pub fn rlimit_resource(t: PosixRlimitType) -> libc::__rlimit_resource_t {
    use PosixRlimitType::*;
    match t {
        RlimitCpu => libc::RLIMIT_CPU,
        RlimitFsize => libc::RLIMIT_FSIZE,
        RlimitData => libc::RLIMIT_DATA,
        RlimitStack => libc::RLIMIT_STACK,
        RlimitCore => libc::RLIMIT_CORE,
        RlimitRss => libc::RLIMIT_RSS,
        RlimitNproc => libc::RLIMIT_NPROC,
        RlimitNofile => libc::RLIMIT_NOFILE,
        RlimitMemlock => libc::RLIMIT_MEMLOCK,
        RlimitAs => libc::RLIMIT_AS,
        RlimitLocks => libc::RLIMIT_LOCKS,
        RlimitSigpending => libc::RLIMIT_SIGPENDING,
        RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        RlimitNice => libc::RLIMIT_NICE,
        RlimitRtprio => libc::RLIMIT_RTPRIO,
        RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// linux.personality to the personality(2) argument.
pub fn personality_value(p: &LinuxPersonality) -> Result<u64, String> {
    let mut v: u64 = match p.domain() {
        LinuxPersonalityDomain::PerLinux => 0x0000,
        LinuxPersonalityDomain::PerLinux32 => 0x0008,
    };
    for f in p.flags().iter().flatten() {
        v |= match f.as_str() {
            "ADDR_NO_RANDOMIZE" => 0x0004_0000,
            "MMAP_PAGE_ZERO" => 0x0010_0000,
            "ADDR_COMPAT_LAYOUT" => 0x0020_0000,
            "READ_IMPLIES_EXEC" => 0x0040_0000,
            "ADDR_LIMIT_32BIT" => 0x0080_0000,
            "SHORT_INODE" => 0x0100_0000,
            "WHOLE_SECONDS" => 0x0200_0000,
            "STICKY_TIMEOUTS" => 0x0400_0000,
            "ADDR_LIMIT_3GB" => 0x0800_0000,
            "UNAME26" => 0x0002_0000,
            "FDPIC_FUNCPTRS" => 0x0008_0000,
            other => return Err(format!("unknown personality flag {other:?}")),
        };
    }
    Ok(v)
}

fn sched_attr(s: &oci_spec::runtime::Scheduler) -> SchedAttr {
    use LinuxSchedulerPolicy::*;
    let policy = match s.policy() {
        SchedOther => 0,
        SchedFifo => 1,
        SchedRr => 2,
        SchedBatch => 3,
        SchedIso => 4,
        SchedIdle => 5,
        SchedDeadline => 6,
    };
    let mut flags = 0u64;
    for f in s.flags().iter().flatten() {
        flags |= match f {
            LinuxSchedulerFlag::SchedResetOnFork => 0x01,
            LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
            LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
            LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
            LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
            LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
            LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
        };
    }
    SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy,
        flags,
        nice: s.nice().unwrap_or(0),
        priority: s.priority().unwrap_or(0).max(0) as u32,
        runtime: s.runtime().unwrap_or(0),
        deadline: s.deadline().unwrap_or(0),
        period: s.period().unwrap_or(0),
        ..Default::default()
    }
}

impl ProcessPlan {
    pub fn from_spec(p: &Process, personality: Option<&LinuxPersonality>) -> Result<ProcessPlan> {
        let args = p
            .args()
            .iter()
            .flatten()
            .map(|a| cstring("argument", a))
            .collect::<Result<Vec<_>>>()?;
        let env = p
            .env()
            .iter()
            .flatten()
            .map(|e| cstring("environment entry", e))
            .collect::<Result<Vec<_>>>()?;
        let path_env = p
            .env()
            .iter()
            .flatten()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .to_string();
        let last_cap = caps::last_cap();
        let rlimits = p
            .rlimits()
            .iter()
            .flatten()
            .map(|r| Rlimit {
                resource: rlimit_resource(r.typ()),
                name: r.typ().to_string(),
                soft: r.soft(),
                hard: r.hard(),
            })
            .collect();
        let ioprio = p.io_priority().as_ref().map(|io| {
            let class = match io.class() {
                IOPriorityClass::IoprioClassRt => 1,
                IOPriorityClass::IoprioClassBe => 2,
                IOPriorityClass::IoprioClassIdle => 3,
            };
            (class << 13) | (io.priority() as i32 & 0x1fff)
        });
        let personality = match personality {
            Some(p) => Some(personality_value(p).map_err(Error::Unsupported)?),
            None => None,
        };
        Ok(ProcessPlan {
            args,
            env,
            path_env,
            cwd: p.cwd().clone(),
            uid: p.user().uid(),
            gid: p.user().gid(),
            additional_gids: p.user().additional_gids().clone().unwrap_or_default(),
            umask: p.user().umask().unwrap_or(0o022),
            caps: CapSets::from_spec(p.capabilities().as_ref(), last_cap),
            last_cap,
            rlimits,
            no_new_privs: p.no_new_privileges().unwrap_or(false),
            scheduler: p.scheduler().as_ref().map(sched_attr),
            ioprio,
            personality,
            apparmor: p.apparmor_profile().clone().filter(|a| !a.is_empty()),
            terminal: p.terminal().unwrap_or(false),
            console_size: p
                .console_size()
                .map(|b| (b.height() as u16, b.width() as u16)),
            needs_home: !p.env().iter().flatten().any(|e| e.starts_with("HOME=")),
        })
    }
}

/// Attributes that need privileges we are about to drop.
pub fn apply_privileged(plan: &ProcessPlan) -> Result<()> {
    for r in &plan.rlimits {
        let lim = libc::rlimit {
            rlim_cur: r.soft,
            rlim_max: r.hard,
        };
        // SAFETY: valid resource and struct.
        if unsafe { libc::setrlimit(r.resource, &lim) } != 0 {
            return Err(Error::sys(
                format!("setrlimit {} soft={} hard={}", r.name, r.soft, r.hard),
                nix::errno::Errno::last(),
            ));
        }
    }
    if let Some(attr) = &plan.scheduler {
        // SAFETY: sched_setattr(pid 0 = self, attr, flags 0) with a sized struct.
        if unsafe { libc::syscall(libc::SYS_sched_setattr, 0, attr as *const SchedAttr, 0) } != 0 {
            return Err(Error::sys("sched_setattr", nix::errno::Errno::last()));
        }
    }
    if let Some(prio) = plan.ioprio {
        const IOPRIO_WHO_PROCESS: i32 = 1;
        // SAFETY: integer arguments only.
        if unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, prio) } != 0 {
            return Err(Error::sys("ioprio_set", nix::errno::Errno::last()));
        }
    }
    if let Some(p) = plan.personality {
        // SAFETY: integer argument only.
        if unsafe { libc::personality(p as libc::c_ulong) } == -1 {
            return Err(Error::sys("personality", nix::errno::Errno::last()));
        }
    }
    if let Some(profile) = &plan.apparmor {
        apparmor_exec(profile)?;
    }
    Ok(())
}

/// AppArmor: like runc, a profile on a host without AppArmor is an error.
fn apparmor_exec(profile: &str) -> Result<()> {
    let enabled = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y");
    if !enabled {
        return Err(Error::Unsupported(format!(
            "apparmor profile {profile:?} is set but AppArmor is not enabled on this host"
        )));
    }
    let attr = ["/proc/self/attr/apparmor/exec", "/proc/self/attr/exec"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("/proc/self/attr/exec");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(attr)
        .map_err(|e| Error::io(attr, e))?;
    crate::rootfs::check_procfs(std::os::fd::AsFd::as_fd(&f), Path::new(attr))?;
    std::io::Write::write_all(&mut &f, format!("exec {profile}").as_bytes())
        .map_err(|e| Error::io(attr, e))
}

/// Find the executable as execvp would, but with the container's PATH, so
/// a missing command fails at create, with its name.
pub fn resolve_executable(plan: &ProcessPlan) -> Result<CString> {
    let arg0 = plan
        .args
        .first()
        .ok_or_else(|| Error::Unsupported("process.args is empty".into()))?;
    let name = arg0.to_string_lossy().into_owned();
    let is_exec = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| {
            use std::os::unix::fs::PermissionsExt;
            m.is_file() && m.permissions().mode() & 0o111 != 0
        })
    };
    if name.contains('/') {
        if !is_exec(Path::new(&name)) {
            return Err(Error::Unsupported(format!(
                "exec {name:?}: no such executable file in the container"
            )));
        }
        return Ok(arg0.clone());
    }
    for dir in plan.path_env.split(':').filter(|d| !d.is_empty()) {
        let p = Path::new(dir).join(&name);
        if is_exec(&p) {
            return cstring("executable", &p.to_string_lossy());
        }
    }
    Err(Error::Unsupported(format!(
        "exec {name:?}: executable file not found in $PATH"
    )))
}

/// chdir to process.cwd and check the result is inside the container's
/// root (CVE-2024-21626: a leaked host directory fd as cwd shows up as a
/// path outside "/", reported by getcwd as "(unreachable)...").
pub fn enter_cwd(cwd: &Path) -> Result<()> {
    nix::unistd::chdir(cwd).ctx(|| format!("chdir to cwd {}", cwd.display()))?;
    let now = nix::unistd::getcwd().ctx(|| "getcwd".into())?;
    if !now.is_absolute() || now.starts_with("(unreachable)") {
        return Err(Error::Unsupported(format!(
            "cwd {} is outside the container",
            now.display()
        )));
    }
    Ok(())
}

/// Switch to the container user, keeping exactly the configured
/// capabilities.
pub fn switch_user(plan: &ProcessPlan, setgroups_allowed: bool) -> Result<()> {
    caps::drop_bounding(plan.caps.bounding, plan.last_cap)
        .ctx(|| "drop capabilities from the bounding set".into())?;
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) } != 0 {
        return Err(Error::sys(
            "prctl(PR_SET_KEEPCAPS)",
            nix::errno::Errno::last(),
        ));
    }
    if setgroups_allowed {
        let groups: Vec<nix::unistd::Gid> = plan
            .additional_gids
            .iter()
            .map(|g| nix::unistd::Gid::from_raw(*g))
            .collect();
        nix::unistd::setgroups(&groups).ctx(|| format!("setgroups {:?}", plan.additional_gids))?;
    }
    let gid = nix::unistd::Gid::from_raw(plan.gid);
    nix::unistd::setresgid(gid, gid, gid).ctx(|| format!("setgid {}", plan.gid))?;
    let uid = nix::unistd::Uid::from_raw(plan.uid);
    nix::unistd::setresuid(uid, uid, uid).ctx(|| format!("setuid {}", plan.uid))?;
    // SAFETY: as above.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) };
    caps::set_process_caps(&plan.caps).ctx(|| "capset".into())?;
    // The kernel only allows ambient caps that are permitted and
    // inheritable; like runc, others are not raised (runc warns).
    let ambient = plan.caps.ambient & plan.caps.permitted & plan.caps.inheritable;
    caps::set_ambient(ambient, plan.last_cap).ctx(|| "raise ambient capabilities".into())?;
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(plan.umask));
    Ok(())
}

/// Restore the signal state a fresh process expects: nothing blocked, and
/// default dispositions (`run` blocks everything to forward signals; the
/// caller may have ignored some, as shells do for background jobs).
/// execve resets caught signals by itself; only ignored ones survive it,
/// so only those are reset: the kernel lists them in /proc/self/status
/// (one read instead of a call per signal). Without that file, all are.
pub fn reset_signals() {
    let ignored = ignored_signals().unwrap_or(u64::MAX);
    // SAFETY: plain signal calls on this single-threaded process.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
    for sig in 1..=64 {
        if ignored & (1 << (sig - 1)) != 0 && sig != libc::SIGKILL && sig != libc::SIGSTOP {
            default_disposition(sig);
        }
    }
}

/// SIG_DFL for `sig` with the system call itself: libc's sigaction refuses
/// the real-time signals it keeps for its threads (32-34 in musl, 32-33 in
/// glibc), which a caller may still have left ignored.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn default_disposition(sig: i32) {
    // The kernel's struct sigaction on these architectures.
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: libc::c_ulong,
        restorer: usize,
        mask: u64,
    }
    let act = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: a valid struct of the kernel's layout and size-8 sigset; no
    // old action is asked for. A signal the kernel refuses is left alone.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            &act as *const KernelSigaction,
            std::ptr::null_mut::<KernelSigaction>(),
            8usize,
        )
    };
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn default_disposition(sig: i32) {
    // SAFETY: signal() with SIG_DFL on this single-threaded process.
    unsafe { libc::signal(sig, libc::SIG_DFL) };
}

/// The SigIgn mask of /proc/self/status (bit N-1 for signal N).
fn ignored_signals() -> Option<u64> {
    let status = onggi_cgroups::read_kernel_file(std::path::Path::new("/proc/self/status")).ok()?;
    sig_ign(&status)
}

fn sig_ign(status: &str) -> Option<u64> {
    let hex = status.lines().find_map(|l| l.strip_prefix("SigIgn:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// Mark every fd from `first` on close-on-exec, so only stdio and the
/// preserved fds reach the container (CVE-2024-21626). Our own fds keep
/// working until execve.
pub fn cloexec_from(first: u32) -> Result<()> {
    const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;
    // SAFETY: close_range with integer arguments.
    if unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) } == 0 {
        return Ok(());
    }
    // Older kernels: walk /proc/self/fd.
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| Error::io("/proc/self/fd", e))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd >= first as i32)
        .collect();
    for fd in fds {
        // SAFETY: fcntl on an fd number; a closed one just fails.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}

pub fn set_no_new_privs() -> Result<()> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(Error::sys(
            "prctl(PR_SET_NO_NEW_PRIVS)",
            nix::errno::Errno::last(),
        ));
    }
    Ok(())
}

/// The home directory of `uid` in the container's /etc/passwd ("/" when
/// there is none), read after pivot_root so it is the container's file.
fn home_of(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 6 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[5].to_string())
        })
        .next()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "/".to_string())
}

/// The environment to exec with: the config's, plus HOME when missing.
pub fn final_env(plan: &ProcessPlan) -> Vec<CString> {
    let mut env = plan.env.clone();
    if plan.needs_home {
        if let Ok(c) = CString::new(format!("HOME={}", home_of(plan.uid))) {
            env.push(c);
        }
    }
    env
}

/// execveat(fd, "", argv, env, AT_EMPTY_PATH): run the file `fd` names
/// (a memfd, a detached mount of one file). Returns only on failure, with
/// the errno.
pub fn execveat_fd<'a>(
    fd: std::os::fd::BorrowedFd<'_>,
    argv: impl IntoIterator<Item = &'a std::ffi::CStr>,
    env: &[CString],
) -> nix::errno::Errno {
    let argv: Vec<*const libc::c_char> = argv
        .into_iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let envp: Vec<*const libc::c_char> = env
        .iter()
        .map(|e| e.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    // SAFETY: NUL-terminated arrays of pointers to C strings that outlive
    // the call (borrowed by the caller), an empty path with AT_EMPTY_PATH
    // on a valid fd (which names the file itself).
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    nix::errno::Errno::last()
}

/// execve; returns only on failure.
pub fn exec(path: &CString, plan: &ProcessPlan, env: &[CString]) -> Error {
    match nix::unistd::execve(path, &plan.args, env) {
        Err(e) => Error::sys(format!("exec {:?}", path), e),
        Ok(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignored_signals_from_status() {
        let status = "Name:\tsh\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000001006\nSigCgt:\t0000000180000000\n";
        // SIGINT (2), SIGQUIT (3), SIGPIPE (13)
        assert_eq!(sig_ign(status), Some(0x1006));
        assert_eq!(sig_ign("Name:\tsh\n"), None);
        assert_eq!(sig_ign("SigIgn:\tzz\n"), None);
    }

    #[test]
    fn personality_flags() {
        let p: LinuxPersonality = serde_json::from_value(
            serde_json::json!({"domain": "LINUX32", "flags": ["ADDR_NO_RANDOMIZE"]}),
        )
        .expect("p");
        assert_eq!(personality_value(&p), Ok(0x0004_0008));
        let bad: LinuxPersonality =
            serde_json::from_value(serde_json::json!({"domain": "LINUX", "flags": ["NOPE"]}))
                .expect("p");
        assert!(personality_value(&bad).is_err());
    }

    #[test]
    fn plan_from_default_process() {
        let p: Process = serde_json::from_value(serde_json::json!({
            "user": {"uid": 1, "gid": 2, "additionalGids": [3]},
            "args": ["sh", "-c", "true"], "cwd": "/",
            "env": ["PATH=/bin", "A=b"],
            "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20}],
            "ioPriority": {"class": "IOPRIO_CLASS_IDLE", "priority": 4}
        }))
        .expect("process");
        let plan = ProcessPlan::from_spec(&p, None).expect("plan");
        assert_eq!(plan.path_env, "/bin");
        assert_eq!(plan.rlimits[0].resource, libc::RLIMIT_NOFILE);
        assert_eq!(plan.ioprio, Some((3 << 13) | 4));
        assert_eq!(plan.umask, 0o022);
        assert_eq!(
            (plan.uid, plan.gid, plan.additional_gids.clone()),
            (1, 2, vec![3])
        );
    }
}
