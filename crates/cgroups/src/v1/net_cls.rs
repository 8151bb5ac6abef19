//! v1 net_cls controller (no v2 equivalent).

use std::path::Path;

use crate::error::Result;
use crate::fs;

pub(super) fn apply(dir: &Path, class_id: u32) -> Result<()> {
    fs::write(dir, "net_cls.classid", &class_id.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn writes_classid() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("net_cls.classid"), "").unwrap();
        super::apply(t.path(), 0x100001).unwrap();
        assert_eq!(
            std::fs::read_to_string(t.path().join("net_cls.classid")).unwrap(),
            "1048577"
        );
    }
}
