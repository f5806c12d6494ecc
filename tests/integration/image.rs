//! The controller as a cluster runs it: the local image (`deploy/image`,
//! `FROM scratch`: the binary, its libraries, a passwd file, no shell, no CA
//! bundle) run by podman with the Deployment's security settings against
//! the test control plane and a TLS OpenBao. Needs podman, buildah and runc
//! (Debian packages; `.ci/run` installs them where it can): without them the
//! test is ignored with a loud notice, or fails under `SEAL_REQUIRE_IMAGE=1`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use libtest_mimic::{Failed, Trial};
use seal::api::{ExternalSecret, SecretStore};
use serde_json::json;

use crate::env::bao::DevServer;
use crate::env::{self, ensure, wait_for};
use crate::fixtures::objects::{create_es, create_store, item, kv, put_secret, wait_data};
use crate::fixtures::{ensure_crds, kubectl};
use crate::support::{Run, repo_root};

const TIMEOUT: Duration = Duration::from_secs(90);
const STORAGE: &str = "--storage-driver=vfs";

/// The image trial.
pub fn trials() -> Vec<Trial> {
    let name = "image::the_local_image_runs_the_controller_with_the_deployments_security_settings";
    // Ignored (loudly) without the control plane, as every testenv trial,
    // or without podman, unless SEAL_REQUIRE_IMAGE=1.
    let trial = env::trial(name, run);
    vec![
        if !podman_available() && !required() { trial.with_ignored_flag(true) } else { trial },
        Trial::test("image::without_a_ca_from_anywhere_the_controller_says_what_to_add", missing_trust_is_explained),
    ]
}

/// What the image lacks (a system CA bundle), simulated without a container:
/// rustls' native roots read `SSL_CERT_FILE`/`SSL_CERT_DIR`. With a
/// kubeconfig that names no CA either, the controller stops at once and
/// says what to add, rather than only that no CA was loaded.
fn missing_trust_is_explained() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let kc = dir.path().join("kubeconfig");
    std::fs::write(
        &kc,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n\
         users:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n\
         current-context: x\n",
    )?;
    let out = Command::new(std::env::current_exe()?)
        .args(["--seal-controller", "--leader-election=false", "--metrics-address", "127.0.0.1:0"])
        .env("KUBECONFIG", &kc)
        .env("SSL_CERT_FILE", dir.path().join("none.pem"))
        .env("SSL_CERT_DIR", dir.path().join("none"))
        .env_remove("KUBERNETES_SERVICE_HOST")
        .stdin(Stdio::null())
        .output()?;
    let said = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    ensure(!out.status.success(), format!("the controller must stop without trust; it said: {said}"))?;
    ensure(
        said.contains("add certificate-authority-data to the kubeconfig"),
        format!("the controller must say which trust to add; it said: {said}"),
    )
}

fn required() -> bool {
    std::env::var("SEAL_REQUIRE_IMAGE").is_ok_and(|v| v == "1")
}

fn podman_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        let found = ["podman", "buildah", "runc"]
            .iter()
            .all(|t| Command::new(t).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok());
        if !found {
            let bar = "=".repeat(78);
            let what = if required() {
                "SEAL_REQUIRE_IMAGE=1: the image test WILL FAIL."
            } else {
                "The image test is IGNORED (set SEAL_REQUIRE_IMAGE=1 to fail instead)."
            };
            eprintln!(
                "\n{bar}\nWARNING: podman, buildah or runc is missing, so the controller image cannot be built and run.\n\
                 {what}\nInstall them with: apt-get install -y podman buildah runc\n{bar}\n"
            );
        }
        found
    })
}

/// The `seal-controller` binary cargo built next to this test binary
/// (`tests/run` builds it first).
fn controller_binary() -> Result<PathBuf, Failed> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().and_then(Path::parent).ok_or("no target directory")?;
    let bin = dir.join("seal-controller");
    ensure(
        bin.is_file(),
        format!("{} is missing: run `cargo build --bin seal-controller` (tests/run does)", bin.display()),
    )?;
    Ok(bin)
}

/// A running container, removed (with its image) when dropped.
struct Container {
    name: String,
    image: String,
    child: Option<Child>,
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("podman").args([STORAGE, "rm", "-f", &self.name]).output();
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("podman").args([STORAGE, "rmi", "-f", &self.image]).output();
    }
}

fn run() -> Result<(), Failed> {
    // The settings the test runs with are the Deployment's own.
    let deployment = std::fs::read_to_string(repo_root().join("deploy/base/deployment.yaml"))?;
    for setting in [
        "readOnlyRootFilesystem: true",
        "runAsUser: 65532",
        "runAsGroup: 65532",
        "- ALL",
        "allowPrivilegeEscalation: false",
    ] {
        ensure(deployment.contains(setting), format!("deploy/base/deployment.yaml no longer has {setting:?}"))?;
    }
    let bin = controller_binary()?;
    let tag = format!("localhost/seal-controller:test-{}-{}", std::process::id(), env::unique());
    let name = format!("seal-image-test-{}-{}", std::process::id(), env::unique());
    // From here on, the container and the image are removed however the test ends.
    let mut container = Container { name, image: tag.clone(), child: None };
    let built =
        Run::new(repo_root().join("deploy/image/build-local"), [bin.display().to_string(), tag.clone()]).ok()?;
    eprintln!("{}", String::from_utf8_lossy(&built).trim());
    ensure_crds()?;
    let cluster = env::cluster()?;
    env::block_on(in_cluster(&mut container, cluster))
}

async fn in_cluster(container: &mut Container, cluster: &env::kube::Cluster) -> Result<(), Failed> {
    let (name, tag) = (container.name.clone(), container.image.clone());
    let sys = cluster.namespace("image-sys").await?;
    let app = cluster.namespace("image-app").await?;
    let dir = tempfile::tempdir()?;
    // The container's user must be able to read its kubeconfig.
    let kc = dir.path().join("kubeconfig");
    std::fs::copy(&cluster.kubeconfig, &kc)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&kc, std::fs::Permissions::from_mode(0o644))?;
    }
    let bao_dir = dir.path().join("bao");
    std::fs::create_dir(&bao_dir)?;
    let tls = DevServer::start_tls(&bao_dir).await?;
    let root = tls.bao.root()?;
    vaultrs::kv2::set(&root, "secret", "app/db", &kv(&[("password", "from-tls-bao")])).await?;

    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let log = std::fs::File::create(dir.path().join("controller.log"))?;
    let started = Instant::now();
    let child = Command::new("podman")
        .args([STORAGE, "--runtime", "runc", "run", "--rm", "--name", &name, "--network", "host"])
        // The Deployment's securityContext: read-only root, user 65532, no
        // capabilities, no privilege escalation; no volume but the kubeconfig.
        .args(["--read-only", "--user", "65532:65532", "--cap-drop", "ALL", "--security-opt", "no-new-privileges"])
        .args(["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"])
        .args(["-v", &format!("{}:/kc:ro", kc.display()), "-e", "KUBECONFIG=/kc"])
        .arg(&tag)
        .args(["--namespace", &sys.name, "--watch-namespace", &app.name, "--leader-election=false"])
        .args(["--metrics-address", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?;
    container.child = Some(child);
    let http = reqwest::Client::new();
    let ready = format!("http://127.0.0.1:{port}/readyz");
    let log_path = dir.path().join("controller.log");
    wait_for("the container's /readyz", TIMEOUT, || {
        let r = http.get(&ready).send();
        let log_path = &log_path;
        async move {
            match r.await {
                Ok(resp) if resp.status() == 200 => Ok(Some(())),
                Ok(resp) => Err(format!("status {}", resp.status())),
                Err(e) => Err(format!("{e}; log: {}", std::fs::read_to_string(log_path).unwrap_or_default())),
            }
        }
    })
    .await?;
    eprintln!("image: the container answered /readyz {:.1}s after podman run", started.elapsed().as_secs_f64());

    // A SealedSecret sealed to the recipients the container published.
    let cms: Api<ConfigMap> = sys.api();
    let recipients = wait_for("the recipients ConfigMap", TIMEOUT, || async {
        let cm = cms.get_opt("seal-recipients").await.map_err(|e| e.to_string())?.ok_or("not yet")?;
        cm.data.and_then(|d| d.get("recipients.txt").cloned()).map(Some).ok_or_else(|| "empty".to_owned())
    })
    .await?;
    let rfile = dir.path().join("recipients.txt");
    std::fs::write(&rfile, recipients)?;
    let sealed = Run::seal([
        "secret",
        "-n",
        &app.name,
        "--name",
        "sealed",
        "--from-literal",
        "password=from-sealed-secret",
        "--recipients-file",
        &rfile.display().to_string(),
    ])
    .ok()?;
    let sealed_file = dir.path().join("sealed.yaml");
    std::fs::write(&sealed_file, sealed)?;
    kubectl(&kc, &["apply", "-f", &sealed_file.display().to_string()]).ok()?;

    // An ExternalSecret through a store that trusts only its caBundle.
    let secrets: Api<Secret> = app.api();
    put_secret(&secrets, "bao-token", "token", &tls.bao.root_token).await?;
    let ca = std::fs::read(tls.bao.ca_file.as_ref().ok_or("no CA")?)?;
    let provider = json!({"vault": {
        "server": tls.bao.addr, "path": "secret", "version": "v2",
        "caBundle": base64::engine::general_purpose::STANDARD.encode(ca),
        "auth": {"tokenSecretRef": {"name": "bao-token", "key": "token"}},
    }});
    let stores: Api<SecretStore> = app.api();
    create_store(&stores, "tls", provider).await?;
    let es: Api<ExternalSecret> = app.api();
    create_es(
        &es,
        "db",
        "tls",
        json!({"target": {"name": "db"}, "data": [item("password", "app/db", Some("password"))]}),
    )
    .await?;

    wait_data(&secrets, "sealed", &[("password", "from-sealed-secret")]).await?;
    wait_data(&secrets, "db", &[("password", "from-tls-bao")]).await?;

    // SIGTERM: a clean exit.
    let stop = Command::new("podman").args([STORAGE, "kill", "--signal", "TERM", &name]).output()?;
    ensure(stop.status.success(), format!("podman kill: {}", String::from_utf8_lossy(&stop.stderr)))?;
    let mut child = container.child.take().ok_or("no child")?;
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        ensure(Instant::now() < deadline, "the container did not exit after SIGTERM")?;
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = std::fs::read_to_string(dir.path().join("controller.log"))?;
    ensure(status.success(), format!("the controller must exit 0 on SIGTERM, got {status}; log:\n{log}"))?;
    for canary in ["from-tls-bao", "from-sealed-secret"] {
        ensure(!log.contains(canary), format!("the controller's log holds the value {canary}"))?;
    }
    Ok(())
}
