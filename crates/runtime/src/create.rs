//! `create`: from a bundle to an init process waiting at the start
//! barrier. This is the parent side; `init` is the child side.
//!
//! Everything that can fail on bad input (config, namespaces paths, ids)
//! is checked before the state file exists; after that, a guard undoes
//! what was made (process, cgroup, state files) if a later step fails.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::Spec;

use crate::error::{Error, IoContext, Result, SysContext};
use crate::init::{self, namespaces::NamespacePlan, process::ProcessPlan, InitPlan};
use crate::rootfs::RootfsPlan;
use crate::spec::Bundle;
use crate::state::{ContainerState, StateRoot, Status};
use crate::sync::{self, Channel};

#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    /// `--rootless`: Some(true) tolerates cgroups that cannot be created
    /// even as root, Some(false) never does; None decides by the euid.
    pub rootless: Option<bool>,
}

/// Who asks for the container: it decides how the container starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// `create`: the init waits at the exec fifo until `start`.
    Create,
    /// `run`: started right away, with no fifo, unless a terminal or a pid
    /// file must be in place before the process runs. `foreground`: `run`
    /// relays the terminal itself (no --console-socket needed).
    Run { foreground: bool },
}

/// A container whose init waits at the barrier (or, for `run`, goes on to
/// its execve), still our child.
pub struct Created {
    pub state: ContainerState,
    pub pid: Pid,
    /// Our end of the console socketpair, when `run` relays a terminal.
    pub console: Option<OwnedFd>,
    /// Without a barrier: the init's channel, to read until the process
    /// runs (EOF) or the init reports an error.
    pub chan: Option<Channel>,
}

/// Undo a half-made container.
struct Guard<'a> {
    root: &'a StateRoot,
    id: String,
    cgroup: Option<onggi_cgroups::Cgroup>,
    pid: Option<Pid>,
    armed: bool,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(pid) = self.pid {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
        if let Some(cg) = &self.cgroup {
            if let Err(e) = cg.discard() {
                crate::log::warn(&format!("cleanup of {}: {e}", self.id));
            }
        }
        let _ = self.root.remove(&self.id);
    }
}

fn hooks_of(spec: &Spec) -> oci_spec::runtime::Hooks {
    spec.hooks().clone().unwrap_or_default()
}

pub fn create(root: &StateRoot, opts: &CreateOptions, caller: Caller) -> Result<Created> {
    // `run` in the foreground with process.terminal and no console socket
    // keeps the master itself.
    let relay_terminal = caller == Caller::Run { foreground: true };
    crate::state::validate_id(&opts.id)?;
    let bundle = Bundle::load(&opts.bundle)?;
    let spec = &bundle.spec;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::config(bundle.config_path(), "process is missing"))?;
    let terminal = process.terminal().unwrap_or(false);
    // `run` skips the barrier (fifo, open, poll, unlink: ~0.1 ms) where
    // nothing must happen between ready and start: the window size of a
    // relayed terminal is set then, and a pid file exists before start.
    let wait_for_start = caller == Caller::Create || terminal || opts.pid_file.is_some();
    if terminal && opts.console_socket.is_none() && !relay_terminal {
        return Err(Error::Unsupported(
            "process.terminal is true: --console-socket is required when the runtime detaches"
                .into(),
        ));
    }
    if !terminal && opts.console_socket.is_some() {
        return Err(Error::Unsupported(
            "--console-socket given but process.terminal is false".into(),
        ));
    }
    let no_linux;
    let linux = match spec.linux() {
        Some(l) => l,
        None => {
            no_linux = oci_spec::runtime::Linux::default();
            &no_linux
        }
    };
    let mut ns = NamespacePlan::from_spec(
        linux.namespaces().as_deref().unwrap_or(&[]),
        linux.time_offsets().as_ref(),
    )?;
    let process_plan = ProcessPlan::from_spec(process, linux.personality().as_ref())?;
    let seccomp = match linux.seccomp() {
        Some(s) => Some(
            onggi_seccomp::compile(s)
                .map_err(|e| Error::config(bundle.config_path(), format!("linux.seccomp: {e}")))?,
        ),
        None => None,
    };
    let hooks = hooks_of(spec);
    // CVE-2019-5736 (see selfprotect): the exec trampoline, or else a
    // re-exec of this command from a read-only view of the binary, which
    // must happen before anything exists.
    let trampoline =
        crate::selfprotect::for_init(&hooks, process_plan.apparmor.is_some(), seccomp.as_ref())?;
    let cgroups_path = linux
        .cgroups_path()
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned());
    // Both cgroup resolution and the /sys/fs/cgroup plan need these files.
    let host = onggi_cgroups::HostView::read()?;
    let cgroup = onggi_cgroups::Cgroup::resolve_in(&host, cgroups_path.as_deref(), &opts.id)?;
    let rootfs_plan = RootfsPlan::from_spec(
        spec,
        &bundle.dir,
        &bundle.rootfs,
        opts.no_pivot,
        ns.new_mount
            || ns
                .joins
                .iter()
                .any(|j| j.typ == oci_spec::runtime::LinuxNamespaceType::Mount),
        ns.in_userns,
        crate::rootfs::CgroupSources {
            cgroup: Some(&cgroup),
            host: &host,
        },
    )?;
    let console = match &opts.console_socket {
        Some(p) => Some(crate::tty::connect_console_socket(p)?),
        None => None,
    };

    // From here on, things exist: the guard removes them on failure.
    root.reserve(&opts.id)?;
    let mut guard = Guard {
        root,
        id: opts.id.clone(),
        cgroup: None,
        pid: None,
        armed: true,
    };
    // Rootless: use the cgroup only where it was delegated to us, as runc.
    let rootless = opts.rootless.unwrap_or(!nix::unistd::geteuid().is_root());
    // v2 clones the init straight into its cgroup, which must exist first.
    // v1: the cgroup is made after the clone, while the init mounts.
    let (mut cgroup, deferred, cgroup_plan) = if cgroup.is_v2() {
        match setup_cgroup(
            cgroup,
            rootless,
            linux.resources().as_ref(),
            &rootfs_plan.devices,
            &mut guard,
        )? {
            (cg, Some(handles)) => (cg, None, init::CgroupPlan::Ready(handles)),
            (cg, None) => (cg, None, init::CgroupPlan::None),
        }
    } else {
        // Wait early where the mounts are not private to the init, or where
        // an unprivileged opener's `tasks` fds need the init's uid
        // unchanged (see CgroupPlan::Deferred).
        let early = !ns.new_mount || (ns.in_userns && !nix::unistd::geteuid().is_root());
        if !early {
            // The init makes its namespaces (~0.4 ms of kernel work, the
            // network one most of it) while we make the cgroup, instead of
            // inside our clone.
            ns.unshare_in_child();
        }
        (None, Some(cgroup), init::CgroupPlan::Deferred { early })
    };
    let barrier = if wait_for_start {
        let fifo = root.fifo_path(&opts.id);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o622))
            .ctx(|| format!("mkfifo {}", fifo.display()))?;
        // mkfifo's mode is filtered by our umask.
        std::fs::set_permissions(&fifo, std::os::unix::fs::PermissionsExt::from_mode(0o622))
            .at(&fifo)?;
        let state_root: OwnedFd = nix::fcntl::open(
            &root.path,
            nix::fcntl::OFlag::O_PATH
                | nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .ctx(|| format!("open {}", root.path.display()))?;
        Some(state_root)
    } else {
        None
    };

    let (relay_ours, relay_theirs) = if terminal && console.is_none() {
        let (a, b) = std::os::unix::net::UnixStream::pair()
            .map_err(|e| Error::io("console socketpair", e))?;
        (Some(OwnedFd::from(a)), Some(OwnedFd::from(b)))
    } else {
        (None, None)
    };

    #[allow(deprecated)]
    let wants_hooks = [
        hooks.prestart(),
        hooks.create_runtime(),
        hooks.create_container(),
        hooks.start_container(),
    ]
    .iter()
    .any(|h| h.as_ref().is_some_and(|v| !v.is_empty()));
    let sysctls: Vec<(String, String)> = linux
        .sysctl()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let setgroups = !ns.in_userns || (ns.new_user && nix::unistd::geteuid().is_root());
    let plan = InitPlan {
        id: opts.id.clone(),
        ns,
        rootfs: rootfs_plan,
        process: process_plan,
        hostname: spec.hostname().clone().filter(|h| !h.is_empty()),
        domainname: spec.domainname().clone().filter(|h| !h.is_empty()),
        sysctls,
        create_container_hooks: hooks.create_container().clone().unwrap_or_default(),
        start_container_hooks: hooks.start_container().clone().unwrap_or_default(),
        wants_hooks,
        cgroup: cgroup_plan,
        barrier,
        console: console.or(relay_theirs),
        preserve_fds: opts.preserve_fds,
        new_keyring: !opts.no_new_keyring,
        setgroups,
        seccomp,
        trampoline,
        // v1: the init is sent to another CPU (below) and takes this back.
        cpu_mask: deferred.as_ref().and_then(|_| crate::cpu::mask()),
    };

    let (ours, theirs) = sync::pair()?;
    let pid = spawn_init(&plan, ours.as_fd().as_raw_fd(), theirs)?;
    guard.pid = Some(pid);
    // v1: the init sets up its namespaces and first mounts while we make
    // its cgroup and write the state: on two CPUs, not one after the other
    // on ours (see crate::cpu).
    if let Some(mask) = &plan.cpu_mask {
        crate::cpu::send_away(pid, mask);
    }

    // Both while the init may still be dumpable (see init::run). The ids
    // first: with a new user namespace the init waits for them before
    // anything else.
    if plan.ns.new_user {
        init::namespaces::write_id_maps(
            pid.as_raw(),
            linux.uid_mappings().as_deref().unwrap_or(&[]),
            linux.gid_mappings().as_deref().unwrap_or(&[]),
        )?;
    }
    if let Some(adj) = process.oom_score_adj() {
        let p = format!("/proc/{pid}/oom_score_adj");
        std::fs::write(&p, adj.to_string()).at(&p)?;
    }
    if plan.ns.new_user {
        ours.send(sync::MAPPED, b"")
            .ctx(|| "tell init the ids are mapped".into())?;
    }
    if let Some(cg) = deferred {
        // v1: make the cgroup now, while the init does its first mounts,
        // and hand it the `tasks` fds; it waits for them before anything
        // that needs the cgroup, and always before container code runs.
        let (cg, handles) = setup_cgroup(
            cg,
            rootless,
            linux.resources().as_ref(),
            &plan.rootfs.devices,
            &mut guard,
        )?;
        cgroup = cg;
        send_cgroup(&ours, handles.as_ref())?;
    }
    let pid_start_time = crate::state::proc_stat(pid.as_raw())
        .map(|s| s.0)
        .unwrap_or(0);
    // The state keeps the config (not a copy of it: the bundle is done).
    let Bundle {
        dir: bundle_dir,
        spec: config,
        rootfs,
    } = bundle;
    let state = ContainerState {
        id: opts.id.clone(),
        pid: pid.as_raw(),
        pid_start_time,
        bundle: bundle_dir,
        rootfs,
        created: crate::time::now_rfc3339(),
        annotations: config.annotations().clone().unwrap_or_default(),
        owner: String::new(),
        cgroup,
        config,
    };
    root.save_new(&state)?;

    drive_init(&ours, &state, pid, &hooks)?;
    if let Some(p) = &opts.pid_file {
        write_pid_file(p, pid.as_raw())?;
    }
    guard.armed = false;
    Ok(Created {
        state,
        pid,
        console: relay_ours,
        chan: (!wait_for_start).then_some(ours),
    })
}

/// Create the cgroup (rootless: tolerate failure, as runc), write
/// linux.resources (with the device rules the rootfs needs) and open the
/// attach handles. The guard owns the cgroup as soon as it exists.
fn setup_cgroup(
    mut cgroup: onggi_cgroups::Cgroup,
    rootless: bool,
    resources: Option<&oci_spec::runtime::LinuxResources>,
    devices: &[crate::rootfs::devices::DeviceNode],
    guard: &mut Guard,
) -> Result<(
    Option<onggi_cgroups::Cgroup>,
    Option<onggi_cgroups::AttachHandles>,
)> {
    match cgroup.create() {
        Ok(()) => {}
        Err(e) if rootless => {
            crate::log::debug(&format!("rootless: no cgroup for {}: {e}", guard.id));
            return Ok((None, None));
        }
        Err(e) => return Err(e.into()),
    }
    guard.cgroup = Some(cgroup.clone());
    if let Some(res) = resources {
        let mut res = res.clone();
        let rules =
            crate::rootfs::devices::cgroup_rules(res.devices().as_deref().unwrap_or(&[]), devices);
        if !rules.is_empty() {
            res.set_devices(Some(rules));
        }
        cgroup.apply(&res)?;
    }
    let handles = cgroup.attach_handles()?;
    Ok((Some(cgroup), Some(handles)))
}

/// v1: give the init its cgroup's `tasks` fds (none: no cgroup). If the
/// init is already gone, its own message (or exit status) says more than
/// the failed send: `drive_init` reads it.
fn send_cgroup(chan: &Channel, handles: Option<&onggi_cgroups::AttachHandles>) -> Result<()> {
    let mut names = Vec::new();
    let mut fds = Vec::new();
    for (name, fd) in handles.into_iter().flat_map(|h| h.files()) {
        if !names.is_empty() {
            names.push(b'\n');
        }
        names.extend_from_slice(name.as_bytes());
        fds.push(fd.as_raw_fd());
    }
    match chan.send_with_fds(sync::CGROUP, &names, &fds) {
        Ok(()) | Err(nix::errno::Errno::EPIPE | nix::errno::Errno::ECONNRESET) => Ok(()),
        Err(e) => Err(Error::sys("hand the cgroup to init", e)),
    }
}

/// Clone the init with the namespace flags; in the child run `init::main`.
fn spawn_init(plan: &InitPlan, parent_end: i32, child_chan: Channel) -> Result<Pid> {
    // Entering a pid namespace or creating a time namespace affects only
    // children: do it right before the clone, and undo it right after.
    let own_pid_ns = match &plan.ns.pid_join {
        Some(j) => {
            let own: OwnedFd = std::fs::File::open("/proc/self/ns/pid")
                .at("/proc/self/ns/pid")?
                .into();
            init::namespaces::join(j)?;
            Some(own)
        }
        None => None,
    };
    let own_time_ns = match &plan.ns.new_time {
        Some(offsets) => {
            let own: OwnedFd = std::fs::File::open("/proc/self/ns/time")
                .at("/proc/self/ns/time")?
                .into();
            nix::sched::unshare(CloneFlags::from_bits_retain(libc::CLONE_NEWTIME))
                .ctx(|| "unshare time namespace".into())?;
            let text: String = offsets
                .iter()
                .map(|(c, s, n)| format!("{c} {s} {n}\n"))
                .collect();
            if !text.is_empty() {
                std::fs::write("/proc/self/timens_offsets", text)
                    .at("/proc/self/timens_offsets")?;
            }
            Some(own)
        }
        None => None,
    };
    let cgroup_fd = match &plan.cgroup {
        init::CgroupPlan::Ready(h) => h.clone_into_fd().map(|fd| fd.as_raw_fd()),
        _ => None,
    };
    let r = init::clone::fork_into(plan.ns.clone_flags.bits() as u64, cgroup_fd);
    match r {
        Ok(None) => {
            // Child: close the parent's end so its death is seen as EOF.
            // SAFETY: closing an fd of ours that nothing else uses here.
            unsafe { libc::close(parent_end) };
            init::main(plan, &child_chan)
        }
        Ok(Some(pid)) => {
            drop(child_chan);
            if let Some(fd) = own_pid_ns {
                nix::sched::setns(fd, CloneFlags::CLONE_NEWPID)
                    .ctx(|| "restore pid namespace".into())?;
            }
            if let Some(fd) = own_time_ns {
                nix::sched::setns(fd, CloneFlags::from_bits_retain(libc::CLONE_NEWTIME))
                    .ctx(|| "restore time namespace".into())?;
            }
            Ok(pid)
        }
        Err(e) => Err(Error::sys(
            format!("clone container init with {:?}", plan.ns.clone_flags),
            e,
        )),
    }
}

/// Serve the init until it reports READY: run prestart/createRuntime hooks
/// when asked, relay its errors.
fn drive_init(
    chan: &Channel,
    state: &ContainerState,
    pid: Pid,
    hooks: &oci_spec::runtime::Hooks,
) -> Result<()> {
    loop {
        match chan
            .recv()
            .ctx(|| format!("read from init of {}", state.id))?
        {
            Some((sync::READY, _)) => return Ok(()),
            Some((sync::HOOKS, _)) => {
                let json = state.oci_state(Status::Creating).to_string();
                // prestart predates the "creating" status: its hooks (and the
                // validation suite) expect "created", as runc and crun give.
                let prestart_json = state.oci_state(Status::Created).to_string();
                #[allow(deprecated)]
                crate::hooks::run_all(
                    "prestart",
                    hooks.prestart().as_ref(),
                    prestart_json.as_bytes(),
                )?;
                crate::hooks::run_all(
                    "createRuntime",
                    hooks.create_runtime().as_ref(),
                    json.as_bytes(),
                )?;
                chan.send(sync::HOOKS_DONE, json.as_bytes())
                    .ctx(|| "resume init after hooks".into())?;
            }
            Some((sync::SECCOMP, _)) => {
                let (fd, _) = onggi_seccomp::recv_fd(chan.as_fd())
                    .ctx(|| "receive the seccomp notify fd".into())?;
                let listener = state
                    .config
                    .linux()
                    .as_ref()
                    .and_then(|l| l.seccomp().as_ref());
                let path = listener
                    .and_then(|s| s.listener_path().clone())
                    .unwrap_or_default();
                let meta = listener.and_then(|s| s.listener_metadata().clone());
                let json = state.oci_state(Status::Creating).to_string();
                let ps = onggi_seccomp::ContainerProcessState {
                    oci_version: crate::spec::OCI_VERSION,
                    pid: pid.as_raw(),
                    metadata: meta.as_deref(),
                    state_json: json.as_bytes(),
                };
                onggi_seccomp::send_process_state(&path, std::os::fd::AsFd::as_fd(&fd), &ps)
                    .map_err(|e| {
                        Error::Unsupported(format!("seccomp listener {}: {e}", path.display()))
                    })?;
            }
            Some((sync::ERROR, msg)) => {
                return Err(Error::Init {
                    id: state.id.clone(),
                    msg: String::from_utf8_lossy(&msg).into_owned(),
                })
            }
            Some((tag, _)) => {
                return Err(Error::Init {
                    id: state.id.clone(),
                    msg: format!("unexpected message {tag:?} from init"),
                })
            }
            None => {
                let how = match waitpid(pid, None) {
                    Ok(WaitStatus::Exited(_, c)) => format!("exit status {c}"),
                    Ok(WaitStatus::Signaled(_, s, _)) => format!("killed by {s}"),
                    _ => "unknown status".to_string(),
                };
                return Err(Error::Init {
                    id: state.id.clone(),
                    msg: format!("init exited during create ({how})"),
                });
            }
        }
    }
}

/// Write the pid file atomically: a reader never sees a partial number.
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let path = std::path::absolute(path).map_err(|e| Error::io(path, e))?;
    let dir = path.parent().unwrap_or(Path::new("/"));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    std::fs::write(&tmp, pid.to_string()).at(&tmp)?;
    std::fs::rename(&tmp, &path).at(&path)
}
