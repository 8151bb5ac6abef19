//! onggi-runtime's command line (clap), and a fast path for the argument
//! shapes container managers use most.
//!
//! clap builds its whole command and matches every argument in ~300k
//! instructions, ~0.08 ms of every call (a measurable part of a `run`).
//! [`parse`] first tries [`fast_parse`], which accepts only the plain forms
//! of `create`, `run`, `start`, `state`, `kill` and `delete` with runc's
//! global options before the command; anything else (help, unknown or
//! repeated options, `--opt=value`, options after the id, odd values)
//! goes to clap with its errors and help. tests/runtime_cli_args.rs checks
//! that wherever the fast path accepts, clap gives the same result.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use onggi_runtime::create::CreateOptions;

/// The parsed command line: the fast path, else clap (which exits with
/// its message on bad input or help).
pub fn parse(args: Vec<OsString>) -> Cli {
    fast_parse(&args).unwrap_or_else(|| Cli::parse_from(args))
}

#[derive(Parser, Debug, PartialEq)]
#[command(
    name = "onggi-runtime",
    version,
    disable_version_flag = true,
    about = "An OCI container runtime (runtime-spec 1.3) with runc's command line"
)]
// Global options go before the command, as with runc. They are not
// propagated into every subcommand (clap's `global`), and the subcommands
// are built only when used (`defer`): both cost ~0.13 ms per call.
pub struct Cli {
    /// Print version
    #[arg(short = 'V', long, action = clap::ArgAction::Version)]
    pub version: Option<bool>,
    /// Directory for container state (default /run/onggi, or $XDG_RUNTIME_DIR/onggi when not root)
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// Log file (default: stderr)
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// Log format
    #[arg(long = "log-format", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Debug logging
    #[arg(long)]
    pub debug: bool,
    /// Use systemd to manage cgroups (not supported yet)
    #[arg(long = "systemd-cgroup")]
    pub systemd_cgroup: bool,
    /// Rootless mode: auto, true or false
    #[arg(long, default_value = "auto")]
    pub rootless: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(clap::Args, Debug, PartialEq)]
pub struct CreateArgs {
    /// Path to the bundle directory (holding config.json)
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Unix socket that receives the pty master when process.terminal is true
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Write the init's pid to this file
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Do not use pivot_root (MS_MOVE + chroot instead)
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N extra fds (3..3+N) to the container
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Container id
    pub id: String,
}

impl CreateArgs {
    pub fn options(&self, rootless: Option<bool>) -> CreateOptions {
        CreateOptions {
            rootless,
            id: self.id.clone(),
            bundle: self.bundle.clone(),
            pid_file: self.pid_file.clone(),
            console_socket: self.console_socket.clone(),
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            preserve_fds: self.preserve_fds,
        }
    }
}

#[derive(clap::Args, Debug, PartialEq)]
pub struct ExecArgs {
    /// A process.json describing the process (instead of the command)
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// Allocate a pseudo-terminal
    #[arg(short, long)]
    pub tty: bool,
    /// Unix socket that receives the pty master
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Do not wait for the process
    #[arg(short, long)]
    pub detach: bool,
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Working directory in the container
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Environment variable KEY=VALUE (repeatable)
    #[arg(short, long)]
    pub env: Vec<String>,
    /// uid[:gid]
    #[arg(short, long)]
    pub user: Option<String>,
    /// Additional group id (repeatable)
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// Add a capability (repeatable)
    #[arg(short, long)]
    pub cap: Vec<String>,
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// SELinux label of the process
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    /// AppArmor profile of the process
    #[arg(long)]
    pub apparmor: Option<String>,
    /// Container id
    pub id: String,
    /// Command and arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Subcommand, Debug, PartialEq)]
#[command(defer = true)]
pub enum Command {
    /// Create a container: its init waits for `start`
    Create(CreateArgs),
    /// Start a created container
    Start { id: String },
    /// Create and start a container; in the foreground, wait for it and delete it
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Detach from the container
        #[arg(short, long)]
        detach: bool,
    },
    /// Run a new process in a running container
    Exec(ExecArgs),
    /// Print the state of a container as JSON
    State { id: String },
    /// Send a signal to the container's init (or to all its processes)
    Kill {
        /// Send the signal to every process of the container
        #[arg(short, long)]
        all: bool,
        id: String,
        /// Signal name or number (default SIGTERM)
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a stopped container (or any, with --force)
    Delete {
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// List containers
    #[command(alias = "ps-all")]
    List {
        #[arg(short, long, default_value = "table")]
        format: String,
        /// Only print ids
        #[arg(short, long)]
        quiet: bool,
    },
    /// Write a default config.json
    Spec {
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        /// A config for running without root
        #[arg(long = "rootless", id = "spec_rootless")]
        rootless: bool,
    },
    /// Print the features this runtime implements as JSON
    Features,
    /// Freeze every process of the container
    Pause { id: String },
    /// Thaw a paused container
    Resume { id: String },
    /// Change the container's resource limits
    Update(UpdateArgs),
    /// Resource statistics (--stats once) or a stream of stats and OOM events
    Events {
        /// Print one stats event and exit
        #[arg(long)]
        stats: bool,
        /// Interval between stats events, e.g. 5s, 500ms
        #[arg(long, default_value = "5s")]
        interval: String,
        id: String,
    },
    /// Processes of the container
    Ps {
        /// table (ps output) or json (pids)
        #[arg(short, long, default_value = "table")]
        format: String,
        id: String,
        /// Arguments for ps (default -ef)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
}

#[derive(clap::Args, Debug, PartialEq)]
pub struct UpdateArgs {
    /// Resources as JSON (linux.resources), "-" for stdin
    #[arg(short, long)]
    pub resources: Option<PathBuf>,
    #[arg(long)]
    pub memory: Option<String>,
    #[arg(long = "memory-swap")]
    pub memory_swap: Option<String>,
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    #[arg(long = "kernel-memory")]
    pub kernel_memory: Option<String>,
    #[arg(long = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    #[arg(long = "cpu-quota")]
    pub cpu_quota: Option<i64>,
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    #[arg(long = "cpu-rt-runtime")]
    pub cpu_rt_runtime: Option<i64>,
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    #[arg(long = "pids-limit")]
    pub pids_limit: Option<i64>,
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    pub id: String,
}

impl UpdateArgs {
    pub fn flags(&self) -> onggi_runtime::manage::UpdateFlags {
        onggi_runtime::manage::UpdateFlags {
            memory: self.memory.clone(),
            memory_swap: self.memory_swap.clone(),
            memory_reservation: self.memory_reservation.clone(),
            kernel_memory: self.kernel_memory.clone(),
            cpu_shares: self.cpu_shares,
            cpu_quota: self.cpu_quota,
            cpu_period: self.cpu_period,
            cpu_rt_period: self.cpu_rt_period,
            cpu_rt_runtime: self.cpu_rt_runtime,
            cpuset_cpus: self.cpuset_cpus.clone(),
            cpuset_mems: self.cpuset_mems.clone(),
            pids_limit: self.pids_limit,
            blkio_weight: self.blkio_weight,
        }
    }
}

/// The plain forms of the hot commands, or None for clap to parse.
pub fn fast_parse(args: &[OsString]) -> Option<Cli> {
    let mut words = Vec::with_capacity(args.len());
    for a in args.get(1..)? {
        let w = a.to_str()?;
        // Empty values, `-` forms clap reads in its own ways: clap.
        if w.is_empty() || w == "-" || w == "--" || w.starts_with("--") && w.contains('=') {
            return None;
        }
        words.push(w);
    }
    let mut it = words.into_iter().peekable();
    let (mut root, mut log, mut log_format) = (None, None, LogFormat::Text);
    let (mut debug, mut systemd_cgroup, mut rootless) = (false, false, "auto".to_string());
    let mut seen = Seen(Vec::new());
    let value = |it: &mut std::iter::Peekable<std::vec::IntoIter<&str>>| -> Option<String> {
        let v = it.next()?;
        (!v.starts_with('-')).then(|| v.to_string())
    };
    let command = loop {
        let w = it.next()?;
        match w {
            "--root" => {
                seen.first("root")?;
                root = Some(PathBuf::from(value(&mut it)?));
            }
            "--log" => {
                seen.first("log")?;
                log = Some(PathBuf::from(value(&mut it)?));
            }
            "--log-format" => {
                seen.first("log-format")?;
                log_format = match value(&mut it)?.as_str() {
                    "text" => LogFormat::Text,
                    "json" => LogFormat::Json,
                    _ => return None,
                };
            }
            "--debug" => {
                seen.first("debug")?;
                debug = true;
            }
            "--systemd-cgroup" => {
                seen.first("systemd-cgroup")?;
                systemd_cgroup = true;
            }
            "--rootless" => {
                seen.first("rootless")?;
                rootless = value(&mut it)?;
            }
            w if w.starts_with('-') => return None,
            w => break w,
        }
    };
    // Options, then the positional arguments; nothing after them.
    let mut create = CreateArgs {
        bundle: PathBuf::from("."),
        console_socket: None,
        pid_file: None,
        no_pivot: false,
        no_new_keyring: false,
        preserve_fds: 0,
        id: String::new(),
    };
    let (mut detach, mut force, mut all) = (false, false, false);
    let takes_create = matches!(command, "create" | "run");
    while let Some(w) = it.peek().copied().filter(|w| w.starts_with('-')) {
        it.next();
        match (command, w) {
            (_, "-b" | "--bundle") if takes_create => {
                seen.first("bundle")?;
                create.bundle = PathBuf::from(value(&mut it)?);
            }
            (_, "--console-socket") if takes_create => {
                seen.first("console-socket")?;
                create.console_socket = Some(PathBuf::from(value(&mut it)?));
            }
            (_, "--pid-file") if takes_create => {
                seen.first("pid-file")?;
                create.pid_file = Some(PathBuf::from(value(&mut it)?));
            }
            (_, "--no-pivot") if takes_create => {
                seen.first("no-pivot")?;
                create.no_pivot = true;
            }
            (_, "--no-new-keyring") if takes_create => {
                seen.first("no-new-keyring")?;
                create.no_new_keyring = true;
            }
            (_, "--preserve-fds") if takes_create => {
                seen.first("preserve-fds")?;
                let v = value(&mut it)?;
                if !v.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                create.preserve_fds = v.parse().ok()?;
            }
            ("run", "-d" | "--detach") => {
                seen.first("detach")?;
                detach = true;
            }
            ("delete", "-f" | "--force") => {
                seen.first("force")?;
                force = true;
            }
            ("kill", "-a" | "--all") => {
                seen.first("all")?;
                all = true;
            }
            _ => return None,
        }
    }
    let id = it.next()?.to_string();
    let extra = it.next();
    if it.next().is_some() || extra.is_some_and(|w| w.starts_with('-')) {
        return None;
    }
    let command = match (command, extra) {
        ("kill", signal) => Command::Kill {
            all,
            id,
            signal: signal.unwrap_or("SIGTERM").to_string(),
        },
        (_, Some(_)) => return None,
        ("create", None) => Command::Create(CreateArgs { id, ..create }),
        ("run", None) => Command::Run {
            create: CreateArgs { id, ..create },
            detach,
        },
        ("start", None) => Command::Start { id },
        ("state", None) => Command::State { id },
        ("delete", None) => Command::Delete { force, id },
        _ => return None,
    };
    Some(Cli {
        version: None,
        root,
        log,
        log_format,
        debug,
        systemd_cgroup,
        rootless,
        command,
    })
}

/// The options of a command line so far: clap refuses most of them given
/// twice, so the fast path leaves a repeated one to clap.
struct Seen(Vec<&'static str>);

impl Seen {
    fn first(&mut self, name: &'static str) -> Option<()> {
        if self.0.contains(&name) {
            return None;
        }
        self.0.push(name);
        Some(())
    }
}
