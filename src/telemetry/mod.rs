//! Logs, metrics and the controller's HTTP port (`/healthz`, `/readyz`,
//! `/metrics`, `/v1/recipients`). Metric labels are bounded: kinds, results,
//! reasons and policies, never object names.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Installs the log subscriber: `text` or `json`, level from `RUST_LOG`
/// (default `info`).
pub fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube=warn,tower=warn,hyper=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let _ = if format == "json" { builder.json().flatten_event(true).try_init() } else { builder.try_init() };
}

const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// The controller's metrics.
#[derive(Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<(&'static str, String), u64>>,
    gauges: Mutex<BTreeMap<&'static str, f64>>,
    durations: Mutex<BTreeMap<&'static str, Histogram>>,
}

fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    if inner.is_empty() { String::new() } else { format!("{{{}}}", inner.join(",")) }
}

impl Metrics {
    /// Adds one to a counter with the given (bounded) labels.
    pub fn inc(&self, name: &'static str, label_pairs: &[(&str, &str)]) {
        let mut c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        *c.entry((name, labels(label_pairs))).or_default() += 1;
    }

    /// Sets a gauge.
    pub fn set(&self, name: &'static str, value: f64) {
        self.gauges.lock().unwrap_or_else(|p| p.into_inner()).insert(name, value);
    }

    /// Records a reconcile duration for `kind`.
    pub fn observe(&self, kind: &'static str, d: Duration) {
        let mut h = self.durations.lock().unwrap_or_else(|p| p.into_inner());
        let h = h.entry(kind).or_default();
        let s = d.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if s <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += s;
        h.count += 1;
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let mut last = "";
        for ((name, l), v) in self.counters.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            if *name != last {
                let _ = writeln!(out, "# TYPE {name} counter");
                last = name;
            }
            let _ = writeln!(out, "{name}{l} {v}");
        }
        for (name, v) in self.gauges.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "# TYPE {name} gauge\n{name} {v}");
        }
        let _ = writeln!(out, "# TYPE seal_reconcile_duration_seconds histogram");
        for (kind, h) in self.durations.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "seal_reconcile_duration_seconds_bucket{{kind=\"{kind}\",le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(out, "seal_reconcile_duration_seconds_bucket{{kind=\"{kind}\",le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "seal_reconcile_duration_seconds_sum{{kind=\"{kind}\"}} {}", h.sum);
            let _ = writeln!(out, "seal_reconcile_duration_seconds_count{{kind=\"{kind}\"}} {}", h.count);
        }
        out
    }
}

/// What the HTTP port serves.
pub struct HttpState {
    /// Metrics to render.
    pub metrics: std::sync::Arc<Metrics>,
    /// True once the caches are synced and keys are loaded.
    pub ready: AtomicBool,
    /// The recipients text (`/v1/recipients`).
    pub recipients: Box<dyn Fn() -> String + Send + Sync>,
}

/// Serves the HTTP port until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, state: std::sync::Arc<HttpState>) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else { continue };
        let state = state.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut len = 0;
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                while len < buf.len() {
                    match sock.read(&mut buf[len..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            len += n;
                            if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                                break;
                            }
                        }
                    }
                }
            })
            .await;
            if read.is_err() {
                return;
            }
            let head = String::from_utf8_lossy(&buf[..len]);
            let mut parts = head.split_whitespace();
            let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let (status, ctype, body) = match (method, path) {
                ("GET", "/healthz") => ("200 OK", "text/plain", "ok\n".to_owned()),
                ("GET", "/readyz") if state.ready.load(Ordering::Relaxed) => {
                    ("200 OK", "text/plain", "ok\n".to_owned())
                }
                ("GET", "/readyz") => ("503 Service Unavailable", "text/plain", "not ready\n".to_owned()),
                ("GET", "/metrics") => ("200 OK", "text/plain; version=0.0.4", state.metrics.render()),
                ("GET", "/v1/recipients") => ("200 OK", "text/plain", (state.recipients)()),
                ("GET", _) => ("404 Not Found", "text/plain", "not found\n".to_owned()),
                _ => ("405 Method Not Allowed", "text/plain", "method not allowed\n".to_owned()),
            };
            let resp = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
            let _ = sock.shutdown().await;
        });
    }
}
