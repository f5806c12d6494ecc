//! A `seal-controller` process for tests: this test binary re-executed with
//! `--seal-controller` (so it runs `seal::controller::main_with_args`, the
//! real entry point), its output in files, its HTTP port on loopback. It is
//! killed when dropped, and a watchdog kills it if the test binary dies.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::env;
use crate::fixtures::metrics::metric;

/// How long [`ControllerProcess::wait_reconciles`] waits.
const RECONCILE_TIMEOUT: Duration = Duration::from_secs(60);

/// Environment variables that would change what the controller does; each
/// test says what it wants with flags and `envs`.
const CONTROLLER_ENV: [&str; 17] = [
    "SEAL_NAMESPACE",
    "SEAL_KEY_RENEW_PERIOD",
    "SEAL_CONCURRENCY",
    "SEAL_METRICS_ADDRESS",
    "SEAL_LOG_FORMAT",
    "SEAL_RESYNC_PERIOD",
    "SEAL_WATCH_NAMESPACE",
    "SEAL_SHARD_SELECTOR",
    "SEAL_LEADER_ELECTION",
    "SEAL_LEASE_NAME",
    "SEAL_LEASE_DURATION",
    "POD_NAMESPACE",
    "POD_NAME",
    "RUST_LOG",
    "KUBERNETES_SERVICE_HOST",
    "KUBERNETES_SERVICE_PORT",
    "KUBECONFIG",
];

/// A running controller.
pub struct ControllerProcess {
    child: Mutex<Option<Child>>,
    watchdog: Option<Child>,
    /// Its HTTP port (metrics, health, recipients).
    pub port: u16,
    stdout: PathBuf,
    stderr: PathBuf,
}

/// A free loopback port.
pub fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("binding a free port: {e}"))?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

impl ControllerProcess {
    /// Starts a controller with its keys in `namespace`, reconciling only
    /// `watch` (comma-separated namespaces), with `extra` flags and `envs`.
    pub fn spawn(
        kubeconfig: &Path,
        namespace: &str,
        watch: &str,
        extra: &[&str],
        envs: &[(&str, &str)],
        log_dir: &Path,
    ) -> Result<ControllerProcess, String> {
        let port = free_port()?;
        let n = env::unique();
        let stdout = log_dir.join(format!("controller-{n}.stdout"));
        let stderr = log_dir.join(format!("controller-{n}.stderr"));
        // /proc/self/exe still runs this binary when a rebuild replaced the file.
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let exe = if exe.is_file() { exe } else { PathBuf::from("/proc/self/exe") };
        let mut cmd = Command::new(exe);
        cmd.arg("--seal-controller")
            .args(["--namespace", namespace])
            .args(["--watch-namespace", watch])
            .args(["--metrics-address", &format!("127.0.0.1:{port}")])
            .args(["--log-format", "json"])
            .args(extra);
        for v in CONTROLLER_ENV {
            cmd.env_remove(v);
        }
        cmd.env("KUBECONFIG", kubeconfig);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let file = |p: &Path| std::fs::File::create(p).map_err(|e| format!("{}: {e}", p.display()));
        cmd.stdin(Stdio::null()).stdout(file(&stdout)?).stderr(file(&stderr)?);
        let child = cmd.spawn().map_err(|e| format!("starting the controller: {e}"))?;
        let watchdog = env::watchdog(child.id());
        Ok(ControllerProcess { child: Mutex::new(Some(child)), watchdog, port, stdout, stderr })
    }

    /// Everything the process wrote so far (stdout, then stderr).
    pub fn logs(&self) -> Vec<u8> {
        let mut out = std::fs::read(&self.stdout).unwrap_or_default();
        out.extend(std::fs::read(&self.stderr).unwrap_or_default());
        out
    }

    /// The last 30 lines of its output.
    pub fn log_tail(&self) -> String {
        let logs = self.logs();
        let text = String::from_utf8_lossy(&logs);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Fails when the process has exited.
    pub fn alive(&self) -> Result<(), String> {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(child) = child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            return Err(format!("the controller exited ({status}); its last output:\n{}", self.log_tail()));
        }
        Ok(())
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(Child::id)
    }

    /// Its peak resident memory so far (`VmHWM` in `/proc/<pid>/status`), in KiB.
    pub fn peak_rss_kib(&self) -> Result<u64, String> {
        self.alive()?;
        let pid = self.pid().ok_or("the controller is not running")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| format!("/proc/{pid}: {e}"))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| format!("/proc/{pid}/status has no VmHWM"))
    }

    /// GET on its HTTP port.
    pub async fn get(&self, path: &str) -> Result<(u16, Vec<u8>), String> {
        http_get(self.port, path).await
    }

    /// GET that must answer 200 with text.
    pub async fn get_ok(&self, path: &str) -> Result<String, String> {
        let (code, body) = self.get(path).await?;
        if code != 200 {
            return Err(format!("GET {path}: HTTP {code}: {}", String::from_utf8_lossy(&body)));
        }
        String::from_utf8(body).map_err(|_| format!("GET {path}: not UTF-8"))
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> Result<String, String> {
        self.get_ok("/metrics").await
    }

    /// Waits until `/readyz` answers 200 (keys loaded, caches synced).
    pub async fn wait_readyz(&self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            self.alive()?;
            let last = match self.get("/readyz").await {
                Ok((200, _)) => return Ok(()),
                Ok((code, body)) => format!("/readyz: HTTP {code}: {}", String::from_utf8_lossy(&body)),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "the controller was not ready within {timeout:?}: {last}\nits last output:\n{}",
                    self.log_tail()
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// How many reconciles of `kind` (`SealedSecret`, `ExternalSecret`, …)
    /// this process counted so far: `seal_reconcile_total{kind}` over every
    /// result (0 before the first).
    pub async fn reconciles(&self, kind: &str) -> Result<f64, String> {
        Ok(metric(&self.metrics().await?, "seal_reconcile_total", &[("kind", kind)]))
    }

    /// Waits until this process's `seal_reconcile_total` for `kind` (all
    /// results) has grown by at least `n` from its value when called. A
    /// stalled controller fails it: a check that "nothing happened" calls it
    /// first, so that it cannot pass because nothing ran at all.
    pub async fn wait_reconciles(&self, kind: &str, n: u32) -> Result<(), String> {
        self.wait_reconciles_after(kind, n, async { Ok(()) }).await
    }

    /// As [`Self::wait_reconciles`], counting from before `touch` runs (an
    /// edit that wakes the controller): the reconcile it causes cannot slip
    /// in before the count starts.
    pub async fn wait_reconciles_after<T>(
        &self,
        kind: &str,
        n: u32,
        touch: impl std::future::Future<Output = Result<T, String>>,
    ) -> Result<T, String> {
        let from = self.reconciles(kind).await?;
        let out = touch.await?;
        let deadline = Instant::now() + RECONCILE_TIMEOUT;
        loop {
            self.alive()?;
            let now = self.reconciles(kind).await?;
            if now - from >= f64::from(n) {
                return Ok(out);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the controller reconciled {kind} {} times in {RECONCILE_TIMEOUT:?}, expected at least {n} \
                     (is it stalled?); its last output:\n{}",
                    now - from,
                    self.log_tail()
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// SIGKILL: no chance to clean up (release a Lease, finish work).
    pub fn kill(&self) {
        if let Some(mut child) = self.child.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then SIGKILL after 10 s.
    pub fn stop(&self) {
        let Some(mut child) = self.child.lock().unwrap_or_else(|e| e.into_inner()).take() else { return };
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        self.kill();
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
    }
}

/// A GET on 127.0.0.1 (status, body).
pub async fn http_get(port: u16, path: &str) -> Result<(u16, Vec<u8>), String> {
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| format!("GET {path}: {e}"))?;
    let resp =
        client.get(format!("http://127.0.0.1:{port}{path}")).send().await.map_err(|e| format!("GET {path}: {e}"))?;
    let code = resp.status().as_u16();
    let body = resp.bytes().await.map_err(|e| format!("GET {path}: {e}"))?;
    Ok((code, body.to_vec()))
}
