//! A blocking registry client on `ureq`.
//!
//! Why ureq, not an async client: pulling is a handful of requests plus a
//! few large blob streams, which threads (one per parallel layer) handle as
//! well as an async runtime would, with far fewer dependencies and no
//! runtime to start; ureq also hands us a plain `Read` to stream blobs
//! straight into the store while hashing them.

use std::io::Read;
use std::sync::Mutex;
use std::time::Duration;

use super::auth::{url_encode, Challenge, Credentials};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::reference::Reference;
use crate::spec::{MANIFEST_ACCEPT, MAX_JSON_SIZE};

/// How to reach registries.
#[derive(Clone, Debug, Default)]
pub struct RegistryConfig {
    /// Registries (`host[:port]`) to reach over plain HTTP.
    pub insecure: Vec<String>,
    /// `--insecure`: every registry may be plain HTTP.
    pub insecure_all: bool,
    /// `--creds`: used instead of the auth files.
    pub credentials: Option<Credentials>,
}

impl RegistryConfig {
    /// Reads a registries config: `{"insecure": ["127.0.0.1:5000", ...]}`.
    pub fn load_file(&mut self, path: &std::path::Path) -> Result<()> {
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io_path("reading registries config", path, e)),
        };
        let v: serde_json::Value = serde_json::from_slice(&data).map_err(|e| {
            Error::malformed(
                format!("registries config {}", path.display()),
                e.to_string(),
            )
        })?;
        for r in v["insecure"].as_array().into_iter().flatten() {
            if let Some(s) = r.as_str() {
                self.insecure.push(s.to_string());
            }
        }
        Ok(())
    }

    /// Plain HTTP is allowed for configured registries and, as Docker does,
    /// for loopback ones. HTTPS is still tried first.
    pub fn allows_http(&self, registry: &str) -> bool {
        let host = registry
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(registry);
        self.insecure_all
            || self.insecure.iter().any(|r| r == registry)
            || host == "localhost"
            || host.starts_with("127.")
            || host == "[::1]"
    }
}

/// A client for one repository on one registry.
pub struct Client {
    agent: ureq::Agent,
    registry: String,
    host: String,
    repository: String,
    allows_http: bool,
    scheme: Mutex<Option<&'static str>>,
    auth_header: Mutex<Option<String>>,
    credentials: Option<Credentials>,
}

impl Client {
    pub fn new(reference: &Reference, config: &RegistryConfig) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(15))
            .timeout_read(Duration::from_secs(120))
            .redirects(8)
            .user_agent(concat!("onggi/", env!("CARGO_PKG_VERSION")))
            .build();
        let credentials = config
            .credentials
            .clone()
            .or_else(|| Credentials::from_auth_files(&reference.registry));
        Client {
            agent,
            registry: reference.registry.clone(),
            host: reference.api_host().to_string(),
            repository: reference.repository.clone(),
            allows_http: config.allows_http(&reference.registry),
            scheme: Mutex::new(None),
            auth_header: Mutex::new(None),
            credentials,
        }
    }

    fn err(&self, message: String) -> Error {
        Error::Registry {
            registry: self.registry.clone(),
            message,
        }
    }

    fn auth_err(&self, message: &str) -> Error {
        Error::Auth {
            registry: self.registry.clone(),
            message: message.to_string(),
        }
    }

    /// GETs `/v2/REPO/PATH`, authenticating on a 401 and falling back to
    /// plain HTTP where allowed.
    fn get(&self, path: &str, accept: Option<&str>, what: &str) -> Result<ureq::Response> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let known = *self
                .scheme
                .lock()
                .map_err(|_| self.err("lock poisoned".into()))?;
            let scheme = known.unwrap_or("https");
            let url = format!("{scheme}://{}/v2/{}/{path}", self.host, self.repository);
            let mut req = self.agent.get(&url);
            if let Some(a) = accept {
                req = req.set("Accept", a);
            }
            let sent_auth = self.auth_header.lock().ok().and_then(|h| h.clone());
            if let Some(h) = &sent_auth {
                req = req.set("Authorization", h);
            }
            match req.call() {
                Ok(resp) => {
                    if let Ok(mut s) = self.scheme.lock() {
                        s.get_or_insert(scheme);
                    }
                    return Ok(resp);
                }
                Err(ureq::Error::Status(401, resp)) if attempts < 4 => {
                    let challenge = resp.header("WWW-Authenticate").and_then(Challenge::parse);
                    self.authenticate(challenge, sent_auth.as_deref())?;
                }
                Err(ureq::Error::Status(401, _)) => {
                    return Err(self.auth_err("the registry keeps refusing the credentials"))
                }
                Err(ureq::Error::Status(403, _)) => {
                    return Err(self.auth_err(&format!("access to {what} denied (HTTP 403)")))
                }
                Err(ureq::Error::Status(404, resp)) => {
                    return Err(Error::NotFound {
                        what: what.to_string(),
                        detail: Some(
                            registry_message(resp)
                                .unwrap_or_else(|| format!("HTTP 404 from {}", self.registry)),
                        ),
                    })
                }
                Err(ureq::Error::Status(code, resp)) => {
                    let msg = registry_message(resp).unwrap_or_default();
                    return Err(self.err(
                        format!("HTTP {code} for {what} {msg}")
                            .trim_end()
                            .to_string(),
                    ));
                }
                Err(ureq::Error::Transport(t)) => {
                    if known.is_none() && scheme == "https" && self.allows_http {
                        if let Ok(mut s) = self.scheme.lock() {
                            *s = Some("http");
                        }
                        continue;
                    }
                    return Err(self.err(format!("cannot reach {}: {t}", self.host)));
                }
            }
        }
    }

    /// Answers a 401 challenge by setting the Authorization header to use.
    fn authenticate(&self, challenge: Option<Challenge>, sent: Option<&str>) -> Result<()> {
        let challenge = challenge
            .ok_or_else(|| self.auth_err("HTTP 401 without a usable WWW-Authenticate challenge"))?;
        let header = match challenge.scheme.as_str() {
            "basic" => {
                let creds = self.credentials.as_ref().ok_or_else(|| {
                    self.auth_err("credentials required (pass --creds USER:PASSWORD or log in)")
                })?;
                let h = creds.basic_header();
                if sent == Some(h.as_str()) {
                    return Err(self.auth_err(&format!(
                        "wrong user name or password for {}",
                        creds.username
                    )));
                }
                h
            }
            "bearer" => {
                if sent.is_some_and(|s| s.starts_with("Bearer ")) {
                    return Err(self.auth_err(
                        "the token was refused (wrong credentials or no access to the repository)",
                    ));
                }
                format!("Bearer {}", self.fetch_token(&challenge)?)
            }
            other => {
                return Err(self.auth_err(&format!("unsupported authentication scheme {other:?}")))
            }
        };
        if let Ok(mut h) = self.auth_header.lock() {
            *h = Some(header);
        }
        Ok(())
    }

    fn fetch_token(&self, challenge: &Challenge) -> Result<String> {
        let realm = challenge
            .param("realm")
            .ok_or_else(|| self.auth_err("bearer challenge without a realm"))?;
        let mut url = realm.to_string();
        let mut sep = if url.contains('?') { '&' } else { '?' };
        if let Some(service) = challenge.param("service") {
            url.push_str(&format!("{sep}service={}", url_encode(service)));
            sep = '&';
        }
        let scope = format!("repository:{}:pull", self.repository);
        url.push_str(&format!("{sep}scope={}", url_encode(&scope)));
        let mut req = self.agent.get(&url);
        if let Some(c) = &self.credentials {
            req = req.set("Authorization", &c.basic_header());
        }
        let resp = match req.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(401 | 403, _)) => {
                return Err(self.auth_err("the token service refused the credentials"))
            }
            Err(e) => return Err(self.auth_err(&format!("token request to {realm} failed: {e}"))),
        };
        let body: serde_json::Value = serde_json::from_reader(resp.into_reader().take(1 << 20))
            .map_err(|e| self.auth_err(&format!("bad token response from {realm}: {e}")))?;
        body["token"]
            .as_str()
            .or_else(|| body["access_token"].as_str())
            .map(str::to_string)
            .ok_or_else(|| self.auth_err(&format!("no token in the response from {realm}")))
    }

    /// Fetches a manifest or index by tag or digest. Returns its bytes and
    /// Content-Type.
    pub fn get_manifest(&self, reference: &str, what: &str) -> Result<(Vec<u8>, Option<String>)> {
        let accept = MANIFEST_ACCEPT.join(", ");
        let resp = self.get(&format!("manifests/{reference}"), Some(&accept), what)?;
        let content_type = resp.header("Content-Type").map(str::to_string);
        let mut data = Vec::new();
        resp.into_reader()
            .take(MAX_JSON_SIZE + 1)
            .read_to_end(&mut data)
            .map_err(|e| self.err(format!("reading {what}: {e}")))?;
        if data.len() as u64 > MAX_JSON_SIZE {
            return Err(Error::malformed(
                what,
                format!("larger than {MAX_JSON_SIZE} bytes"),
            ));
        }
        Ok((data, content_type))
    }

    /// Streams a blob. The caller verifies digest and size.
    pub fn get_blob(&self, digest: &Digest, what: &str) -> Result<Box<dyn Read + Send + Sync>> {
        Ok(self
            .get(&format!("blobs/{digest}"), None, what)?
            .into_reader())
    }
}

/// The first message of a registry's JSON error body, if any.
fn registry_message(resp: ureq::Response) -> Option<String> {
    let mut body = String::new();
    resp.into_reader()
        .take(64 << 10)
        .read_to_string(&mut body)
        .ok()?;
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    let e = v["errors"].get(0)?;
    Some(format!(
        "{}: {}",
        e["code"].as_str().unwrap_or("ERROR"),
        e["message"].as_str().unwrap_or("")
    ))
}
