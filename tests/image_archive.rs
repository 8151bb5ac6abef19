//! `onggi load` / `onggi save`: OCI layouts (directories and tars) and
//! docker-archive tars, checked with umoci and skopeo.

mod image_support;

use std::path::Path;
use std::process::Command;

use image_support::*;

fn bundle_diff(root: &Path, image: &str, reference: &Path, tmp: &Path) -> Vec<String> {
    let bundle = tmp.join("bundle");
    let b = bundle.to_str().expect("utf8");
    ok(&onggi(root, &["bundle", image, b]));
    let diffs = tree_diff(reference, &bundle.join("rootfs"));
    ok(&onggi(root, &["unbundle", b]));
    diffs
}

#[test]
fn load_and_save_round_trips() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = tmp.path();
    let layout = build_layout(t);
    let reference = umoci_rootfs(&layout, "img", &t.join("umoci"));
    let root = t.join("store");

    // An OCI layout directory: every tag, the index resolved to this platform.
    let out = ok(&onggi(
        &root,
        &["load", "-i", layout.to_str().expect("utf8")],
    ));
    for n in ["localhost/img:latest", "localhost/arm:latest"] {
        assert!(out.contains(n), "{out}");
    }
    let d = bundle_diff(&root, "localhost/img", &reference, t);
    assert!(
        d.is_empty(),
        "loaded layout differs from umoci:\n{}",
        d.join("\n")
    );
    let d = bundle_diff(&root, "localhost/multi", &reference, t);
    assert!(d.is_empty(), "index entry differs:\n{}", d.join("\n"));
    let id = serde_json::from_str::<serde_json::Value>(&ok(&onggi(
        &root,
        &["image", "inspect", "localhost/img"],
    )))
    .expect("json")[0]["Id"]
        .as_str()
        .expect("id")
        .to_string();

    // docker-archive out, read by skopeo, unpacked by umoci.
    let docker_tar = t.join("img.docker.tar");
    ok(&onggi(
        &root,
        &[
            "save",
            "-o",
            docker_tar.to_str().expect("utf8"),
            "localhost/img",
        ],
    ));
    let copy = t.join("from-docker");
    sh(Command::new("skopeo")
        .env("HOME", t)
        .args(["copy", "-q"])
        .arg(format!("docker-archive:{}", docker_tar.display()))
        .arg(format!("oci:{}:x", copy.display())));
    let unpacked = umoci_rootfs(&copy, "x", &t.join("umoci-docker"));
    let d = tree_diff(&reference, &unpacked);
    assert!(d.is_empty(), "docker-archive differs:\n{}", d.join("\n"));

    // oci-archive out, untarred, unpacked by umoci.
    let oci_tar = t.join("img.oci.tar");
    ok(&onggi(
        &root,
        &[
            "save",
            "--format",
            "oci-archive",
            "-o",
            oci_tar.to_str().expect("utf8"),
            "localhost/img",
        ],
    ));
    let untarred = t.join("untarred");
    std::fs::create_dir(&untarred).expect("mkdir");
    sh(Command::new("tar")
        .arg("-xf")
        .arg(&oci_tar)
        .arg("-C")
        .arg(&untarred));
    let unpacked = umoci_rootfs(&untarred, "latest", &t.join("umoci-oci"));
    let d = tree_diff(&reference, &unpacked);
    assert!(d.is_empty(), "oci-archive differs:\n{}", d.join("\n"));

    // oci-dir out, read by skopeo.
    let oci_dir = t.join("img.oci");
    ok(&onggi(
        &root,
        &[
            "save",
            "--format",
            "oci-dir",
            "-o",
            oci_dir.to_str().expect("utf8"),
            "localhost/img",
        ],
    ));
    sh(Command::new("skopeo")
        .env("HOME", t)
        .arg("inspect")
        .arg(format!("oci:{}:latest", oci_dir.display())));

    // Both tars load back into a fresh store as the same image.
    for (i, tar) in [&docker_tar, &oci_tar].iter().enumerate() {
        let fresh = t.join(format!("fresh{i}"));
        let out = ok(&onggi(&fresh, &["load", "-i", tar.to_str().expect("utf8")]));
        assert!(out.contains("localhost/img:latest"), "{out}");
        let got = serde_json::from_str::<serde_json::Value>(&ok(&onggi(
            &fresh,
            &["image", "inspect", "localhost/img"],
        )))
        .expect("json")[0]["Id"]
            .as_str()
            .expect("id")
            .to_string();
        assert_eq!(got, id);
        let d = bundle_diff(&fresh, "localhost/img", &reference, t);
        assert!(
            d.is_empty(),
            "reloaded {} differs:\n{}",
            tar.display(),
            d.join("\n")
        );
    }
}

#[test]
fn bad_archives_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = tmp.path();
    let root = t.join("store");
    let junk = t.join("junk.tar");
    std::fs::write(&junk, b"this is not a tar archive at all").expect("write");
    let msg = fails(&onggi(&root, &["load", "-i", junk.to_str().expect("utf8")]));
    assert!(msg.contains("junk.tar"), "{msg}");

    // A layout whose layer blob was altered.
    let src = t.join("src");
    ok(&onggi(&src, &["build", "--from-host", "tools", "/bin/ls"]));
    let dir = t.join("layout");
    ok(&onggi(
        &src,
        &[
            "save",
            "--format",
            "oci-dir",
            "-o",
            dir.to_str().expect("utf8"),
            "tools",
        ],
    ));
    let biggest = std::fs::read_dir(dir.join("blobs/sha256"))
        .expect("blobs")
        .map(|e| e.expect("entry").path())
        .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .expect("a blob");
    let mut data = std::fs::read(&biggest).expect("read");
    let mid = data.len() / 2;
    data[mid] ^= 1;
    std::fs::write(&biggest, data).expect("write");
    let msg = fails(&onggi(&root, &["load", "-i", dir.to_str().expect("utf8")]));
    assert!(
        msg.contains("digest mismatch") && msg.contains(&dir.display().to_string()),
        "{msg}"
    );
    let images: serde_json::Value =
        serde_json::from_str(&ok(&onggi(&root, &["images", "--format", "json"]))).expect("json");
    assert_eq!(images, serde_json::json!([]));
    assert_eq!(
        std::fs::read_dir(root.join("blobs/sha256"))
            .expect("dir")
            .count(),
        0
    );
}
