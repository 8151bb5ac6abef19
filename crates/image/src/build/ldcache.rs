//! The ld.so cache (/etc/ld.so.cache, written by ldconfig): a soname to
//! path table that ld.so consults after RPATH/RUNPATH and before the
//! default directories. Only the "new" format (glibc ≥ 2.x, the only one
//! current ldconfig writes) is read; an old-format prefix is skipped.

use std::path::Path;

use crate::error::{Error, Result};

const MAGIC_NEW: &[u8] = b"glibc-ld.so.cache1.1";
const HEADER_LEN: usize = 48;
const ENTRY_LEN: usize = 24;

/// Name to path entries, in cache order (ld.so takes the first that fits).
#[derive(Debug, Default)]
pub struct LdCache {
    entries: Vec<(String, String)>,
}

impl LdCache {
    /// Loads the cache; a missing file is an empty cache, as for ld.so.
    pub fn load(path: &Path) -> Result<Self> {
        match std::fs::read(path) {
            Ok(data) => Self::parse(&data)
                .ok_or_else(|| Error::malformed(path.display().to_string(), "not an ld.so cache")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LdCache::default()),
            Err(e) => Err(Error::io_path("reading", path, e)),
        }
    }

    pub fn parse(data: &[u8]) -> Option<Self> {
        let start = data.windows(MAGIC_NEW.len()).position(|w| w == MAGIC_NEW)?;
        let cache = &data[start..];
        let u32_at = |off: usize| -> Option<u32> {
            Some(u32::from_ne_bytes(
                cache.get(off..off + 4)?.try_into().ok()?,
            ))
        };
        let nlibs = u32_at(20)? as usize;
        let string_at = |off: u32| -> Option<String> {
            let s = cache.get(off as usize..)?;
            let end = s.iter().position(|b| *b == 0)?;
            String::from_utf8(s[..end].to_vec()).ok()
        };
        let mut entries = Vec::with_capacity(nlibs.min(1 << 16));
        for i in 0..nlibs {
            let base = HEADER_LEN + i * ENTRY_LEN;
            let (key, value) = (u32_at(base + 4)?, u32_at(base + 8)?);
            entries.push((string_at(key)?, string_at(value)?));
        }
        Some(LdCache { entries })
    }

    /// Paths the cache lists for `name`, best first.
    pub fn lookup<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_cache_has_libc() {
        let cache = LdCache::load(Path::new("/etc/ld.so.cache")).unwrap();
        assert!(!cache.is_empty());
        let libc: Vec<_> = cache.lookup("libc.so.6").collect();
        assert!(!libc.is_empty());
        assert!(libc.iter().all(|p| p.ends_with("/libc.so.6")));
    }

    #[test]
    fn rejects_garbage() {
        assert!(LdCache::parse(b"nothing here").is_none());
        let mut truncated = MAGIC_NEW.to_vec();
        truncated.extend_from_slice(&[9, 0, 0, 0, 0, 0, 0, 0]);
        assert!(LdCache::parse(&truncated).is_none());
    }
}
