//! Shared harness for the image and engine integration tests: a real
//! registry (Debian's docker-registry) on a free loopback port, test images
//! made with umoci and pushed with skopeo, and tree comparison.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const USER: &str = "onggi";
pub const PASSWORD: &str = "s3cret";

/// Runs a command, panicking with its output if it fails.
pub fn sh(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `onggi --root ROOT ARGS...`.
pub fn onggi(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_onggi"))
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running onggi")
}

pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "onggi failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn fails(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "onggi should have failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A docker-registry process; killed (and its storage removed) on drop,
/// also when a test panics.
pub struct Registry {
    child: Child,
    pub addr: String,
    pub dir: tempfile::TempDir,
    pub auth: bool,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    l.local_addr().expect("local addr").port()
}

impl Registry {
    pub fn start(auth: bool) -> Registry {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            dir.path().join("data").display()
        );
        if auth {
            let htpasswd = dir.path().join("htpasswd");
            let out = sh(Command::new("htpasswd").args(["-Bbn", USER, PASSWORD]));
            std::fs::write(&htpasswd, out.stdout).expect("writing htpasswd");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: onggi-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("writing registry config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting docker-registry (apt-get install docker-registry)");
        let reg = Registry {
            child,
            addr,
            dir,
            auth,
        };
        let start = Instant::now();
        while std::net::TcpStream::connect(&reg.addr).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "registry did not start on {}",
                reg.addr
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        reg
    }

    pub fn creds(&self) -> String {
        format!("{USER}:{PASSWORD}")
    }

    /// `skopeo copy SRC docker://ADDR/DEST` with a private HOME, so its
    /// blob-info cache cannot substitute blobs pushed earlier.
    pub fn push(&self, src: &str, dest: &str, extra: &[&str]) {
        let home = tempfile::tempdir().expect("tempdir");
        let mut cmd = Command::new("skopeo");
        cmd.env("HOME", home.path())
            .args(["copy", "-q", "--dest-tls-verify=false"]);
        if self.auth {
            cmd.args(["--dest-creds", &self.creds()]);
        }
        cmd.args(extra)
            .arg(src)
            .arg(format!("docker://{}/{dest}", self.addr));
        sh(&mut cmd);
    }

    /// The file holding blob `hex` in the registry's storage.
    pub fn blob_file(&self, hex: &str) -> PathBuf {
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    fn curl(&self) -> Command {
        let mut c = Command::new("curl");
        c.args(["-sSf"]);
        if self.auth {
            c.args(["-u", &self.creds()]);
        }
        c
    }

    /// Pushes a blob with the plain HTTP API (for what skopeo will not push as is).
    pub fn put_blob(&self, repo: &str, data: &[u8]) -> String {
        let hex = sha256_hex(data);
        let tmp = tempfile::NamedTempFile::new().expect("tempfile");
        std::fs::write(tmp.path(), data).expect("write");
        let out = sh(self
            .curl()
            .args(["-D", "-", "-o", "/dev/null", "-X", "POST"])
            .arg(format!("http://{}/v2/{repo}/blobs/uploads/", self.addr)));
        let headers = String::from_utf8_lossy(&out.stdout).into_owned();
        let location = headers
            .lines()
            .find_map(|l| {
                l.strip_prefix("Location: ")
                    .or_else(|| l.strip_prefix("location: "))
            })
            .expect("upload location")
            .trim()
            .to_string();
        let url = if location.starts_with("http") {
            location
        } else {
            format!("http://{}{location}", self.addr)
        };
        let sep = if url.contains('?') { '&' } else { '?' };
        sh(self
            .curl()
            .args([
                "-o",
                "/dev/null",
                "-X",
                "PUT",
                "-H",
                "Content-Type: application/octet-stream",
                "--data-binary",
            ])
            .arg(format!("@{}", tmp.path().display()))
            .arg(format!("{url}{sep}digest=sha256:{hex}")));
        format!("sha256:{hex}")
    }

    /// Pushes a manifest document under a tag.
    pub fn put_manifest(&self, repo: &str, tag: &str, media_type: &str, data: &[u8]) {
        let tmp = tempfile::NamedTempFile::new().expect("tempfile");
        std::fs::write(tmp.path(), data).expect("write");
        sh(self
            .curl()
            .args(["-o", "/dev/null", "-X", "PUT", "-H"])
            .arg(format!("Content-Type: {media_type}"))
            .arg("--data-binary")
            .arg(format!("@{}", tmp.path().display()))
            .arg(format!("http://{}/v2/{repo}/manifests/{tag}", self.addr)));
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    let out = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().expect("stdin").write_all(data)?;
            c.wait_with_output()
        })
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)[..64].to_string()
}

/// Builds an OCI layout at DIR/oci with umoci: tag `img` (three layers,
/// with whiteouts, hard links, symlinks, a device node, a FIFO, owners and
/// set-id modes), tag `arm` (the same, declared arm64) and tag `multi` (an
/// index of both).
pub fn build_layout(dir: &Path) -> PathBuf {
    let layout = dir.join("oci");
    let bundle = dir.join("work");
    let umoci = |args: &[&str]| {
        sh(Command::new("umoci").args(args));
    };
    umoci(&["init", "--layout", layout.to_str().expect("utf8")]);
    let img = format!("{}:img", layout.display());
    umoci(&["new", "--image", &img]);
    let unpack = |b: &Path| umoci(&["unpack", "--image", &img, b.to_str().expect("utf8")]);
    let repack = |b: &Path| umoci(&["repack", "--image", &img, b.to_str().expect("utf8")]);

    let b1 = bundle.join("1");
    unpack(&b1);
    let r = b1.join("rootfs");
    let w = |p: &str, data: &[u8]| {
        let p = r.join(p);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, data).expect("write");
    };
    std::fs::create_dir_all(r.join("bin")).expect("mkdir");
    std::fs::copy("/bin/busybox", r.join("bin/busybox"))
        .expect("copy busybox (apt-get install busybox-static)");
    for l in ["sh", "ls", "cat", "id"] {
        std::os::unix::fs::symlink("busybox", r.join("bin").join(l)).expect("symlink");
    }
    w(
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\nbob:x:1000:1000:Bob:/home/bob:/bin/sh\n",
    );
    w("etc/group", b"root:x:0:\nbob:x:1000:\nwheel:x:10:bob\n");
    w("data/keep.txt", b"version one\n");
    w("data/gone.txt", b"deleted in layer 2\n");
    w("olddir/a", b"a");
    w("olddir/sub/b", b"b");
    std::fs::hard_link(r.join("data/keep.txt"), r.join("data/keep-hard")).expect("hard link");
    std::os::unix::fs::symlink("/etc/passwd", r.join("data/abs-link")).expect("symlink");
    std::os::unix::fs::symlink("../etc/group", r.join("data/rel-link")).expect("symlink");
    w("data/suid", b"#!/bin/sh\n");
    sh(Command::new("chmod")
        .args(["4755"])
        .arg(r.join("data/suid")));
    w("home/bob/.profile", b"export X=1\n");
    sh(Command::new("chown")
        .args(["-R", "1000:1000"])
        .arg(r.join("home/bob")));
    sh(Command::new("chmod").args(["0750"]).arg(r.join("home/bob")));
    sh(Command::new("mkfifo").arg(r.join("data/fifo")));
    sh(Command::new("mknod")
        .arg(r.join("data/null"))
        .args(["c", "1", "3"]));
    repack(&b1);

    let b2 = bundle.join("2");
    unpack(&b2);
    let r = b2.join("rootfs");
    std::fs::remove_file(r.join("data/gone.txt")).expect("rm");
    std::fs::remove_dir_all(r.join("olddir")).expect("rm");
    std::fs::create_dir_all(r.join("olddir")).expect("mkdir");
    std::fs::write(r.join("olddir/c"), b"c").expect("write");
    std::fs::write(r.join("data/keep.txt"), b"version two\n").expect("write");
    std::fs::write(r.join("data/new.txt"), b"new in layer 2\n").expect("write");
    repack(&b2);

    let b3 = bundle.join("3");
    unpack(&b3);
    let r = b3.join("rootfs");
    let big: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(r.join("data/big.bin"), big).expect("write");
    std::fs::remove_file(r.join("data/rel-link")).expect("rm");
    std::os::unix::fs::symlink("keep.txt", r.join("data/rel-link")).expect("symlink");
    repack(&b3);

    umoci(&[
        "config",
        "--image",
        &img,
        "--config.entrypoint",
        "/bin/sh",
        "--config.cmd",
        "-c",
        "--config.cmd",
        "id; pwd; echo $A",
        "--config.user",
        "bob",
        "--config.workingdir",
        "/data",
        "--config.env",
        "A=from-image",
    ]);
    umoci(&[
        "config",
        "--image",
        &img,
        "--tag",
        "arm",
        "--architecture",
        "arm64",
    ]);
    // An index of both, for the multi-platform paths.
    let index_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index.json"))
            .expect("json");
    let find = |tag: &str| {
        index_json["manifests"]
            .as_array()
            .expect("manifests")
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
            .cloned()
            .expect("tag in index")
    };
    let mut amd = find("img");
    amd["platform"] = serde_json::json!({"architecture": "amd64", "os": "linux"});
    amd.as_object_mut().expect("obj").remove("annotations");
    let mut arm = find("arm");
    arm["platform"] = serde_json::json!({"architecture": "arm64", "os": "linux", "variant": "v8"});
    arm.as_object_mut().expect("obj").remove("annotations");
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [arm, amd],
    });
    let bytes = serde_json::to_vec(&index).expect("json");
    let hex = sha256_hex(&bytes);
    std::fs::write(layout.join("blobs/sha256").join(&hex), &bytes).expect("write index blob");
    let mut top = index_json.clone();
    top["manifests"]
        .as_array_mut()
        .expect("manifests")
        .push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": format!("sha256:{hex}"),
            "size": bytes.len(),
            "annotations": {"org.opencontainers.image.ref.name": "multi"},
        }));
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&top).expect("json"),
    )
    .expect("write index.json");
    layout
}

/// `umoci unpack` of a tag: the reference root filesystem.
pub fn umoci_rootfs(layout: &Path, tag: &str, dest: &Path) -> PathBuf {
    sh(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:{tag}", layout.display()))
        .arg(dest));
    dest.join("rootfs")
}

/// Path → (type, mode, uid, gid, link target or content digest or device).
pub fn describe_tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read_dir") {
            let p = e.expect("entry").path();
            let m = std::fs::symlink_metadata(&p).expect("lstat");
            let ft = m.file_type();
            let what = if ft.is_symlink() {
                format!(
                    "link {}",
                    std::fs::read_link(&p).expect("readlink").display()
                )
            } else if ft.is_dir() {
                stack.push(p.clone());
                "dir".to_string()
            } else if ft.is_file() {
                format!("file {}", sha256_hex(&std::fs::read(&p).expect("read")))
            } else if ft.is_char_device() || ft.is_block_device() {
                format!("dev {:x}", m.rdev())
            } else if ft.is_fifo() {
                "fifo".to_string()
            } else {
                "other".to_string()
            };
            let mode = if ft.is_symlink() {
                0
            } else {
                m.mode() & 0o7777
            };
            let rel = p.strip_prefix(root).expect("prefix").display().to_string();
            out.insert(rel, format!("{what} mode={mode:o} {}:{}", m.uid(), m.gid()));
        }
    }
    out
}

/// Differences between two trees, empty when they match.
pub fn tree_diff(expected: &Path, actual: &Path) -> Vec<String> {
    let a = describe_tree(expected);
    let b = describe_tree(actual);
    let mut diffs = Vec::new();
    for (k, v) in &a {
        match b.get(k) {
            None => diffs.push(format!("missing {k} ({v})")),
            Some(w) if w != v => diffs.push(format!("{k}: expected {v}, got {w}")),
            _ => {}
        }
    }
    for k in b.keys() {
        if !a.contains_key(k) {
            diffs.push(format!("unexpected {k} ({})", b[k]));
        }
    }
    diffs
}
