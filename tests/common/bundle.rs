//! Bundles.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::rootfs::{default_config, make_rootfs};

/// A bundle directory: rootfs/ plus config.json written by `save`.
pub struct Bundle {
    pub dir: tempfile::TempDir,
    pub config: Value,
}

impl Bundle {
    /// Busybox rootfs; config from `spec` with terminal off, a writable
    /// root, and `sh -c true` as the process.
    pub fn new() -> Bundle {
        let dir = tempfile::Builder::new()
            .prefix("onggi-rt-bundle")
            .tempdir()
            .expect("bundle dir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod bundle");
        make_rootfs(&dir.path().join("rootfs"));
        let mut config = default_config();
        config["process"]["terminal"] = json!(false);
        config["root"]["readonly"] = json!(false);
        config["process"]["args"] = json!(["sh", "-c", "true"]);
        let b = Bundle { dir, config };
        b.save();
        b
    }

    /// A bundle whose process is `sh -c SCRIPT`.
    pub fn sh(script: &str) -> Bundle {
        let mut b = Bundle::new();
        b.set_sh(script);
        b
    }

    pub fn set_sh(&mut self, script: &str) -> &mut Self {
        self.config["process"]["args"] = json!(["sh", "-c", script]);
        self.save();
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.json")
    }

    /// Write `config` to config.json. Every mutator calls it; tests that
    /// edit `config` directly call it themselves.
    pub fn save(&self) {
        fs::write(
            self.config_path(),
            serde_json::to_string_pretty(&self.config).expect("json"),
        )
        .expect("write config");
    }

    /// Edit the config and save it.
    pub fn edit(&mut self, f: impl FnOnce(&mut Value)) -> &mut Self {
        f(&mut self.config);
        self.save();
        self
    }

    pub fn namespaces(&self) -> Vec<String> {
        self.config["linux"]["namespaces"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|n| n["type"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Add (or replace) a namespace entry.
    pub fn add_ns(&mut self, ns: Value) -> &mut Self {
        let typ = ns["type"].clone();
        let arr = self.config["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces");
        arr.retain(|n| n["type"] != typ);
        arr.push(ns);
        self.save();
        self
    }

    pub fn remove_ns(&mut self, typ: &str) -> &mut Self {
        self.config["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces")
            .retain(|n| n["type"] != typ);
        self.save();
        self
    }

    pub fn add_mount(&mut self, m: Value) -> &mut Self {
        self.config["mounts"]
            .as_array_mut()
            .expect("mounts")
            .push(m);
        self.save();
        self
    }

    /// Bind-mount a host directory read-write at `dest`.
    pub fn bind(&mut self, host: &Path, dest: &str) -> &mut Self {
        self.add_mount(json!({"destination": dest, "type": "bind", "source": host, "options": ["rbind", "rw"]}))
    }

    pub fn add_hook(&mut self, kind: &str, hook: Value) -> &mut Self {
        if !self.config["hooks"].is_object() {
            self.config["hooks"] = json!({});
        }
        if !self.config["hooks"][kind].is_array() {
            self.config["hooks"][kind] = json!([]);
        }
        self.config["hooks"][kind]
            .as_array_mut()
            .expect("hooks")
            .push(hook);
        self.save();
        self
    }
}

impl Default for Bundle {
    fn default() -> Self {
        Bundle::new()
    }
}

/// A host directory the container can write into (0777, so mapped users
/// can too).
pub fn shared_dir() -> tempfile::TempDir {
    let d = tempfile::Builder::new()
        .prefix("onggi-rt-shared")
        .tempdir()
        .expect("shared dir");
    fs::set_permissions(d.path(), fs::Permissions::from_mode(0o777)).expect("chmod shared");
    d
}
