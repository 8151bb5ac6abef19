//! linux.resources.unified: raw "file": "value" pairs for the cgroup directory.

use std::collections::HashMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::fs;

pub(crate) fn apply(dir: &Path, u: &HashMap<String, String>) -> Result<()> {
    let mut keys: Vec<_> = u.iter().collect();
    keys.sort_by(|a, b| a.0.cmp(b.0));
    for (k, v) in keys {
        // A key is a file name in this directory, "<controller>.<knob>":
        // nothing that could reach another directory or a cgroup core file.
        let ok = !k.contains('/')
            && !k.starts_with('.')
            && (!k.starts_with("cgroup.") || k.starts_with("cgroup.max."))
            && k.split_once('.')
                .is_some_and(|(c, f)| !c.is_empty() && !f.is_empty());
        if !ok {
            return Err(Error::InvalidValue {
                file: dir.join(k).display().to_string(),
                msg: format!("unified key {k:?} is not a controller file name"),
            });
        }
        fs::write(dir, k, v)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_validates() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("memory.high"), "").unwrap();
        let mut u = HashMap::new();
        u.insert("memory.high".to_string(), "1000".to_string());
        apply(t.path(), &u).unwrap();
        assert_eq!(
            std::fs::read_to_string(t.path().join("memory.high")).unwrap(),
            "1000"
        );
        for bad in ["../x.y", "cgroup.procs", "nodot"] {
            let mut u = HashMap::new();
            u.insert(bad.to_string(), "1".to_string());
            assert!(apply(t.path(), &u).is_err(), "{bad}");
        }
        let mut u = HashMap::new();
        u.insert("memory.oom.group".to_string(), "1".to_string());
        let e = apply(t.path(), &u).unwrap_err().to_string();
        assert!(e.contains("memory.oom.group"), "{e}");
    }
}
