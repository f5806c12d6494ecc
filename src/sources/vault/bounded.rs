//! Every request to a store, with its answer read to at most
//! [`MAX_RESPONSE`] bytes.
//!
//! `vaultrs` runs its endpoints through `rustify`'s reqwest client, which
//! reads a whole answer into memory (`Response::bytes`) before anything can
//! look at its size: a store pointing at a server that answers a login with
//! 400 MiB took the controller past its memory limit, and the restarted pod
//! logged in again. reqwest has no body limit and its connector layers
//! cannot wrap the connection, so the limit is here: the same `vaultrs`
//! endpoints (request types, middleware, response types), executed by
//! [`Capped`], a `rustify` client that refuses an answer whose
//! `Content-Length` is over the limit before reading it, and otherwise
//! reads it chunk by chunk and stops at the limit. The functions mirror the
//! `vaultrs` ones the pool calls (same names, arguments and results), so a
//! call site only changes its path; every request to a store goes through
//! them: logins, token lookups, reads, lists, metadata and pushes.
//!
//! The HTTP client is the store's own (`VaultClient::http`: its timeouts,
//! trust, no redirects); no compression is negotiated (reqwest is built
//! without it), so the bytes counted are the bytes kept.

use std::future::Future;
use std::pin::Pin;

use rustify::endpoint::Endpoint;
use rustify::errors::ClientError as RestError;
use serde::de::DeserializeOwned;
use vaultrs::api::{AuthInfo, EndpointError, EndpointResult};
use vaultrs::client::VaultClient;
use vaultrs::error::ClientError;

/// Largest answer read from a store: a KV secret, a list of 1,000 keys or a
/// login is a few KiB; Vault's own default request limit is 32 MiB, but a
/// Secret holds at most 1 MiB, so a larger answer has no use here.
pub const MAX_RESPONSE: usize = 1 << 20;

/// An answer was larger than the limit (its bytes were not kept).
#[derive(Debug, thiserror::Error)]
#[error("the answer is larger than {0} bytes")]
pub struct TooLarge(pub usize);

/// Whether a `vaultrs` error is an answer over the limit.
pub fn too_large(e: &ClientError) -> bool {
    matches!(e, ClientError::RestClientError { source: RestError::ResponseError { source } } if source.is::<TooLarge>())
}

/// A `rustify` client over a store's reqwest client that reads at most
/// `limit` bytes of an answer.
pub struct Capped {
    http: reqwest::Client,
    base: String,
    limit: usize,
}

impl Capped {
    /// The capped client of a store's `VaultClient`.
    pub fn of(client: &VaultClient, limit: usize) -> Capped {
        Capped { http: client.http.http.clone(), base: client.http.base.clone(), limit }
    }
}

fn over(limit: usize) -> RestError {
    RestError::ResponseError { source: TooLarge(limit).into() }
}

/// Sends `req` and reads the answer, refusing it past `limit` bytes: by its
/// `Content-Length` before any byte of the body is read, else as the body
/// arrives (one chunk past the limit at most is ever held).
pub async fn send(
    http: &reqwest::Client,
    req: http::Request<Vec<u8>>,
    limit: usize,
) -> Result<http::Response<Vec<u8>>, RestError> {
    let request = reqwest::Request::try_from(req).map_err(|e| RestError::ReqwestBuildError { source: e })?;
    let url = request.url().to_string();
    let method = request.method().to_string();
    let mut response =
        http.execute(request).await.map_err(|e| RestError::RequestError { source: e.into(), url, method })?;
    let declared = response.content_length();
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(over(limit));
    }
    let mut body = Vec::with_capacity(declared.map_or(0, |n| usize::try_from(n).unwrap_or(limit)).min(limit));
    while let Some(chunk) = response.chunk().await.map_err(|e| RestError::ResponseError { source: e.into() })? {
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(over(limit));
        }
        body.extend_from_slice(&chunk);
    }
    let mut out = http::Response::builder().status(response.status());
    for (k, v) in response.headers() {
        out = out.header(k, v);
    }
    out.body(body).map_err(|e| RestError::ResponseError { source: e.into() })
}

impl rustify::client::Client for Capped {
    // The signature `#[async_trait]` gives the trait's `async fn send`.
    fn send<'life0, 'async_trait>(
        &'life0 self,
        req: http::Request<Vec<u8>>,
    ) -> Pin<Box<dyn Future<Output = Result<http::Response<Vec<u8>>, RestError>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(send(&self.http, req, self.limit))
    }

    fn base(&self) -> &str {
        &self.base
    }
}

/// `vaultrs`'s reading of an error answer: Vault's `errors` list with the
/// status, or the bare HTTP error.
fn parse_err(e: RestError) -> ClientError {
    if let RestError::ServerResponseError { code, content: Some(c) } = &e
        && let Ok(err) = serde_json::from_str::<EndpointError>(c)
    {
        return ClientError::APIError { code: *code, errors: err.errors };
    }
    ClientError::from(e)
}

/// Runs an endpoint with the client's middleware (API version, token,
/// namespace) through the capped client.
async fn exec<E: Endpoint>(
    client: &VaultClient,
    endpoint: E,
) -> Result<rustify::endpoint::EndpointResult<E::Response>, ClientError> {
    endpoint.with_middleware(&client.middle).exec(&Capped::of(client, MAX_RESPONSE)).await.map_err(parse_err)
}

/// `vaultrs::api::exec_with_result`: the answer's `data`.
async fn exec_with_result<E: Endpoint>(client: &VaultClient, endpoint: E) -> Result<E::Response, ClientError> {
    exec(client, endpoint)
        .await?
        .wrap::<EndpointResult<_>>()
        .map_err(ClientError::from)?
        .data
        .ok_or(ClientError::ResponseDataEmptyError)
}

/// `vaultrs::api::exec_with_empty`: the status only.
async fn exec_with_empty<E: Endpoint>(client: &VaultClient, endpoint: E) -> Result<(), ClientError> {
    exec(client, endpoint).await.map(|_| ())
}

/// `vaultrs::api::auth`: the answer's `auth`.
async fn auth<E: Endpoint<Response = ()>>(client: &VaultClient, endpoint: E) -> Result<AuthInfo, ClientError> {
    let r: EndpointResult<()> = exec(client, endpoint).await?.wrap().map_err(ClientError::from)?;
    r.auth.ok_or(ClientError::ResponseEmptyError)
}

fn json<D: DeserializeOwned>(v: serde_json::Value) -> Result<D, ClientError> {
    serde_json::from_value(v).map_err(|e| ClientError::JsonParseError { source: e })
}

/// AppRole login (`vaultrs::auth::approle::login`).
pub mod approle {
    use super::*;
    use vaultrs::api::auth::approle::requests::LoginWithApproleRequest;

    pub async fn login(c: &VaultClient, mount: &str, role_id: &str, secret_id: &str) -> Result<AuthInfo, ClientError> {
        let e = LoginWithApproleRequest { mount: mount.into(), role_id: role_id.into(), secret_id: secret_id.into() };
        auth(c, e).await
    }
}

/// Kubernetes login (`vaultrs::auth::kubernetes::login`).
pub mod kubernetes {
    use super::*;
    use vaultrs::api::auth::kubernetes::requests::LoginWithKubernetesRequest;

    pub async fn login(c: &VaultClient, mount: &str, role: &str, jwt: &str) -> Result<AuthInfo, ClientError> {
        auth(c, LoginWithKubernetesRequest { mount: mount.into(), role: role.into(), jwt: jwt.into() }).await
    }
}

/// JWT login (`vaultrs::auth::oidc::login`).
pub mod oidc {
    use super::*;
    use vaultrs::api::auth::oidc::requests::JWTLoginRequest;

    pub async fn login(c: &VaultClient, mount: &str, jwt: &str, role: Option<String>) -> Result<AuthInfo, ClientError> {
        auth(c, JWTLoginRequest { mount: mount.into(), jwt: jwt.into(), role }).await
    }
}

/// The token's own lookup (`vaultrs::token::lookup_self`).
pub mod token {
    use super::*;
    use vaultrs::api::token::requests::LookupTokenSelfRequest;
    use vaultrs::api::token::responses::LookupTokenResponse;

    pub async fn lookup_self(c: &VaultClient) -> Result<LookupTokenResponse, ClientError> {
        exec_with_result(c, LookupTokenSelfRequest {}).await
    }
}

/// KV version 1 (`vaultrs::kv1`).
pub mod kv1 {
    use super::*;
    use vaultrs::api::kv1::requests::GetSecretRequest;

    pub async fn get<D: DeserializeOwned>(c: &VaultClient, mount: &str, path: &str) -> Result<D, ClientError> {
        let r = exec(c, GetSecretRequest { mount: mount.into(), path: path.into() }).await?;
        json(r.parse().map_err(ClientError::from)?.data)
    }
}

/// KV version 2 (`vaultrs::kv2`).
pub mod kv2 {
    use super::*;
    use vaultrs::api::kv2::requests::{
        DeleteSecretMetadataRequest, ListSecretsRequest, ReadSecretMetadataRequest, ReadSecretRequest,
        SetSecretMetadataRequestBuilder, SetSecretRequest, SetSecretRequestOptions,
    };
    use vaultrs::api::kv2::responses::{ReadSecretMetadataResponse, SecretVersionMetadata};

    pub async fn read<D: DeserializeOwned>(c: &VaultClient, mount: &str, path: &str) -> Result<D, ClientError> {
        let e = ReadSecretRequest { mount: mount.into(), path: path.into(), version: None };
        json(exec_with_result(c, e).await?.data)
    }

    pub async fn read_version<D: DeserializeOwned>(
        c: &VaultClient,
        mount: &str,
        path: &str,
        version: u64,
    ) -> Result<D, ClientError> {
        let e = ReadSecretRequest { mount: mount.into(), path: path.into(), version: Some(version) };
        json(exec_with_result(c, e).await?.data)
    }

    pub async fn read_metadata(
        c: &VaultClient,
        mount: &str,
        path: &str,
    ) -> Result<ReadSecretMetadataResponse, ClientError> {
        exec_with_result(c, ReadSecretMetadataRequest { mount: mount.into(), path: path.into() }).await
    }

    pub async fn list(c: &VaultClient, mount: &str, path: &str) -> Result<Vec<String>, ClientError> {
        Ok(exec_with_result(c, ListSecretsRequest { mount: mount.into(), path: path.into() }).await?.keys)
    }

    pub async fn set<T: serde::Serialize>(
        c: &VaultClient,
        mount: &str,
        path: &str,
        data: &T,
    ) -> Result<SecretVersionMetadata, ClientError> {
        let data = serde_json::to_value(data).map_err(|e| ClientError::JsonParseError { source: e })?;
        exec_with_result(c, SetSecretRequest { mount: mount.into(), path: path.into(), data, options: None }).await
    }

    pub async fn set_with_options<T: serde::Serialize>(
        c: &VaultClient,
        mount: &str,
        path: &str,
        data: &T,
        options: SetSecretRequestOptions,
    ) -> Result<SecretVersionMetadata, ClientError> {
        let data = serde_json::to_value(data).map_err(|e| ClientError::JsonParseError { source: e })?;
        let e = SetSecretRequest { mount: mount.into(), path: path.into(), data, options: Some(options) };
        exec_with_result(c, e).await
    }

    pub async fn set_metadata(
        c: &VaultClient,
        mount: &str,
        path: &str,
        opts: Option<&mut SetSecretMetadataRequestBuilder>,
    ) -> Result<(), ClientError> {
        let mut none = SetSecretMetadataRequestBuilder::default();
        let e =
            opts.unwrap_or(&mut none).mount(mount).path(path).build().map_err(|e| ClientError::RestClientError {
                source: RestError::EndpointBuildError { source: e.into() },
            })?;
        exec_with_empty(c, e).await
    }

    pub async fn delete_metadata(c: &VaultClient, mount: &str, path: &str) -> Result<(), ClientError> {
        exec_with_empty(c, DeleteSecretMetadataRequest { mount: mount.into(), path: path.into() }).await
    }
}

/// A request whose method and path are the tenant's (a
/// `VaultDynamicSecret`): the answer's body, whole and unparsed (`None`
/// when empty), or the error of a status over 399.
pub mod raw {
    use super::*;
    use rustify::enums::{RequestMethod, RequestType, ResponseType};

    /// One request: `segments` below `/v1/` (sent as they are: the caller
    /// refuses empty, `.` and `..` segments and every character that would
    /// end or escape the path, so none can climb out of the API), the
    /// query string and the JSON body.
    pub struct Request {
        /// `GET`, `LIST` or `PUT`.
        pub method: RequestMethod,
        /// The path's segments, none empty, `.` or `..`.
        pub segments: Vec<String>,
        /// `a=1&b=2`, already encoded.
        pub query: Option<String>,
        /// The JSON body.
        pub body: Option<Vec<u8>>,
    }

    impl Endpoint for Request {
        type Response = serde_json::Value;
        const REQUEST_BODY_TYPE: RequestType = RequestType::JSON;
        const RESPONSE_BODY_TYPE: ResponseType = ResponseType::JSON;

        fn path(&self) -> String {
            self.segments.join("/")
        }
        fn method(&self) -> RequestMethod {
            self.method.clone()
        }
        fn query(&self) -> Result<Option<String>, RestError> {
            Ok(self.query.clone())
        }
        fn body(&self) -> Result<Option<Vec<u8>>, RestError> {
            Ok(self.body.clone())
        }
    }

    pub async fn send(c: &VaultClient, req: Request) -> Result<Option<Vec<u8>>, ClientError> {
        let body = exec(c, req).await?.raw();
        Ok((!body.iter().all(u8::is_ascii_whitespace)).then_some(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// A loopback server answering every request with `head` then `body`
    /// repeated `times` times (stopping when the client hangs up); returns
    /// its address.
    fn server(head: String, body: Vec<u8>, times: usize) -> String {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = format!("http://{}", l.local_addr().expect("addr"));
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { return };
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                if s.write_all(head.as_bytes()).is_err() {
                    continue;
                }
                for _ in 0..times {
                    if s.write_all(&body).is_err() {
                        break;
                    }
                }
            }
        });
        addr
    }

    fn http() -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder().tls_certs_only(Vec::<reqwest::Certificate>::new()).build().expect("client")
    }

    async fn get(addr: &str) -> Result<http::Response<Vec<u8>>, RestError> {
        let req = http::Request::get(format!("{addr}/v1/x")).body(Vec::new()).expect("request");
        send(&http(), req, MAX_RESPONSE).await
    }

    #[tokio::test]
    async fn a_declared_length_over_the_limit_is_refused_before_the_body_is_read() {
        let chunk = vec![b'x'; 64 * 1024];
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", 400u64 << 20);
        let addr = server(head, chunk, 6400);
        let e = get(&addr).await.expect_err("refused");
        assert!(too_large(&ClientError::from(e)));
    }

    #[tokio::test]
    async fn an_undeclared_body_is_cut_at_the_limit() {
        // HTTP/1.0 style: no length, the body ends when the server closes.
        let chunk = vec![b'x'; 64 * 1024];
        let addr = server("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".into(), chunk, 6400);
        let e = get(&addr).await.expect_err("refused");
        assert!(too_large(&ClientError::from(e)));
    }

    #[tokio::test]
    async fn an_answer_within_the_limit_is_read_whole() {
        let body = br#"{"data":{"k":"v"}}"#.to_vec();
        let head =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/json\r\n\r\n", body.len());
        let addr = server(head, body.clone(), 1);
        let r = get(&addr).await.expect("read");
        assert_eq!(r.body(), &body);
        assert_eq!(r.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("application/json"));
        // Exactly at the limit is still read.
        let at = vec![b'y'; MAX_RESPONSE];
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", at.len());
        let addr = server(head, at, 1);
        assert_eq!(get(&addr).await.expect("at the limit").body().len(), MAX_RESPONSE);
    }
}
