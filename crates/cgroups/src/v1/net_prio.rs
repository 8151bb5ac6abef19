//! v1 net_prio controller (no v2 equivalent).

use std::path::Path;

use oci_spec::runtime::LinuxInterfacePriority;

use crate::error::{Error, Result};
use crate::fs;

pub(super) fn apply(dir: &Path, prios: &[LinuxInterfacePriority]) -> Result<()> {
    for p in prios {
        if p.name().is_empty() || p.name().contains(char::is_whitespace) {
            return Err(Error::InvalidValue {
                file: dir.join("net_prio.ifpriomap").display().to_string(),
                msg: format!("bad interface name {:?}", p.name()),
            });
        }
        fs::write(
            dir,
            "net_prio.ifpriomap",
            &format!("{} {}", p.name(), p.priority()),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use oci_spec::runtime::LinuxInterfacePriorityBuilder;

    #[test]
    fn writes_map() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("net_prio.ifpriomap"), "").unwrap();
        let p = LinuxInterfacePriorityBuilder::default()
            .name("eth0")
            .priority(5u32)
            .build()
            .unwrap();
        super::apply(t.path(), &[p]).unwrap();
        assert_eq!(
            std::fs::read_to_string(t.path().join("net_prio.ifpriomap")).unwrap(),
            "eth0 5"
        );
    }
}
