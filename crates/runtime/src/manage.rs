//! Commands on a container's cgroup: pause, resume, update, events, ps.

use std::io::Write;
use std::time::Duration;

use oci_spec::runtime::LinuxResources;

use crate::error::{Error, Result};
use crate::lifecycle::{self, Container};
use crate::state::{StateRoot, Status};

fn cgroup_of(c: &Container) -> Result<&onggi_cgroups::Cgroup> {
    c.state
        .cgroup
        .as_ref()
        .ok_or_else(|| Error::Unsupported(format!("container {:?} has no cgroup", c.state.id)))
}

pub fn pause(root: &StateRoot, id: &str) -> Result<()> {
    let c = lifecycle::load(root, id)?;
    match c.status {
        Status::Running | Status::Created => Ok(cgroup_of(&c)?.freeze()?),
        s => Err(Error::WrongState {
            id: id.into(),
            status: s.to_string(),
            what: "only a running or created container can be paused",
        }),
    }
}

pub fn resume(root: &StateRoot, id: &str) -> Result<()> {
    let c = lifecycle::load(root, id)?;
    match c.status {
        Status::Paused => Ok(cgroup_of(&c)?.thaw()?),
        s => Err(Error::WrongState {
            id: id.into(),
            status: s.to_string(),
            what: "only a paused container can be resumed",
        }),
    }
}

/// `update`: apply new resource values and remember them in the state, so
/// a later `update` or `events` sees the container's real limits.
pub fn update(root: &StateRoot, id: &str, resources: &LinuxResources) -> Result<()> {
    let mut c = lifecycle::load(root, id)?;
    if c.status == Status::Stopped {
        return Err(Error::WrongState {
            id: id.into(),
            status: c.status.to_string(),
            what: "cannot update a stopped container",
        });
    }
    cgroup_of(&c)?.update(resources)?;
    let mut linux = c.state.config.linux().clone().unwrap_or_default();
    let merged = merge(linux.resources().clone().unwrap_or_default(), resources);
    linux.set_resources(Some(merged));
    c.state.config.set_linux(Some(linux));
    root.save(&c.state)
}

/// Overlay the fields set in `new` onto `old`, as JSON objects.
fn merge(old: LinuxResources, new: &LinuxResources) -> LinuxResources {
    fn overlay(a: &mut serde_json::Value, b: &serde_json::Value) {
        match (a, b) {
            (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
                for (k, v) in b {
                    if v.is_null() {
                        continue;
                    }
                    overlay(a.entry(k.clone()).or_insert(serde_json::Value::Null), v);
                }
            }
            (a, b) => *a = b.clone(),
        }
    }
    let mut a = serde_json::to_value(&old).unwrap_or_default();
    let b = serde_json::to_value(new).unwrap_or_default();
    overlay(&mut a, &b);
    serde_json::from_value(a).unwrap_or(old)
}

/// `update` flags: size strings like runc's ("512m", "1g", "-1").
pub fn parse_size(s: &str) -> Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let t = t.trim_end_matches('b');
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| Error::Unsupported(format!("invalid size {s:?}")))?;
    if v < 0.0 {
        return Err(Error::Unsupported(format!("invalid size {s:?}")));
    }
    Ok((v * mult as f64) as i64)
}

/// `events --stats` once, or a stream of stats every `interval` plus OOM
/// events, until the container stops.
pub fn events(
    root: &StateRoot,
    id: &str,
    stats_once: bool,
    interval: Duration,
    out: &mut dyn Write,
) -> Result<()> {
    let c = lifecycle::load(root, id)?;
    if c.status == Status::Stopped {
        return Err(Error::WrongState {
            id: id.into(),
            status: c.status.to_string(),
            what: "container is not running",
        });
    }
    let cg = cgroup_of(&c)?;
    let emit = |out: &mut dyn Write, v: serde_json::Value| {
        writeln!(out, "{v}")
            .and_then(|_| out.flush())
            .map_err(|e| Error::io("stdout", e))
    };
    if stats_once {
        return emit(
            out,
            serde_json::json!({"type": "stats", "id": id, "data": cg.stats()?}),
        );
    }
    let mut ooms = cg.oom_kill_count().unwrap_or(0);
    loop {
        let now = cg.oom_kill_count().unwrap_or(ooms);
        if now > ooms {
            emit(out, serde_json::json!({"type": "oom", "id": id}))?;
            ooms = now;
        }
        match cg.stats() {
            Ok(s) => emit(
                out,
                serde_json::json!({"type": "stats", "id": id, "data": s}),
            )?,
            Err(_) if !c.state.init_alive() => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        if !c.state.init_alive() {
            return Ok(());
        }
        std::thread::sleep(interval);
    }
}

/// Pids of every process in the container.
pub fn pids(root: &StateRoot, id: &str) -> Result<Vec<i32>> {
    let c = lifecycle::load(root, id)?;
    if c.status == Status::Stopped {
        return Ok(Vec::new());
    }
    let mut p = cgroup_of(&c)?.pids()?;
    p.sort_unstable();
    Ok(p)
}

/// `ps` table: run the host's ps with the given arguments and keep the
/// header plus the lines of the container's processes, as runc does.
pub fn ps_table(root: &StateRoot, id: &str, ps_args: &[String]) -> Result<String> {
    let pids = pids(root, id)?;
    let args: Vec<String> = if ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        ps_args.to_vec()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .map_err(|e| Error::io("ps", e))?;
    if !out.status.success() {
        return Err(Error::Unsupported(format!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| {
            Error::Unsupported(format!(
                "ps {}: no PID column in its output",
                args.join(" ")
            ))
        })?;
    let mut res = format!("{header}\n");
    for l in lines {
        if let Some(p) = l
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok())
        {
            if pids.contains(&p) {
                res.push_str(l);
                res.push('\n');
            }
        }
    }
    Ok(res)
}

/// `update`'s flags, as runc spells them.
#[derive(Debug, Clone, Default)]
pub struct UpdateFlags {
    pub memory: Option<String>,
    pub memory_swap: Option<String>,
    pub memory_reservation: Option<String>,
    pub kernel_memory: Option<String>,
    pub cpu_shares: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub cpu_rt_period: Option<u64>,
    pub cpu_rt_runtime: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub pids_limit: Option<i64>,
    pub blkio_weight: Option<u16>,
}

impl UpdateFlags {
    /// The flags as linux.resources (only the fields given are set).
    pub fn resources(&self) -> Result<LinuxResources> {
        let size = |s: &Option<String>| -> Result<Option<i64>> {
            s.as_deref().map(parse_size).transpose()
        };
        let mut r = serde_json::json!({});
        let mut set = |section: &str, key: &str, v: Option<serde_json::Value>| {
            if let Some(v) = v {
                r[section][key] = v;
            }
        };
        set("memory", "limit", size(&self.memory)?.map(Into::into));
        set("memory", "swap", size(&self.memory_swap)?.map(Into::into));
        set(
            "memory",
            "reservation",
            size(&self.memory_reservation)?.map(Into::into),
        );
        set(
            "memory",
            "kernel",
            size(&self.kernel_memory)?.map(Into::into),
        );
        set("cpu", "shares", self.cpu_shares.map(Into::into));
        set("cpu", "quota", self.cpu_quota.map(Into::into));
        set("cpu", "period", self.cpu_period.map(Into::into));
        set("cpu", "realtimePeriod", self.cpu_rt_period.map(Into::into));
        set(
            "cpu",
            "realtimeRuntime",
            self.cpu_rt_runtime.map(Into::into),
        );
        set("cpu", "cpus", self.cpuset_cpus.clone().map(Into::into));
        set("cpu", "mems", self.cpuset_mems.clone().map(Into::into));
        set("pids", "limit", self.pids_limit.map(Into::into));
        set("blockIO", "weight", self.blkio_weight.map(Into::into));
        serde_json::from_value(r)
            .map_err(|e| Error::Unsupported(format!("invalid update flags: {e}")))
    }
}

/// `update -r FILE` ("-" for stdin): a linux.resources JSON object.
pub fn read_resources(path: &std::path::Path) -> Result<LinuxResources> {
    let text = if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| Error::io("stdin", e))?;
        s
    } else {
        std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?
    };
    serde_json::from_str(&text).map_err(|e| Error::config(path, format!("invalid resources: {e}")))
}

/// "5s", "500ms", "1m", "1h" or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let t = s.trim();
    let (num, unit) = t.split_at(
        t.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(t.len()),
    );
    let bad = || {
        Error::Unsupported(format!(
            "invalid duration {s:?}: use a positive number with s, ms, m or h"
        ))
    };
    let v: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "" | "s" => v,
        "ms" => v / 1000.0,
        "m" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(bad()),
    };
    if secs <= 0.0 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_flags() {
        assert_eq!(parse_duration("5s").ok(), Some(Duration::from_secs(5)));
        assert_eq!(
            parse_duration("250ms").ok(),
            Some(Duration::from_millis(250))
        );
        assert!(parse_duration("0").is_err() && parse_duration("5x").is_err());
        let f = UpdateFlags {
            memory: Some("64m".into()),
            pids_limit: Some(20),
            ..Default::default()
        };
        let r = serde_json::to_value(f.resources().expect("resources")).expect("json");
        assert_eq!(r["memory"]["limit"], 64 << 20);
        assert_eq!(r["pids"]["limit"], 20);
        assert!(r.get("cpu").is_none_or(|c| c.is_null()));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512").ok(), Some(512));
        assert_eq!(parse_size("4k").ok(), Some(4096));
        assert_eq!(parse_size("1M").ok(), Some(1 << 20));
        assert_eq!(parse_size("2gb").ok(), Some(2 << 30));
        assert_eq!(parse_size("-1").ok(), Some(-1));
        assert!(parse_size("x").is_err());
        assert!(parse_size("-5").is_err());
    }

    #[test]
    fn merge_keeps_old_fields() {
        let old: LinuxResources = serde_json::from_value(
            serde_json::json!({"memory": {"limit": 100, "swap": 200}, "pids": {"limit": 5}}),
        )
        .expect("old");
        let new: LinuxResources =
            serde_json::from_value(serde_json::json!({"memory": {"limit": 300}})).expect("new");
        let m = serde_json::to_value(merge(old, &new)).expect("json");
        assert_eq!(m["memory"]["limit"], 300);
        assert_eq!(m["memory"]["swap"], 200);
        assert_eq!(m["pids"]["limit"], 5);
    }
}
