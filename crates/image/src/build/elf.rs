//! What the dynamic loader reads from an ELF file: its class and machine,
//! its interpreter, DT_NEEDED, DT_RPATH and DT_RUNPATH.
//!
//! Parsing goes through goblin (a well-fuzzed ELF parser) rather than a
//! hand-rolled reader: host binaries are trusted, but their variety
//! (32/64-bit, both endians, odd section layouts) is not worth re-handling.

use std::path::Path;

use crate::error::{Error, Result};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ElfInfo {
    pub is_64: bool,
    pub machine: u16,
    pub interpreter: Option<String>,
    pub needed: Vec<String>,
    pub rpath: Vec<String>,
    pub runpath: Vec<String>,
}

impl ElfInfo {
    /// Whether a library of `other`'s kind can be loaded into this program.
    pub fn compatible(&self, other: &ElfInfo) -> bool {
        self.is_64 == other.is_64 && self.machine == other.machine
    }
}

/// Reads `path`; `Ok(None)` when it is not an ELF file (a script, say).
pub fn read_elf(path: &Path) -> Result<Option<ElfInfo>> {
    let data = std::fs::read(path).map_err(|e| Error::io_path("reading", path, e))?;
    parse_elf(&data, path)
}

pub fn parse_elf(data: &[u8], path: &Path) -> Result<Option<ElfInfo>> {
    if !data.starts_with(b"\x7fELF") {
        return Ok(None);
    }
    let elf = goblin::elf::Elf::parse(data).map_err(|e| Error::Elf {
        path: path.display().to_string(),
        reason: format!("malformed ELF: {e}"),
    })?;
    let split = |v: &[&str]| -> Vec<String> {
        v.iter()
            .flat_map(|s| s.split(':'))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    Ok(Some(ElfInfo {
        is_64: elf.is_64,
        machine: elf.header.e_machine,
        interpreter: elf.interpreter.map(str::to_string),
        needed: elf.libraries.iter().map(|s| s.to_string()).collect(),
        rpath: split(&elf.rpaths),
        runpath: split(&elf.runpaths),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_host_ls() {
        let info = read_elf(Path::new("/bin/ls")).unwrap().unwrap();
        assert!(info.interpreter.is_some());
        assert!(info.needed.iter().any(|n| n.starts_with("libc.so")));
    }

    #[test]
    fn scripts_are_not_elf() {
        assert_eq!(parse_elf(b"#!/bin/sh\n", Path::new("x")).unwrap(), None);
        assert!(parse_elf(b"\x7fELFjunk", Path::new("x")).is_err());
    }
}
