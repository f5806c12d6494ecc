//! The controller's HTTP port (axum): `/healthz`, `/readyz` (caches synced
//! and keys loaded), `/metrics`, `/v1/recipients`. A connection limit and a
//! request timeout keep a flood of clients from exhausting the process.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::Metrics;

/// How many connections the port serves at once; more wait in the backlog.
pub const MAX_CONNECTIONS: usize = 64;

/// What the HTTP port serves.
pub struct HttpState {
    /// Metrics to render.
    pub metrics: Arc<Metrics>,
    /// True once the caches are synced and keys are loaded.
    pub ready: AtomicBool,
    /// The recipients text (`/v1/recipients`).
    pub recipients: Box<dyn Fn() -> String + Send + Sync>,
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn healthz() -> Response {
    text(StatusCode::OK, "text/plain", "ok\n".into())
}

async fn readyz(State(s): State<Arc<HttpState>>) -> Response {
    if s.ready.load(Ordering::Relaxed) {
        text(StatusCode::OK, "text/plain", "ok\n".into())
    } else {
        text(StatusCode::SERVICE_UNAVAILABLE, "text/plain", "not ready\n".into())
    }
}

async fn metrics(State(s): State<Arc<HttpState>>) -> Response {
    text(StatusCode::OK, "application/openmetrics-text; version=1.0.0; charset=utf-8", s.metrics.render())
}

async fn recipients(State(s): State<Arc<HttpState>>) -> Response {
    text(StatusCode::OK, "text/plain", (s.recipients)())
}

/// The routes, for serving and for tests.
pub fn router(state: Arc<HttpState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/recipients", get(recipients))
        .with_state(state)
}

/// A listener that accepts at most [`MAX_CONNECTIONS`] connections at once
/// and backs off on accept errors (for example, out of file descriptors)
/// instead of spinning.
struct LimitedListener {
    inner: tokio::net::TcpListener,
    slots: Arc<tokio::sync::Semaphore>,
}

/// A connection holding one of the listener's slots until it closes.
struct LimitedStream {
    inner: tokio::net::TcpStream,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

impl tokio::io::AsyncRead for LimitedStream {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for LimitedStream {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl axum::serve::Listener for LimitedListener {
    type Io = LimitedStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok(slot) = self.slots.clone().acquire_owned().await else {
                // The semaphore is never closed; wait rather than spin.
                std::future::pending::<()>().await;
                continue;
            };
            match self.inner.accept().await {
                Ok((inner, addr)) => return (LimitedStream { inner, _slot: slot }, addr),
                Err(e) => {
                    tracing::warn!(error = %e, "the HTTP port cannot accept a connection; retrying in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// Serves the HTTP port until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, state: Arc<HttpState>) {
    let listener = LimitedListener { inner: listener, slots: Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS)) };
    if let Err(e) = axum::serve(listener, router(state)).await {
        tracing::error!(error = %e, "the HTTP port stopped");
    }
}
