//! The real components the integration tests run against: one Kubernetes
//! control plane (etcd, kube-apiserver v1.20.2, kube-controller-manager) and
//! one OpenBao dev server, shared by every test of the binary.
//!
//! They are started lazily, on the first test that asks for them, by
//! `tests/env/up` with a state directory of this process, and stopped by
//! [`shutdown`] (called by `main` after the run). `up` also gets this
//! process's pid as `SEAL_TESTENV_WATCH_PID`: a watchdog stops everything
//! when the test binary dies without running `shutdown` (a crash, a kill).
//!
//! The binaries come from `tests/env/build`, cached in
//! `${SEAL_TESTENV_CACHE:-/var/cache/seal-testenv}/bin`. When they are
//! missing, the tests that need them are reported as ignored with a loud
//! message, or fail when `SEAL_REQUIRE_TESTENV=1` (as in CI).
//!
//! Tests are plain sync functions; async code runs on one shared tokio
//! runtime through [`block_on`].

#![allow(dead_code)] // helpers for tests that later work adds

pub mod bao;
pub mod kube;

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use libtest_mimic::{Failed, Trial};

pub use self::bao::Bao;
pub use self::kube::Cluster;

/// A named check of the environment itself (see `env::smoke`).
pub type Check = (&'static str, fn() -> Result<(), Failed>);

/// Binaries `tests/env/up` needs in the cache's bin directory.
const BINARIES: [&str; 5] = ["etcd", "kube-apiserver", "kube-controller-manager", "kubectl", "bao"];

/// The running environment: where it is and how to reach it.
pub struct TestEnv {
    pub state_dir: PathBuf,
    pub cluster: Cluster,
    pub bao: Bao,
}

static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
static ENV: OnceLock<Result<TestEnv, String>> = OnceLock::new();
/// State dir of an environment that `up` started (even one that then failed
/// to connect), for `shutdown`.
static STARTED: Mutex<Option<PathBuf>> = Mutex::new(None);
static UNIQUE: AtomicU64 = AtomicU64::new(0);

/// The runtime all tests share.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    RUNTIME.get_or_init(|| {
        // kube and reqwest (vaultrs) together enable both of rustls's crypto
        // providers, so rustls cannot pick one by itself: choose ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("test-env")
            .build()
            .expect("building the tokio runtime for the integration tests")
    })
}

/// Runs a future to completion on the shared runtime (from a sync test).
pub fn block_on<F: Future>(f: F) -> F::Output {
    runtime().block_on(f)
}

/// A number unique within this run, for names of namespaces, mounts, roles.
pub fn unique() -> u64 {
    UNIQUE.fetch_add(1, Ordering::Relaxed)
}

/// Where `tests/env/build` puts the binaries.
pub fn bin_dir() -> PathBuf {
    let cache = std::env::var_os("SEAL_TESTENV_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/seal-testenv"));
    cache.join("bin")
}

fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/env")
}

fn required() -> bool {
    std::env::var("SEAL_REQUIRE_TESTENV").is_ok_and(|v| v == "1")
}

/// The binaries that are missing from [`bin_dir`].
fn missing_binaries() -> Vec<String> {
    let bin = bin_dir();
    BINARIES.iter().filter(|b| !bin.join(b).is_file()).map(|b| bin.join(b).display().to_string()).collect()
}

/// Whether the control plane and OpenBao can be started here. Printed once.
fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        let missing = missing_binaries();
        if missing.is_empty() {
            return true;
        }
        let bar = "=".repeat(78);
        let what = if required() {
            "SEAL_REQUIRE_TESTENV=1: the tests that need them WILL FAIL."
        } else {
            "The tests that need them are IGNORED (set SEAL_REQUIRE_TESTENV=1 to fail instead)."
        };
        eprintln!(
            "\n{bar}\nWARNING: the test control plane (Kubernetes + OpenBao) could not be found.\n\
             Missing: {}\n{what}\nBuild it once with: tests/env/build   \
             (cache: SEAL_TESTENV_CACHE, default /var/cache/seal-testenv)\n{bar}\n",
            missing.join(", ")
        );
        false
    })
}

/// A test that needs the environment: ignored (loudly) when the binaries are
/// missing, unless `SEAL_REQUIRE_TESTENV=1`, where it runs and fails.
pub fn trial<F>(name: &str, test: F) -> Trial
where
    F: FnOnce() -> Result<(), Failed> + Send + 'static,
{
    let ignore = !available() && !required();
    Trial::test(name, test).with_kind("testenv").with_ignored_flag(ignore)
}

/// The shared environment, started on first use.
pub fn get() -> Result<&'static TestEnv, Failed> {
    ENV.get_or_init(start).as_ref().map_err(|e| Failed::from(e.as_str()))
}

/// The shared Kubernetes control plane.
pub fn cluster() -> Result<&'static Cluster, Failed> {
    Ok(&get()?.cluster)
}

/// The shared OpenBao dev server.
pub fn bao() -> Result<&'static Bao, Failed> {
    Ok(&get()?.bao)
}

fn start() -> Result<TestEnv, String> {
    let missing = missing_binaries();
    if !missing.is_empty() {
        return Err(format!(
            "the test control plane is not built: missing {}; run tests/env/build \
             (or set SEAL_TESTENV_CACHE to where it was built)",
            missing.join(", ")
        ));
    }
    let state_dir = std::env::temp_dir().join(format!("seal-testenv-test-{}", std::process::id()));
    let up = scripts_dir().join("up");
    let started = Instant::now();
    let out = Command::new(&up)
        .env("SEAL_TESTENV_STATE", &state_dir)
        .env("SEAL_TESTENV_WATCH_PID", std::process::id().to_string())
        .env("SEAL_TESTENV_NO_BUILD", "1")
        .output()
        .map_err(|e| format!("running {}: {e}", up.display()))?;
    // From here on `shutdown` runs `down` (harmless if `up` cleaned up itself).
    *STARTED.lock().unwrap_or_else(|e| e.into_inner()) = Some(state_dir.clone());
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("{} failed ({}):\n{stderr}", up.display(), out.status));
    }
    let vars: HashMap<String, String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let var = |k: &str| {
        vars.get(k).cloned().ok_or_else(|| format!("{} printed no {k}=; its stderr:\n{stderr}", up.display()))
    };
    let kubeconfig = PathBuf::from(var("KUBECONFIG")?);
    let vault_addr = var("VAULT_ADDR")?;
    let vault_token = var("VAULT_TOKEN")?;
    let cluster = block_on(Cluster::connect(&state_dir, &kubeconfig))?;
    let bao = Bao::new(vault_addr, vault_token);
    eprintln!(
        "test env: control plane and OpenBao up in {:.1}s (state {})",
        started.elapsed().as_secs_f64(),
        state_dir.display()
    );
    Ok(TestEnv { state_dir, cluster, bao })
}

/// Stops the environment if it was started. Called by `main` after the run.
pub fn shutdown() {
    let Some(state_dir) = STARTED.lock().unwrap_or_else(|e| e.into_inner()).take() else {
        return;
    };
    let down = scripts_dir().join("down");
    match Command::new(&down).env("SEAL_TESTENV_STATE", &state_dir).output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            eprintln!("test env: {} failed ({}):\n{}", down.display(), out.status, String::from_utf8_lossy(&out.stderr))
        }
        Err(e) => eprintln!("test env: running {}: {e}", down.display()),
    }
}

/// Polls `check` until it returns `Some`, or fails after `timeout` with a
/// message naming `what` and the last error seen.
pub async fn wait_for<T, E, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T, Failed>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, E>>,
{
    let deadline = Instant::now() + timeout;
    let mut last = String::from("condition not met");
    loop {
        match check().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last = e.to_string(),
        }
        if Instant::now() >= deadline {
            return Err(format!("timed out after {timeout:?} waiting for {what}: {last}").into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs `fut`, failing with a message naming `what` after `timeout`.
pub async fn within<T>(what: &str, timeout: Duration, fut: impl Future<Output = T>) -> Result<T, Failed> {
    tokio::time::timeout(timeout, fut).await.map_err(|_| Failed::from(format!("timed out after {timeout:?}: {what}")))
}

/// Fails the test with `msg` unless `cond`.
pub fn ensure(cond: bool, msg: impl std::fmt::Display) -> Result<(), Failed> {
    if cond { Ok(()) } else { Err(msg.to_string().into()) }
}

/// Starts a small shell watchdog that kills process `pid` (a child of this
/// test binary: a controller, a private OpenBao) if this test binary dies
/// without killing it. It ends by itself when `pid` ends. Kill the returned
/// child after killing `pid`. `None` when `sh` cannot be started.
pub fn watchdog(pid: u32) -> Option<std::process::Child> {
    // After a normal end, `pid` is gone (and reaped) before this process
    // is: the last check then sees this process alive and kills nothing.
    Command::new("sh")
        .args([
            "-c",
            "while kill -0 \"$0\" 2>/dev/null && kill -0 \"$1\" 2>/dev/null; do sleep 1; done; \
             kill -0 \"$0\" 2>/dev/null || kill -9 \"$1\" 2>/dev/null",
        ])
        .arg(std::process::id().to_string())
        .arg(pid.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()
}
