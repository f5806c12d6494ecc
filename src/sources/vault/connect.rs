//! How the controller connects to a store, decided before any byte is sent:
//! the server URL (http/https with a host; plain http only when the store
//! asks for it; only servers on the controller's allow-list), header values
//! that cannot break a request, the TLS trust (a store's `caBundle` held in
//! memory and replacing the public roots), timeouts and no redirects (a
//! redirect would carry the token elsewhere).

use std::time::Duration;

use url::Url;
use vaultrs::api::EndpointMiddleware;
use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};

use super::{ResolvedStore, VaultError};

/// How long a TCP (and TLS) connection to a store may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one request to a store may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest `caBundle` accepted (base64 text).
pub const MAX_CA_BUNDLE: usize = 256 * 1024;

/// The controller's rules for stores, from its flags.
#[derive(Clone, Debug, Default)]
pub struct ConnectPolicy {
    /// Servers stores may name (empty: any).
    pub allowed_servers: Vec<String>,
}

impl ConnectPolicy {
    /// Checks a store's server URL and returns it parsed.
    pub fn server(&self, store: &ResolvedStore) -> Result<Url, VaultError> {
        let p = &store.provider;
        let bad = |why: &str| VaultError::Misconfigured(format!("{}: server {:?} {why}", store.display, p.server));
        let url = Url::parse(p.server.trim()).map_err(|_| bad("is not a URL (e.g. https://vault.example:8200)"))?;
        match url.scheme() {
            "https" => {}
            "http" if p.allow_insecure_http == Some(true) => {}
            "http" => {
                return Err(bad(
                    "uses plain http, which would send tokens and values unencrypted; use https, or set allowInsecureHttp: true",
                ));
            }
            _ => return Err(bad("must use https (or http)")),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() || url.query().is_some() || url.fragment().is_some() {
            return Err(bad("must not carry credentials, a query or a fragment"));
        }
        if !self.allowed_servers.is_empty() && !self.allowed_servers.iter().any(|a| server_matches(a, &url)) {
            return Err(bad("is not among the servers this controller may use (--allowed-vault-servers)"));
        }
        Ok(url)
    }
}

/// Whether `url` is the allowed server `allowed`, or below its path.
fn server_matches(allowed: &str, url: &Url) -> bool {
    let Ok(a) = Url::parse(allowed.trim()) else { return false };
    let same_origin = a.scheme() == url.scheme()
        && a.host_str() == url.host_str()
        && a.port_or_known_default() == url.port_or_known_default();
    let base = a.path().trim_end_matches('/');
    let path = url.path();
    same_origin && (base.is_empty() || path == base || path.starts_with(&format!("{base}/")))
}

/// Whether `v` can travel in an HTTP header as is (visible ASCII): a token
/// or namespace with a line break or a control character is refused here
/// instead of making the HTTP stack panic.
pub fn header_safe(v: &str) -> bool {
    !v.is_empty() && v.len() <= 8192 && v.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// A Vault client for `store` at `url`, authenticated with `token` (empty
/// for a login), with the store's own CA bundle if it has one.
pub fn client(store: &ResolvedStore, url: &Url, token: &str) -> Result<VaultClient, VaultError> {
    let p = &store.provider;
    let misconfigured = |what: String| VaultError::Misconfigured(format!("{}: {what}", store.display));
    if !token.is_empty() && !header_safe(token) {
        return Err(misconfigured("the token contains characters a Vault token cannot have".into()));
    }
    if let Some(ns) = &p.namespace
        && !header_safe(ns)
    {
        return Err(misconfigured("namespace contains spaces or control characters".into()));
    }
    let mut http = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .tls_backend_rustls();
    if url.scheme() == "http" {
        // Plain HTTP (allowInsecureHttp) needs no trust store; without this
        // the client would load the system's CAs, which an image may lack.
        http = http.tls_certs_only(Vec::<reqwest::Certificate>::new());
    }
    if let Some(ca) = &p.ca_bundle {
        use base64::Engine;
        if ca.len() > MAX_CA_BUNDLE {
            return Err(misconfigured(format!("caBundle is larger than {MAX_CA_BUNDLE} bytes")));
        }
        let pem = base64::engine::general_purpose::STANDARD
            .decode(ca.trim())
            .map_err(|_| misconfigured("caBundle is not base64".into()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|_| misconfigured("caBundle holds no PEM certificate".into()))?;
        if certs.is_empty() {
            return Err(misconfigured("caBundle holds no PEM certificate".into()));
        }
        // The store's CA replaces the public roots: it names who may serve.
        http = http.tls_certs_only(certs);
    }
    let http = http.build().map_err(|_| {
        misconfigured(if p.ca_bundle.is_none() && url.scheme() == "https" {
            "cannot build an HTTPS client: without caBundle the system's CA certificates are used, and none could be \
             loaded (the controller's image ships none); set caBundle to the PEM of the CA that signed the server's certificate"
                .into()
        } else {
            "cannot build an HTTP client for the server".into()
        })
    })?;
    let mut settings = VaultClientSettingsBuilder::default();
    settings.address(url.as_str()).token(token).timeout(Some(REQUEST_TIMEOUT)).ca_certs(Vec::new());
    if let Some(ns) = &p.namespace {
        settings.namespace(Some(ns.clone()));
    }
    let settings = settings.build().map_err(|_| misconfigured("invalid Vault settings".into()))?;
    let middle = EndpointMiddleware {
        token: token.to_owned(),
        version: format!("v{}", settings.version),
        wrap: None,
        namespace: settings.namespace.clone(),
    };
    let http = rustify::clients::reqwest::Client::new(url.as_str(), http);
    Ok(VaultClient { http, middle, settings })
}

/// Audiences a ServiceAccount token is minted for: the store's, or `vault`.
/// Never the API server's own: a token for it would be an API credential of
/// that ServiceAccount in the hands of whoever runs the store's server.
pub fn token_audiences(store: &ResolvedStore, asked: &[String], refused: &[String]) -> Result<Vec<String>, VaultError> {
    if asked.is_empty() {
        return Ok(vec!["vault".to_owned()]);
    }
    for a in asked {
        let a = a.trim();
        if a.is_empty() || refused.iter().any(|r| r == a) || a.contains("kubernetes.default.svc") {
            return Err(VaultError::Misconfigured(format!(
                "{}: audience {a:?} is the Kubernetes API server's; a token for it would let the store's server act as the ServiceAccount. Use the audience Vault's role expects (default: vault)",
                store.display
            )));
        }
    }
    Ok(asked.to_vec())
}

/// The API server's audiences as the controller sees them: the `aud` claim
/// of its own in-cluster ServiceAccount token (empty outside a cluster).
pub fn api_server_audiences() -> Vec<String> {
    let Ok(token) = std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/token") else {
        return Vec::new();
    };
    jwt_audiences(token.trim())
}

/// The `aud` claim of a JWT (not verified: only read).
pub fn jwt_audiences(jwt: &str) -> Vec<String> {
    use base64::Engine;
    let Some(payload) = jwt.split('.').nth(1) else { return Vec::new() };
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')) else {
        return Vec::new();
    };
    let Ok(claims) = serde_json::from_slice::<serde_json::Value>(&bytes) else { return Vec::new() };
    match &claims["aud"] {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(a) => a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::secret_store::VaultProvider;

    fn store(server: &str, insecure: bool) -> ResolvedStore {
        ResolvedStore {
            display: "SecretStore t/s".into(),
            key: "k".into(),
            grant: "SecretStore/s".into(),
            provider: VaultProvider {
                server: server.into(),
                allow_insecure_http: insecure.then_some(true),
                ..Default::default()
            },
            own_namespace: Some("t".into()),
        }
    }

    #[test]
    fn server_urls_that_used_to_panic_are_refused_with_a_reason() {
        let any = ConnectPolicy::default();
        for s in ["127.0.0.1:8200", "https://vault example", "vault.vault.svc:8200", "localhost:8200", "", "https://"] {
            let e = any.server(&store(s, false)).expect_err(s);
            assert_eq!(e.reason(), crate::api::Reason::StoreMisconfigured, "{s}");
        }
        for s in ["ftp://x", "https://u:p@vault:8200", "https://vault:8200/?x=1", "file:///etc/passwd"] {
            assert!(any.server(&store(s, true)).is_err(), "{s}");
        }
        assert!(any.server(&store("https://vault.example:8200", false)).is_ok());
    }

    #[test]
    fn plain_http_needs_the_store_to_ask_for_it() {
        let any = ConnectPolicy::default();
        let e = any.server(&store("http://127.0.0.1:8200", false)).expect_err("http");
        assert!(e.to_string().contains("allowInsecureHttp"), "{e}");
        assert!(any.server(&store("http://127.0.0.1:8200", true)).is_ok());
    }

    #[test]
    fn the_allow_list_matches_origin_and_path_prefix() {
        let p = ConnectPolicy {
            allowed_servers: vec!["https://vault.example:8200".into(), "https://bao.example/team-a".into()],
        };
        assert!(p.server(&store("https://vault.example:8200", false)).is_ok());
        assert!(p.server(&store("https://vault.example:8200/", false)).is_ok());
        assert!(p.server(&store("https://bao.example/team-a/v1", false)).is_ok());
        for s in [
            "https://vault.example:8201",
            "https://vault.example.evil:8200",
            "http://vault.example:8200",
            "https://bao.example/team-ab",
            "https://bao.example/",
        ] {
            assert!(p.server(&store(s, true)).is_err(), "{s} was allowed");
        }
    }

    #[test]
    fn header_values_with_line_breaks_or_controls_are_refused() {
        assert!(header_safe("hvs.CAESIabc-_.="));
        for v in ["", "a\nb", "a\r\nX-Other: 1", "a b", "tab\t", "é", "\u{7f}"] {
            assert!(!header_safe(v), "{v:?}");
        }
        let s = store("https://vault.example:8200", false);
        let url = Url::parse("https://vault.example:8200").expect("url");
        let Err(e) = client(&s, &url, "s3cr\nXYZ") else { panic!("refused") };
        assert!(!e.to_string().contains("s3cr"), "the token must not be quoted: {e}");
    }

    #[test]
    fn token_audiences_default_to_vault_and_never_the_api_server() {
        let s = store("https://v", false);
        assert_eq!(token_audiences(&s, &[], &[]).ok(), Some(vec!["vault".to_owned()]));
        assert_eq!(token_audiences(&s, &["bao".into()], &[]).ok(), Some(vec!["bao".to_owned()]));
        let refused = vec!["https://issuer.example".to_owned()];
        for a in ["https://kubernetes.default.svc.cluster.local", "https://issuer.example", ""] {
            assert!(token_audiences(&s, &[a.to_owned()], &refused).is_err(), "{a:?}");
        }
    }

    #[test]
    fn jwt_audiences_are_read_from_the_claims() {
        use base64::Engine;
        let enc = |v: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let jwt =
            format!("{}.{}.sig", enc(serde_json::json!({"alg": "RS256"})), enc(serde_json::json!({"aud": ["a", "b"]})));
        assert_eq!(jwt_audiences(&jwt), ["a", "b"]);
        let jwt = format!("x.{}.y", enc(serde_json::json!({"aud": "one"})));
        assert_eq!(jwt_audiences(&jwt), ["one"]);
        assert!(jwt_audiences("not-a-jwt").is_empty());
        assert!(jwt_audiences("a.!!!.c").is_empty());
    }

    #[test]
    fn a_ca_bundle_is_used_from_memory_and_checked() {
        let mut s = store("https://vault.example:8200", false);
        let url = Url::parse("https://vault.example:8200").expect("url");
        s.provider.ca_bundle = Some("not base64!".into());
        assert!(client(&s, &url, "").is_err());
        s.provider.ca_bundle = Some(base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "no pem"));
        assert!(client(&s, &url, "").is_err());
    }
}
