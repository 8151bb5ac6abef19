//! The README quickstart: build an image from host binaries, list, inspect,
//! bundle and run it with onggi-runtime, then remove it
//! and collect its blobs and snapshots.

mod image_support;

use std::process::Command;

use image_support::*;

#[test]
fn build_from_host_bundle_run_and_remove() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("store");
    let id = ok(&onggi(
        &root,
        &[
            "build",
            "--from-host",
            "tools",
            "/bin/ls",
            "/bin/ps",
            "--add",
            "/etc/hostname:/etc/hostname",
        ],
    ));
    let id = id.trim().to_string();
    assert!(id.starts_with("sha256:"), "{id}");

    let table = ok(&onggi(&root, &["images"]));
    assert!(
        table.contains("docker.io/library/tools") && table.contains("latest"),
        "{table}"
    );
    let inspect: serde_json::Value =
        serde_json::from_str(&ok(&onggi(&root, &["image", "inspect", "tools"]))).expect("json");
    assert_eq!(inspect[0]["Id"], id.as_str());
    assert_eq!(inspect[0]["Config"]["config"]["Cmd"][0], "/bin/ls");

    // Exactly the binaries, the loader and the libraries: no shell, no coreutils.
    let bundle = tmp.path().join("bundle");
    let b = bundle.to_str().expect("utf8");
    ok(&onggi(&root, &["bundle", "tools", b, "ls", "/"]));
    let rootfs = bundle.join("rootfs");
    assert!(rootfs.join("bin/ls").exists() && rootfs.join("bin/ps").exists());
    assert!(!rootfs.join("bin/sh").exists() && !rootfs.join("bin/cat").exists());
    assert!(rootfs.join("etc/hostname").is_file());
    let libc = std::fs::canonicalize(rootfs.join("lib/x86_64-linux-gnu/libc.so.6"));
    assert!(libc.is_ok(), "libc missing");

    // A busy rmi is refused while the bundle mounts the image.
    let msg = fails(&onggi(&root, &["rmi", "tools"]));
    assert!(msg.contains("in use by the bundle"), "{msg}");

    let state = tempfile::tempdir().expect("state dir");
    let out = Command::new(env!("CARGO_BIN_EXE_onggi-runtime"))
        .arg("--root")
        .arg(state.path())
        .args([
            "run",
            "-b",
            b,
            &format!("onggi-test-{}", std::process::id()),
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("onggi-runtime");
    assert!(
        out.status.success(),
        "onggi-runtime: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut names: Vec<&str> = listing.split_whitespace().collect();
    names.sort();
    assert_eq!(
        names,
        ["bin", "dev", "etc", "lib", "lib64", "proc", "sys", "usr"],
        "ls / in the container"
    );
    // The container's writes went to the bundle's upper dir, not the snapshot.
    assert!(bundle.join(".onggi/upper/proc").exists());
    ok(&onggi(&root, &["unbundle", b]));
    assert!(!bundle.exists());

    // `onggi run` bundles, runs with onggi-runtime (found next to onggi)
    // and cleans up.
    let out = onggi(&root, &["run", "tools", "/bin/ls", "/usr"]);
    assert_eq!(
        ok(&out).split_whitespace().collect::<Vec<_>>(),
        ["bin", "lib", "lib64"]
    );
    let out = onggi(&root, &["run", "tools", "/bin/ls", "/nonexistent"]);
    assert_eq!(out.status.code(), Some(2), "ls exit code passes through");
    assert_eq!(
        std::fs::read_dir(root.join("containers"))
            .expect("dir")
            .count(),
        0
    );

    // rmi deletes the record and collects every blob and snapshot.
    let out = ok(&onggi(&root, &["rmi", "tools"]));
    assert!(out.contains(&format!("Deleted: {id}")), "{out}");
    for sub in ["blobs/sha256", "snapshots"] {
        assert_eq!(
            std::fs::read_dir(root.join(sub)).expect("dir").count(),
            0,
            "{sub} not collected"
        );
    }
    let msg = fails(&onggi(&root, &["image", "inspect", "tools"]));
    assert!(
        msg.contains("docker.io/library/tools") || msg.contains("tools"),
        "{msg}"
    );
}

#[test]
fn tags_untag_and_concurrent_builds() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("store");
    // Two onggi processes at once on one store.
    let spawn = |name: &str| {
        Command::new(env!("CARGO_BIN_EXE_onggi"))
            .arg("--root")
            .arg(&root)
            .args(["build", "--from-host", name, "/bin/ls"])
            .output()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| spawn("one"));
        let b = s.spawn(|| spawn("two"));
        (
            a.join().expect("thread").expect("run"),
            b.join().expect("thread").expect("run"),
        )
    });
    ok(&a);
    ok(&b);
    let images: serde_json::Value =
        serde_json::from_str(&ok(&onggi(&root, &["images", "--format", "json"]))).expect("json");
    let names: Vec<String> = images
        .as_array()
        .expect("array")
        .iter()
        .flat_map(|i| i["Names"].as_array().cloned().unwrap_or_default())
        .filter_map(|n| n.as_str().map(str::to_string))
        .collect();
    assert!(
        names.contains(&"docker.io/library/one:latest".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"docker.io/library/two:latest".to_string()),
        "{names:?}"
    );

    ok(&onggi(&root, &["tag", "one", "localhost/mine:v2"]));
    let out = ok(&onggi(&root, &["rmi", "one"]));
    assert!(out.contains("Untagged") || out.contains("Deleted"), "{out}");
    ok(&onggi(&root, &["image", "inspect", "localhost/mine:v2"]));
    let msg = fails(&onggi(&root, &["rmi", "nosuch"]));
    assert!(msg.contains("nosuch") && msg.contains("not found"), "{msg}");
    let msg = fails(&onggi(
        &root,
        &["build", "--from-host", "bad", "/nonexistent/binary"],
    ));
    assert!(msg.contains("/nonexistent/binary"), "{msg}");
}
