//! Pulling from a real registry: every manifest kind and layer compression,
//! checked against `umoci unpack` of the same image.

mod image_support;

use std::path::Path;

use image_support::*;

fn images_json(root: &Path) -> serde_json::Value {
    serde_json::from_str(&ok(&onggi(root, &["images", "--format", "json"]))).expect("images json")
}

/// Pulls `reference` into a fresh store and compares the bundle's rootfs
/// with umoci's.
fn pull_and_compare(
    reference: &str,
    extra: &[&str],
    reference_rootfs: &Path,
    tmp: &Path,
) -> std::path::PathBuf {
    let root = tmp.join(format!("store-{}", reference.replace(['/', ':'], "_")));
    let mut args = vec!["pull"];
    args.extend_from_slice(extra);
    args.push(reference);
    ok(&onggi(&root, &args));
    let bundle = tmp.join("bundle");
    ok(&onggi(
        &root,
        &["bundle", reference, bundle.to_str().expect("utf8")],
    ));
    let diffs = tree_diff(reference_rootfs, &bundle.join("rootfs"));
    ok(&onggi(&root, &["unbundle", bundle.to_str().expect("utf8")]));
    assert!(
        diffs.is_empty(),
        "{reference}: rootfs differs from umoci's:\n{}",
        diffs.join("\n")
    );
    root
}

#[test]
fn pulls_every_manifest_kind_and_compression() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let layout = build_layout(tmp.path());
    let reference = umoci_rootfs(&layout, "img", &tmp.path().join("umoci"));
    let reg = Registry::start(false);
    let src = |tag: &str| format!("oci:{}:{tag}", layout.display());
    reg.push(&src("img"), "t/oci:v1", &[]);
    reg.push(&src("img"), "t/v2s2:v1", &["--format", "v2s2"]);
    // skopeo (1.9) keeps gzip when pushing to a registry; recompress into a
    // layout first, then push that as is.
    let zstd_layout = tmp.path().join("zstd");
    let home = tempfile::tempdir().expect("tempdir");
    sh(std::process::Command::new("skopeo")
        .env("HOME", home.path())
        .args([
            "copy",
            "-q",
            "--dest-compress",
            "--dest-compress-format",
            "zstd",
        ])
        .arg(src("img"))
        .arg(format!("oci:{}:img", zstd_layout.display())));
    reg.push(
        &format!("oci:{}:img", zstd_layout.display()),
        "t/zstd:v1",
        &[],
    );
    reg.push(&src("multi"), "t/index:v1", &["--all"]);
    reg.push(&src("multi"), "t/list:v1", &["--all", "--format", "v2s2"]);
    let a = &reg.addr;

    let root = pull_and_compare(&format!("{a}/t/oci:v1"), &[], &reference, tmp.path());
    // The second pull downloads nothing.
    let again = onggi(&root, &["pull", &format!("{a}/t/oci:v1")]);
    let err = String::from_utf8_lossy(&again.stderr).into_owned();
    ok(&again);
    assert!(
        !err.contains("Copying blob"),
        "second pull downloaded: {err}"
    );
    assert_eq!(err.matches("already present").count(), 3, "{err}");

    pull_and_compare(&format!("{a}/t/v2s2:v1"), &[], &reference, tmp.path());
    let zroot = pull_and_compare(&format!("{a}/t/zstd:v1"), &[], &reference, tmp.path());
    let inspect: serde_json::Value = serde_json::from_str(&ok(&onggi(
        &zroot,
        &["image", "inspect", &format!("{a}/t/zstd:v1")],
    )))
    .expect("json");
    let media: Vec<&str> = inspect[0]["Layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["media_type"].as_str().unwrap_or(""))
        .collect();
    assert!(media.iter().all(|m| m.ends_with("+zstd")), "{media:?}");

    let iroot = pull_and_compare(&format!("{a}/t/index:v1"), &[], &reference, tmp.path());
    assert_eq!(images_json(&iroot)[0]["Architecture"], "amd64");
    pull_and_compare(&format!("{a}/t/list:v1"), &[], &reference, tmp.path());
    let arm_root = tmp.path().join("arm");
    ok(&onggi(
        &arm_root,
        &[
            "pull",
            "--platform",
            "linux/arm64",
            &format!("{a}/t/list:v1"),
        ],
    ));
    assert_eq!(images_json(&arm_root)[0]["Architecture"], "arm64");
    let none = onggi(
        &arm_root,
        &[
            "pull",
            "--platform",
            "linux/s390x",
            &format!("{a}/t/index:v1"),
        ],
    );
    let msg = fails(&none);
    assert!(
        msg.contains("linux/s390x") && msg.contains("linux/arm64/v8"),
        "{msg}"
    );

    // Uncompressed layers, pushed by hand since skopeo compresses on push.
    let plain_root = pull_and_compare(
        &format!("{a}/t/oci:v1"),
        &[],
        &reference,
        &tmp.path().join("p"),
    );
    let rec = &images_json(&plain_root)[0];
    let manifest: serde_json::Value = serde_json::from_str(&ok(&onggi(
        &plain_root,
        &["image", "inspect", rec["Id"].as_str().expect("id")],
    )))
    .expect("json");
    let config = manifest[0]["Config"].clone();
    let mut layers = Vec::new();
    for diff_id in config["rootfs"]["diff_ids"].as_array().expect("diff ids") {
        let hex = &diff_id.as_str().expect("str")[7..];
        let data = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "for b in {}/blobs/sha256/*; do if [ \"$(gzip -dc $b 2>/dev/null | sha256sum | cut -c1-64)\" = {hex} ]; then gzip -dc $b; break; fi; done",
                layout.display()
            ))
            .output()
            .expect("decompress")
            .stdout;
        let digest = reg.put_blob("t/plain", &data);
        layers.push(serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": data.len()}));
    }
    let config_bytes = serde_json::to_vec(&config).expect("json");
    let config_digest = reg.put_blob("t/plain", &config_bytes);
    let m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_bytes.len()},
        "layers": layers,
    });
    reg.put_manifest(
        "t/plain",
        "v1",
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&m).expect("json"),
    );
    pull_and_compare(&format!("{a}/t/plain:v1"), &[], &reference, tmp.path());
}
