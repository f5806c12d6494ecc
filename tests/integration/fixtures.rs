//! Fixtures every group of tests shares: kubectl of the test environment,
//! the CRDs applied once per run, a failure's message. Each group's own
//! world (namespaces, a controller process, its helpers) builds on these.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::ListParams;
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, CustomResourceExt};
use libtest_mimic::Failed;
use seal::api::{ClusterSecretStore, ExternalSecret, SealedSecret, SecretStore};

use crate::env::{self, wait_for, within};
use crate::support::{Run, repo_root};

/// The field manager of the CRDs applied by the tests.
pub const CRD_MANAGER: &str = "seal-tests";
const TIMEOUT: Duration = Duration::from_secs(90);

/// A failure's message.
pub fn fmsg(f: Failed) -> String {
    f.message().unwrap_or("failed").to_owned()
}

/// kubectl's discovery cache, in the environment's state dir (removed with it).
fn kubectl_cache() -> PathBuf {
    match env::get() {
        Ok(e) => e.state_dir.join("kubectl-cache"),
        Err(_) => std::env::temp_dir().join(format!("seal-tests-kubectl-cache-{}", std::process::id())),
    }
}

/// `kubectl --kubeconfig K ARGS` of the test environment (v1.20.2).
pub fn kubectl<S: AsRef<str>>(kubeconfig: &Path, args: &[S]) -> Run {
    let mut all: Vec<String> = vec![
        "--kubeconfig".into(),
        kubeconfig.display().to_string(),
        "--cache-dir".into(),
        kubectl_cache().display().to_string(),
    ];
    all.extend(args.iter().map(|a| a.as_ref().to_owned()));
    Run::new(env::bin_dir().join("kubectl"), all)
}

/// Applies every CRD in `crds/` (server-side, forced, idempotent) once per
/// run and waits until the API server serves all four kinds.
pub fn ensure_crds() -> Result<(), Failed> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| apply_crds().map_err(fmsg)).clone().map_err(Failed::from)
}

fn apply_crds() -> Result<(), Failed> {
    let cluster = env::cluster()?;
    // The folder itself, as the README's install does (`kubectl apply -f
    // crds/`): it must hold nothing kubectl cannot apply.
    let crds = repo_root().join("crds").display().to_string();
    let args = ["apply", "--server-side", "--force-conflicts", "--field-manager", CRD_MANAGER, "-f", &crds];
    kubectl(&cluster.kubeconfig, &args).ok()?;
    env::block_on(async {
        let crds: Api<CustomResourceDefinition> = Api::all(cluster.admin());
        for name in [
            "sealedsecrets.seal.dev",
            ExternalSecret::crd_name(),
            SecretStore::crd_name(),
            ClusterSecretStore::crd_name(),
            "passwords.seal.dev",
            "clusterexternalsecrets.seal.dev",
            "pushsecrets.seal.dev",
        ] {
            within("CRD Established", TIMEOUT, await_condition(crds.clone(), name, conditions::is_crd_established()))
                .await?
                .map_err(|e| format!("waiting for CRD {name}: {e}"))?;
        }
        let client = cluster.admin();
        wait_for("the new kinds to be served", TIMEOUT, || {
            let client = client.clone();
            async move {
                Api::<SealedSecret>::all(client.clone()).list(&ListParams::default().limit(1)).await?;
                Api::<ExternalSecret>::all(client.clone()).list(&ListParams::default().limit(1)).await?;
                Api::<SecretStore>::all(client.clone()).list(&ListParams::default().limit(1)).await?;
                Api::<ClusterSecretStore>::all(client).list(&ListParams::default().limit(1)).await?;
                Ok::<_, kube::Error>(Some(()))
            }
        })
        .await
    })
}

/// Every controller that serves ClusterExternalSecrets reconciles every one
/// in the cluster (limited to the namespaces it watches): a test that
/// creates one holds this lock until it is deleted, so that two such tests'
/// controllers do not write each other's status.
static CLUSTER_EXTERNAL_SECRETS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Takes [`CLUSTER_EXTERNAL_SECRETS`].
pub fn cluster_external_secrets_lock() -> std::sync::MutexGuard<'static, ()> {
    CLUSTER_EXTERNAL_SECRETS.lock().unwrap_or_else(|e| e.into_inner())
}
