//! Small file helpers for cgroupfs: one `write(2)` per value (the kernel parses
//! each write on its own) and errors that name the file.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Write `value` to `dir/file` in one write. A missing file inside an existing
/// directory means the kernel lacks that knob: reported as `NotSupported`.
pub(crate) fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    write_path(&dir.join(file), value, file)
}

pub(crate) fn write_path(path: &Path, value: &str, what: &str) -> Result<()> {
    Writer::open(path, what, value)?.write(value)
}

/// A cgroupfs file held open for one or more values, each in a write(2) of
/// its own (e.g. device rules: one open instead of one per rule).
pub(crate) struct Writer {
    file: fs::File,
    path: PathBuf,
}

impl Writer {
    /// Open `path` for writing; `value` only names what was to be written
    /// when the open fails.
    pub(crate) fn open(path: &Path, what: &str, value: &str) -> Result<Writer> {
        match OpenOptions::new().write(true).truncate(true).open(path) {
            Ok(file) => Ok(Writer {
                file,
                path: path.to_path_buf(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound && parent_exists(path) => {
                Err(Error::NotSupported {
                    path: path.to_path_buf(),
                    what: what.to_string(),
                })
            }
            Err(e) => Err(Error::Write {
                path: path.to_path_buf(),
                value: value.to_string(),
                source: e,
            }),
        }
    }

    pub(crate) fn write(&mut self, value: &str) -> Result<()> {
        match self.file.write(value.as_bytes()) {
            Ok(n) if n == value.len() => Ok(()),
            Ok(n) => Err(Error::Write {
                path: self.path.clone(),
                value: value.to_string(),
                source: io::Error::new(
                    io::ErrorKind::WriteZero,
                    format!("short write: {n} of {} bytes", value.len()),
                ),
            }),
            Err(e) => Err(Error::Write {
                path: self.path.clone(),
                value: value.to_string(),
                source: e,
            }),
        }
    }
}

fn parent_exists(path: &Path) -> bool {
    path.parent().is_some_and(|p| p.is_dir())
}

pub(crate) fn read(dir: &Path, file: &str) -> Result<String> {
    read_path(&dir.join(file))
}

pub(crate) fn read_path(path: &Path) -> Result<String> {
    read_small(path).map_err(|e| Error::Read {
        path: path.to_path_buf(),
        source: e,
    })
}

/// Read a /proc, /sys or cgroup file. They report size 0, so a plain
/// `read_to_string` starts with a 32-byte read and doubles (8 reads for
/// /proc/self/status); one page up front takes one or two reads for what
/// the runtime reads.
pub fn read_small(path: &Path) -> io::Result<String> {
    use std::io::Read;
    let mut s = String::with_capacity(4096);
    fs::File::open(path)?.read_to_string(&mut s)?;
    Ok(s)
}

/// Read a file that may legitimately be absent (optional statistics).
pub(crate) fn read_opt(dir: &Path, file: &str) -> Result<Option<String>> {
    let path = dir.join(file);
    match read_small(&path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Read { path, source: e }),
    }
}

pub(crate) fn parse_err(path: PathBuf, msg: impl Into<String>) -> Error {
    Error::Parse {
        path,
        msg: msg.into(),
    }
}

/// Parse a single number; "max" (v2) reads as u64::MAX.
pub(crate) fn parse_u64(path: &Path, s: &str) -> Result<u64> {
    let t = s.trim();
    if t == "max" {
        return Ok(u64::MAX);
    }
    t.parse::<u64>()
        .map_err(|_| parse_err(path.to_path_buf(), format!("expected a number, got {t:?}")))
}

pub(crate) fn read_u64(dir: &Path, file: &str) -> Result<u64> {
    let path = dir.join(file);
    let s = read_path(&path)?;
    parse_u64(&path, &s)
}

pub(crate) fn read_u64_opt(dir: &Path, file: &str) -> Result<Option<u64>> {
    match read_opt(dir, file)? {
        Some(s) => Ok(Some(parse_u64(&dir.join(file), &s)?)),
        None => Ok(None),
    }
}

/// Parse "key value" lines (memory.stat, cpu.stat, memory.events, ...).
pub(crate) fn parse_flat_keyed(path: &Path, s: &str) -> Result<Vec<(String, u64)>> {
    let mut out = Vec::new();
    for line in s.lines().filter(|l| !l.trim().is_empty()) {
        let mut it = line.split_whitespace();
        let (Some(k), Some(v)) = (it.next(), it.next()) else {
            return Err(parse_err(path.to_path_buf(), format!("bad line {line:?}")));
        };
        out.push((k.to_string(), parse_u64(path, v)?));
    }
    Ok(out)
}

pub(crate) fn read_flat_keyed_opt(dir: &Path, file: &str) -> Result<Vec<(String, u64)>> {
    match read_opt(dir, file)? {
        Some(s) => parse_flat_keyed(&dir.join(file), &s),
        None => Ok(Vec::new()),
    }
}

pub(crate) fn keyed(v: &[(String, u64)], key: &str) -> Option<u64> {
    v.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
}

/// All pids listed in `cgroup.procs` of `dir` and of every directory below it.
pub(crate) fn procs_recursive(dir: &Path, out: &mut Vec<i32>) -> Result<()> {
    let path = dir.join("cgroup.procs");
    let s = match fs::read_to_string(&path) {
        Ok(s) => s,
        // The cgroup (or a child) vanished while we walked: nothing in it.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::Read { path, source: e }),
    };
    for l in s.lines().filter(|l| !l.is_empty()) {
        let pid = l
            .trim()
            .parse::<i32>()
            .map_err(|_| parse_err(path.clone(), format!("bad pid {l:?}")))?;
        out.push(pid);
    }
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(Error::Read {
                path: dir.to_path_buf(),
                source: e,
            })
        }
    };
    for ent in rd.flatten() {
        if ent.file_type().is_ok_and(|t| t.is_dir()) {
            procs_recursive(&ent.path(), out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_missing_file_is_not_supported() {
        let d = tempfile::tempdir().unwrap();
        let e = write(d.path(), "blkio.weight", "100").unwrap_err();
        assert!(matches!(e, Error::NotSupported { .. }));
        assert!(e.to_string().contains("blkio.weight"), "{e}");
    }

    #[test]
    fn write_existing_file() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("pids.max"), "").unwrap();
        write(d.path(), "pids.max", "10").unwrap();
        assert_eq!(read(d.path(), "pids.max").unwrap(), "10");
    }

    #[test]
    fn flat_keyed() {
        let p = Path::new("x");
        let v = parse_flat_keyed(p, "a 1\nb 2\n\n").unwrap();
        assert_eq!(keyed(&v, "b"), Some(2));
        assert!(parse_flat_keyed(p, "a\n").is_err());
        assert_eq!(parse_u64(p, "max\n").unwrap(), u64::MAX);
    }

    #[test]
    fn procs_walks_children() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("cgroup.procs"), "1\n2\n").unwrap();
        fs::create_dir(d.path().join("c")).unwrap();
        fs::write(d.path().join("c/cgroup.procs"), "3\n").unwrap();
        let mut v = Vec::new();
        procs_recursive(d.path(), &mut v).unwrap();
        v.sort();
        assert_eq!(v, vec![1, 2, 3]);
    }
}
