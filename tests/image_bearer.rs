//! Bearer-token authentication, against a stub registry that only answers
//! with a token obtained from its token endpoint with the right credentials
//! (Debian's docker-registry cannot issue tokens by itself).

mod image_support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use image_support::*;

const TOKEN: &str = "tok-4f1e";

fn serve(listener: TcpListener, config: Vec<u8>, manifest: Vec<u8>) {
    let addr = listener.local_addr().expect("addr");
    let config_digest = format!("sha256:{}", sha256_hex(&config));
    let basic = "Basic b25nZ2k6czNjcmV0"; // onggi:s3cret
    for conn in listener.incoming() {
        let Ok(mut conn) = conn else { continue };
        let mut reader = BufReader::new(conn.try_clone().expect("clone"));
        let mut request = String::new();
        if reader.read_line(&mut request).is_err() || !request.starts_with("GET ") {
            continue; // e.g. a TLS hello: the client falls back to HTTP
        }
        let mut auth = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some(v) = line
                .strip_prefix("Authorization: ")
                .or_else(|| line.strip_prefix("authorization: "))
            {
                auth = v.trim().to_string();
            }
        }
        let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
        let (status, ctype, body, extra): (&str, &str, Vec<u8>, String) = if path
            .starts_with("/token")
        {
            if auth == basic && path.contains("scope=repository%3At%2Fimg%3Apull") {
                (
                    "200 OK",
                    "application/json",
                    format!("{{\"token\":\"{TOKEN}\"}}").into_bytes(),
                    String::new(),
                )
            } else {
                (
                    "401 Unauthorized",
                    "application/json",
                    b"{}".to_vec(),
                    String::new(),
                )
            }
        } else if auth != format!("Bearer {TOKEN}") {
            let challenge = format!(
                "WWW-Authenticate: Bearer realm=\"http://{addr}/token\",service=\"stub\",scope=\"repository:t/img:pull\"\r\n"
            );
            (
                "401 Unauthorized",
                "application/json",
                b"{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}".to_vec(),
                challenge,
            )
        } else if path == "/v2/t/img/manifests/v1" {
            (
                "200 OK",
                "application/vnd.oci.image.manifest.v1+json",
                manifest.clone(),
                String::new(),
            )
        } else if path == format!("/v2/t/img/blobs/{config_digest}") {
            (
                "200 OK",
                "application/octet-stream",
                config.clone(),
                String::new(),
            )
        } else {
            (
                "404 Not Found",
                "application/json",
                b"{\"errors\":[{\"code\":\"NOT_FOUND\"}]}".to_vec(),
                String::new(),
            )
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
            body.len()
        );
        let _ = conn.write_all(head.as_bytes());
        let _ = conn.write_all(&body);
    }
}

#[test]
fn bearer_token_flow() {
    let config = br#"{"architecture":"amd64","os":"linux","config":{"Cmd":["/x"]},"rootfs":{"type":"layers","diff_ids":[]}}"#.to_vec();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{}","size":{}}},"layers":[]}}"#,
        sha256_hex(&config),
        config.len()
    )
    .into_bytes();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || serve(listener, config, manifest));
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("store");
    let r = format!("{addr}/t/img:v1");

    let msg = fails(&onggi(&root, &["pull", &r]));
    assert!(
        msg.contains(&r) && msg.contains("token service refused"),
        "{msg}"
    );
    let msg = fails(&onggi(&root, &["pull", "--creds", "onggi:bad", &r]));
    assert!(msg.contains("token service refused"), "{msg}");
    ok(&onggi(
        &root,
        &["pull", "--creds", &format!("{USER}:{PASSWORD}"), &r],
    ));
    let images = ok(&onggi(&root, &["images"]));
    assert!(images.contains(&format!("{addr}/t/img")), "{images}");
}
