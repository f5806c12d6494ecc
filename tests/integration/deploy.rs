//! `deploy/`, what a platform team installs, against the real control plane.
//!
//! The kustomize base and overlays are rendered by the real kubectl: v1.20's,
//! whose embedded kustomize (v2.0.3) is the oldest still in use, and a current
//! one when there is one on PATH (both must render the same objects). The
//! output is accepted by the API server (server-side dry run) and installed.
//! Then the controller runs as the base's ServiceAccount with exactly the
//! base's RBAC (a TokenRequest token, not admin) and does its work; with one
//! rule removed, it reports the failure precisely.
//!
//! The base's cluster-scoped objects and its namespace `seal-system` are
//! shared by these tests (no other test uses `seal-system`): they are applied
//! idempotently, by server-side apply with one field manager, forced. Every
//! controller started here watches only its own test's namespace.
//!
//! The base's Deployment never runs here (no scheduler, kubelet or deployment
//! controller in the test control plane, and no image): it is installed and
//! checked as an object; the controller runs as a local process instead, with
//! the Deployment's identity.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service, ServiceAccount};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client, ResourceExt};
use libtest_mimic::{Failed, Trial};
use seal::api::{ExternalSecret, SealedSecret, SecretStore};
use serde_json::{Value, json};

use crate::env::{self, Cluster, ensure, wait_for, within};
use crate::fixtures::{fmsg, kubectl};
use crate::process::ControllerProcess;
use crate::support::{self, Run};

const TIMEOUT: Duration = Duration::from_secs(60);
/// Field manager of everything these tests apply.
const MANAGER: &str = "seal-deploy-tests";
/// The namespace, ServiceAccount and RBAC names of `deploy/base`.
const SYSTEM_NS: &str = "seal-system";
const NAME: &str = "seal-controller";
const RECIPIENTS_CM: &str = "seal-recipients";
const RECIPIENTS_KEY: &str = "recipients.txt";
const RESTARTED_AT: &str = "seal.dev/restartedAt";

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "deploy::crds_kustomization_lists_every_generated_crd",
            crds_kustomization_lists_every_generated_crd,
        ),
        env::trial(
            "deploy::kustomize_base_renders_and_is_accepted_by_the_api_server",
            kustomize_base_renders_and_is_accepted_by_the_api_server,
        ),
        env::trial(
            "deploy::install_manifest_is_the_base_in_one_file_and_the_api_server_accepts_it",
            install_manifest_is_the_base_in_one_file_and_the_api_server_accepts_it,
        ),
        env::trial(
            "deploy::controller_with_deploy_rbac_materializes_a_sealed_secret",
            controller_with_deploy_rbac_materializes_a_sealed_secret,
        ),
        env::trial("deploy::missing_rbac_rule_is_reported_precisely", missing_rbac_rule_is_reported_precisely),
        env::trial(
            "deploy::namespaced_install_serves_its_namespaces_and_reads_nothing_else",
            namespaced_install_serves_its_namespaces_and_reads_nothing_else,
        ),
    ]
}

// ---------------------------------------------------------------------------
// Rendering

/// kubectl v1.20.2 of the test environment; its kustomize is v2.0.3.
fn kubectl_1_20() -> PathBuf {
    env::bin_dir().join("kubectl")
}

/// A current kubectl on PATH (one that reports its kustomize version, as
/// kubectl >= 1.21 does), if there is one.
fn kubectl_current() -> Option<PathBuf> {
    let path = support::tool("kubectl").ok()?;
    let out = Run::new(&path, ["version", "--client"]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    (out.status.success() && text.contains("Kustomize Version: v")).then_some(path)
}

/// `kubectl kustomize deploy/<rel>`.
fn render(kubectl: &Path, rel: &str) -> Result<String, Failed> {
    let dir = support::repo_root().join("deploy").join(rel);
    let out = Run::new(kubectl, ["kustomize".as_ref(), dir.as_os_str()]).ok()?;
    String::from_utf8(out).map_err(|_| format!("kubectl kustomize deploy/{rel}: output is not UTF-8").into())
}

/// The documents of a rendered stream (kustomize separates them by `---`).
fn documents(stream: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in stream.lines() {
        if line == "---" {
            docs.push(String::new());
        } else if let Some(doc) = docs.last_mut() {
            doc.push_str(line);
            doc.push('\n');
        }
    }
    docs.retain(|d| !d.trim().is_empty());
    docs
}

/// `Kind/name` of a rendered document (top-level `kind:`, `metadata.name`).
fn object_id(doc: &str) -> Result<String, Failed> {
    let kind = doc.lines().find_map(|l| l.strip_prefix("kind: "));
    let mut in_metadata = false;
    let mut name = None;
    for line in doc.lines() {
        if !line.starts_with(' ') {
            in_metadata = line == "metadata:";
        } else if in_metadata && let Some(n) = line.strip_prefix("  name: ") {
            name = Some(n);
            break;
        }
    }
    match (kind, name) {
        (Some(k), Some(n)) => Ok(format!("{}/{}", k.trim(), n.trim().trim_matches('"'))),
        _ => Err(format!("a rendered document without kind or metadata.name:\n{doc}").into()),
    }
}

/// The CRD files crdgen writes (`seal::api::crds()`), and their object names.
fn generated_crds() -> Vec<(&'static str, String)> {
    seal::api::crds().into_iter().map(|(file, crd)| (file, crd.name_any())).collect()
}

/// Every object `deploy/base` must render, as `Kind/name`, sorted.
fn expected_base_objects() -> Vec<String> {
    let mut want: Vec<String> = [
        "Namespace/seal-system",
        "ServiceAccount/seal-controller",
        "ClusterRole/seal-controller",
        "ClusterRoleBinding/seal-controller",
        "Role/seal-controller",
        "RoleBinding/seal-controller",
        "Role/seal-recipients-reader",
        "RoleBinding/seal-recipients-reader",
        "Deployment/seal-controller",
        "Service/seal-controller",
        "PodDisruptionBudget/seal-controller",
        "NetworkPolicy/seal-controller",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    want.extend(generated_crds().into_iter().map(|(_, name)| format!("CustomResourceDefinition/{name}")));
    want.sort();
    want
}

fn sorted_ids(docs: &[String]) -> Result<Vec<String>, Failed> {
    let mut ids = docs.iter().map(|d| object_id(d)).collect::<Result<Vec<_>, _>>()?;
    ids.sort();
    Ok(ids)
}

fn find_doc<'a>(docs: &'a [String], id: &str) -> Result<&'a String, Failed> {
    for d in docs {
        if object_id(d)? == id {
            return Ok(d);
        }
    }
    Err(format!("no {id} in the rendered output").into())
}

// ---------------------------------------------------------------------------
// kubectl against the test control plane

/// Server-side apply of a stream, forced, with this file's field manager.
fn apply_stream(cluster: &Cluster, stream: &str, extra: &[&str]) -> Result<Vec<u8>, Failed> {
    let mut args = vec!["apply", "--server-side", "--force-conflicts", "--field-manager", MANAGER];
    args.extend_from_slice(extra);
    args.extend(["-f", "-"]);
    kubectl(&cluster.kubeconfig, &args).stdin(stream).ok()
}

/// `kubectl apply --server-side -f FILE` as admin, as a user would; retried
/// while kubectl's discovery catches up with new CRDs.
async fn apply_file(cluster: &Cluster, file: &Path) -> Result<(), Failed> {
    let f = file.display().to_string();
    let args = ["apply", "--server-side", "--force-conflicts", "--field-manager", MANAGER, "-f", &f];
    wait_for(&format!("kubectl apply -f {f}"), TIMEOUT, || async {
        let out = kubectl(&cluster.kubeconfig, &args).output().map_err(fmsg)?;
        if out.status.success() {
            Ok(Some(()))
        } else {
            Err(format!("kubectl apply failed: {}", String::from_utf8_lossy(&out.stderr)))
        }
    })
    .await
}

/// Waits until every CRD of the base is Established and SealedSecrets are served.
async fn wait_for_crds(cluster: &Cluster) -> Result<(), Failed> {
    let crds: Api<CustomResourceDefinition> = Api::all(cluster.admin());
    for (_, name) in generated_crds() {
        within(
            &format!("CRD {name} Established"),
            TIMEOUT,
            await_condition(crds.clone(), &name, conditions::is_crd_established()),
        )
        .await?
        .map_err(|e| format!("waiting for CRD {name}: {e}"))?;
    }
    let all: Api<SealedSecret> = Api::all(cluster.admin());
    wait_for("SealedSecrets to be served", TIMEOUT, || async {
        all.list(&ListParams::default().limit(1)).await.map(|_| Some(()))
    })
    .await
}

/// Installs `deploy/` (the 1.20 overlay: the test API server is 1.20) once
/// per run, for the tests that need it in place.
fn install_base() -> Result<(), Failed> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let cluster = env::cluster().map_err(fmsg)?;
        let stream = render(&kubectl_1_20(), "overlays/kubernetes-1.20").map_err(fmsg)?;
        // Kustomize puts the Namespace first, so one apply creates everything.
        apply_stream(cluster, &stream, &[]).map_err(fmsg)?;
        env::block_on(wait_for_crds(cluster)).map_err(fmsg)
    })
    .clone()
    .map_err(Failed::from)
}

// ---------------------------------------------------------------------------
// A controller process

/// What a controller logged so far, JSON lines turned into their text: every
/// string field of a line, space-separated (so quotes are plain).
fn log_text(ctrl: &ControllerProcess) -> String {
    let raw = ctrl.logs();
    let mut out = String::new();
    for line in String::from_utf8_lossy(&raw).lines() {
        match serde_json::from_str::<Value>(line) {
            Ok(v) => {
                let mut parts = Vec::new();
                strings(&v, &mut parts);
                out.push_str(&parts.join(" "));
            }
            Err(_) => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// `failure`, with what the controller was refused and its last log lines.
fn explain(ctrl: &ControllerProcess, failure: Failed) -> Failed {
    let logs = log_text(ctrl);
    let denials: Vec<&str> = logs.lines().filter(|l| l.contains("\" cannot ")).take(5).collect();
    format!(
        "{}\n--- RBAC denials in the controller's log: {}\n--- its last lines:\n{}",
        fmsg(failure),
        if denials.is_empty() { "none".to_owned() } else { denials.join("\n") },
        ctrl.log_tail()
    )
    .into()
}

/// Every string in a JSON value, in order.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

/// The value of a counter with all of `labels` (0 when absent).
fn counter(metrics: &str, name: &str, labels: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

// ---------------------------------------------------------------------------
// Small helpers

fn write(dir: &Path, name: &str, content: &str) -> Result<PathBuf, Failed> {
    let p = dir.join(name);
    std::fs::write(&p, content).map_err(|e| format!("writing {}: {e}", p.display()))?;
    Ok(p)
}

fn is_forbidden<T>(r: &Result<T, kube::Error>) -> bool {
    matches!(r, Err(kube::Error::Api(s)) if s.code == 403)
}

/// Waits until RBAC (whose caches lag a moment) lets `client` list
/// SealedSecrets in `namespace`.
async fn wait_until_rbac_allows(client: &Client, namespace: &str) -> Result<(), Failed> {
    let api: Api<SealedSecret> = Api::namespaced(client.clone(), namespace);
    wait_for("RBAC to allow listing SealedSecrets", TIMEOUT, || async {
        match api.list(&ListParams::default().limit(1)).await {
            Ok(_) => Ok(Some(())),
            Err(kube::Error::Api(s)) if s.code == 403 => Ok(None),
            Err(e) => Err(e),
        }
    })
    .await
}

/// The `Ready` condition of a SealedSecret, as (status, reason).
fn ready(ss: &SealedSecret) -> Option<(String, String)> {
    let status = ss.status.as_ref()?;
    let c = status.conditions.iter().find(|c| c.type_ == "Ready")?;
    Some((c.status.clone(), c.reason.clone()))
}

fn secret_value(s: &Secret, key: &str) -> Option<Vec<u8>> {
    s.data.as_ref()?.get(key).map(|v| v.0.clone())
}

/// Waits until Secret `name` holds `key` = `value`.
async fn wait_for_secret_value(secrets: &Api<Secret>, name: &str, key: &str, value: &str) -> Result<(), Failed> {
    wait_for(&format!("Secret {name} with {key}={value}"), TIMEOUT, || async {
        let s = secrets.get_opt(name).await?;
        Ok::<_, kube::Error>(s.and_then(|s| secret_value(&s, key)).and_then(|v| (v == value.as_bytes()).then_some(())))
    })
    .await
}

/// Waits until the SealedSecret is Ready=True/Materialized for its current generation.
async fn wait_for_materialized(sealed: &Api<SealedSecret>, name: &str) -> Result<(), Failed> {
    wait_for(&format!("SealedSecret {name} Ready=True reason Materialized"), TIMEOUT, || async {
        let ss = sealed.get(name).await?;
        let current = ss.status.as_ref().and_then(|s| s.observed_generation) == ss.metadata.generation;
        let ok = ready(&ss) == Some(("True".into(), "Materialized".into())) && current;
        Ok::<_, kube::Error>(ok.then_some(()))
    })
    .await
}

fn pod_template_annotation(d: &Deployment, key: &str) -> Option<String> {
    d.spec.as_ref()?.template.metadata.as_ref()?.annotations.as_ref()?.get(key).cloned()
}

/// `seal secret --controller` for `namespace/name` with `k=<value>`, to `file`.
fn seal_to_controller(
    kubeconfig: &Path,
    controller_ns: &str,
    namespace: &str,
    name: &str,
    value: &str,
    file: &Path,
) -> Result<(), Failed> {
    let literal = format!("k={value}");
    let args: Vec<&std::ffi::OsStr> = vec![
        "secret".as_ref(),
        "--controller".as_ref(),
        "--controller-namespace".as_ref(),
        controller_ns.as_ref(),
        "--name".as_ref(),
        name.as_ref(),
        "--namespace".as_ref(),
        namespace.as_ref(),
        "--from-literal".as_ref(),
        literal.as_ref(),
        "-o".as_ref(),
        file.as_os_str(),
    ];
    Run::seal(args).env("KUBECONFIG", kubeconfig).ok().map(drop)
}

// ---------------------------------------------------------------------------
// Tests

/// `crds/Kustomization` (the base's way to the CRDs) lists exactly the
/// files crdgen writes, so a new CRD cannot be left out of `deploy/`. It has
/// no `.yaml` suffix so that `kubectl apply -f crds/` reads only the CRDs.
fn crds_kustomization_lists_every_generated_crd() -> Result<(), Failed> {
    let path = support::repo_root().join("crds/Kustomization");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let listed: BTreeSet<String> =
        text.lines().filter_map(|l| l.strip_prefix("- ")).map(|f| f.trim().to_owned()).collect();
    let generated: BTreeSet<String> = generated_crds().into_iter().map(|(f, _)| f.to_owned()).collect();
    ensure(
        listed == generated,
        format!(
            "crds/Kustomization lists {listed:?}, crdgen writes {generated:?}: \
             list every CRD file (and only those)"
        ),
    )?;
    for f in &listed {
        let p = support::repo_root().join("crds").join(f);
        ensure(p.is_file(), format!("crds/Kustomization lists {f}, which does not exist"))?;
    }
    Ok(())
}

/// `deploy/install.yaml` (generated by crdgen, staleness checked by a unit
/// test) holds exactly the objects `deploy/base` renders, with the same
/// content; `kubectl apply -f` of it, and of `crds/`, is accepted by the
/// API server (a server-side dry run: the test cluster is Kubernetes 1.20,
/// which serves the PodDisruptionBudget only as policy/v1beta1, so that one
/// object is checked in that version, as the 1.20 overlay ships it).
fn install_manifest_is_the_base_in_one_file_and_the_api_server_accepts_it() -> Result<(), Failed> {
    let cluster = env::cluster()?;
    let root = crate::support::repo_root();
    let install_path = root.join("deploy/install.yaml");
    let install = std::fs::read_to_string(&install_path)?;
    // Without the file's leading comment.
    let docs: Vec<String> = documents(&install)
        .into_iter()
        .filter(|d| d.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')))
        .collect();
    let ids = sorted_ids(&docs)?;
    let want = expected_base_objects();
    ensure(ids == want, format!("deploy/install.yaml holds {ids:?}, expected {want:?}"))?;
    let base_docs = documents(&render(&kubectl_1_20(), "base")?);
    for d in &docs {
        let id = object_id(d)?;
        let mine: Value = serde_yaml::from_str(d).map_err(|e| format!("{id} in install.yaml: {e}"))?;
        let theirs: Value = serde_yaml::from_str(find_doc(&base_docs, &id)?).map_err(|e| format!("{id}: {e}"))?;
        ensure(mine == theirs, format!("{id} in deploy/install.yaml differs from deploy/base"))?;
    }
    ensure(
        docs.iter().position(|d| d.contains("kind: Namespace"))
            < docs.iter().position(|d| d.contains("kind: ServiceAccount")),
        "the Namespace must come before the namespaced objects in one `kubectl apply -f`",
    )?;
    // The namespace must exist for a dry run of namespaced objects.
    install_base()?;
    let on_1_20 = install.replacen(
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\n",
        "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\n",
        1,
    );
    ensure(on_1_20 != install, "install.yaml's PodDisruptionBudget is not policy/v1")?;
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), &on_1_20)?;
    let path = file.path().display().to_string();
    let out = kubectl(&cluster.kubeconfig, &["apply", "--dry-run=server", "-f", &path]).ok()?;
    let out = String::from_utf8_lossy(&out);
    ensure(out.lines().count() == want.len(), format!("kubectl apply -f install.yaml (dry run) said:\n{out}"))?;
    let crds = root.join("crds").display().to_string();
    let out = kubectl(&cluster.kubeconfig, &["apply", "--dry-run=server", "-f", &crds]).ok()?;
    let out = String::from_utf8_lossy(&out);
    ensure(
        out.lines().count() == generated_crds().len() && out.lines().all(|l| l.starts_with("customresourcedefinition")),
        format!("kubectl apply -f crds/ must apply exactly the CRDs:\n{out}"),
    )
}

fn kustomize_base_renders_and_is_accepted_by_the_api_server() -> Result<(), Failed> {
    let cluster = env::cluster()?;
    let old = kubectl_1_20();

    // The base: exactly the expected objects; the PDB as policy/v1.
    let base = render(&old, "base")?;
    let base_docs = documents(&base);
    let ids = sorted_ids(&base_docs)?;
    let want = expected_base_objects();
    ensure(ids == want, format!("deploy/base renders {ids:?}, expected {want:?}"))?;
    let pdb = find_doc(&base_docs, "PodDisruptionBudget/seal-controller")?;
    ensure(pdb.starts_with("apiVersion: policy/v1\n"), format!("the base's PDB is not policy/v1:\n{pdb}"))?;

    // The overlay for Kubernetes 1.20 differs only in the PDB's apiVersion.
    let k120 = render(&old, "overlays/kubernetes-1.20")?;
    let want_k120 = base.replacen(
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\n",
        "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\n",
        1,
    );
    ensure(k120 == want_k120, "overlays/kubernetes-1.20 differs from the base in more than the PDB's apiVersion")?;

    // The ServiceMonitor overlay: the base plus one ServiceMonitor scraping
    // the metrics port. (Not applied: the test cluster has no such CRD.)
    let sm = render(&old, "overlays/servicemonitor")?;
    let sm_docs = documents(&sm);
    let extra: Vec<&String> = sm_docs.iter().filter(|d| !base_docs.contains(d)).collect();
    ensure(
        extra.len() == 1 && sm_docs.len() == base_docs.len() + 1,
        format!("overlays/servicemonitor should be the base plus one object; it adds {extra:?}"),
    )?;
    let monitor = extra[0];
    ensure(
        object_id(monitor)? == "ServiceMonitor/seal-controller"
            && monitor.starts_with("apiVersion: monitoring.coreos.com/v1\n")
            && monitor.contains("namespace: seal-system")
            && monitor.contains("port: http-metrics")
            && monitor.contains("path: /metrics")
            && monitor.contains("app.kubernetes.io/name: seal-controller"),
        format!("unexpected ServiceMonitor:\n{monitor}"),
    )?;

    // A current kustomize renders the same objects from the same files.
    match kubectl_current() {
        Some(current) => {
            for (rel, want) in [("base", &base), ("overlays/kubernetes-1.20", &k120), ("overlays/servicemonitor", &sm)]
            {
                let got = render(&current, rel)?;
                ensure(
                    documents(&got) == documents(want),
                    format!("{} renders deploy/{rel} differently from kubectl 1.20", current.display()),
                )?;
            }
        }
        None => eprintln!("deploy: no current kubectl on PATH; rendered with kubectl 1.20 (kustomize v2.0.3) only"),
    }

    // The API server: a server-side dry run of namespaced objects needs their
    // namespace to exist, so the Namespace is applied first; then everything,
    // dry run, then for real.
    let ns_doc = find_doc(&base_docs, "Namespace/seal-system")?;
    apply_stream(cluster, ns_doc, &[])?;
    let dry = apply_stream(cluster, &k120, &["--dry-run=server", "-o", "json"])?;
    let dry: Value = serde_json::from_slice(&dry).map_err(|e| format!("dry-run output is not JSON: {e}"))?;
    let items = dry["items"].as_array().ok_or("the dry run returned no List")?;
    let mut dry_ids: Vec<String> = items
        .iter()
        .map(|i| format!("{}/{}", i["kind"].as_str().unwrap_or("?"), i["metadata"]["name"].as_str().unwrap_or("?")))
        .collect();
    dry_ids.sort();
    ensure(dry_ids == want, format!("the dry run accepted {dry_ids:?}, expected {want:?}"))?;
    apply_stream(cluster, &k120, &[])?;

    env::block_on(async {
        wait_for_crds(cluster).await?;
        let client = cluster.admin();

        // The Deployment as stored: the security rules of docs/architecture.md §8, and the probes.
        let d: Deployment = Api::namespaced(client.clone(), SYSTEM_NS).get(NAME).await?;
        check_deployment(&d)?;
        let pod_labels = d
            .spec
            .as_ref()
            .and_then(|s| s.template.metadata.as_ref())
            .and_then(|m| m.labels.clone())
            .unwrap_or_default();
        let selects_pods = |sel: &std::collections::BTreeMap<String, String>| {
            !sel.is_empty() && sel.iter().all(|(k, v)| pod_labels.get(k) == Some(v))
        };

        // The Service: port 8080 named http-metrics, to the controller's pods.
        let svc: Service = Api::namespaced(client.clone(), SYSTEM_NS).get(NAME).await?;
        let spec = svc.spec.ok_or("Service without spec")?;
        let ports = spec.ports.unwrap_or_default();
        ensure(
            ports.len() == 1 && ports[0].port == 8080 && ports[0].name.as_deref() == Some("http-metrics"),
            format!("Service ports: {ports:?}"),
        )?;
        ensure(selects_pods(&spec.selector.unwrap_or_default()), "the Service does not select the controller's pods")?;

        // The NetworkPolicy: ingress to TCP 8080 only.
        let np: NetworkPolicy = Api::namespaced(client.clone(), SYSTEM_NS).get(NAME).await?;
        let np = np.spec.ok_or("NetworkPolicy without spec")?;
        ensure(
            selects_pods(&np.pod_selector.and_then(|s| s.match_labels).unwrap_or_default()),
            "the NetworkPolicy does not select the controller's pods",
        )?;
        ensure(np.policy_types == Some(vec!["Ingress".into()]), format!("policyTypes {:?}", np.policy_types))?;
        let ingress = np.ingress.unwrap_or_default();
        let ports = ingress.first().and_then(|r| r.ports.clone()).unwrap_or_default();
        ensure(
            ingress.len() == 1
                && ports.len() == 1
                && ports[0].protocol.as_deref() == Some("TCP")
                && ports[0].port == Some(IntOrString::Int(8080)),
            format!("NetworkPolicy ingress {ingress:?}, expected TCP 8080 only"),
        )?;

        // The PDB (policy/v1beta1 on this server; checked as the dry run returned it).
        let pdb = items
            .iter()
            .find(|i| i["kind"] == "PodDisruptionBudget")
            .ok_or("the dry run returned no PodDisruptionBudget")?;
        let pdb_sel: std::collections::BTreeMap<String, String> =
            serde_json::from_value(pdb["spec"]["selector"]["matchLabels"].clone()).unwrap_or_default();
        ensure(selects_pods(&pdb_sel), "the PodDisruptionBudget does not select the controller's pods")?;
        ensure(pdb["spec"]["maxUnavailable"] == 1, format!("PDB spec {}", pdb["spec"]))?;

        // RBAC: no wildcards, nothing that escalates or impersonates; delete
        // only on Secrets (an ExternalSecret with deletionPolicy Delete) and
        // on ExternalSecrets (those a ClusterExternalSecret made, in
        // namespaces it no longer chooses).
        let cr: ClusterRole = Api::all(client.clone()).get(NAME).await?;
        let role: Role = Api::namespaced(client.clone(), SYSTEM_NS).get(NAME).await?;
        let reader: Role = Api::namespaced(client.clone(), SYSTEM_NS).get("seal-recipients-reader").await?;
        for rule in cr.rules.iter().flatten().chain(role.rules.iter().flatten()).chain(reader.rules.iter().flatten()) {
            let all: Vec<&String> = rule
                .verbs
                .iter()
                .chain(rule.resources.iter().flatten())
                .chain(rule.api_groups.iter().flatten())
                .collect();
            ensure(!all.iter().any(|s| s.contains('*')), format!("a wildcard in {rule:?}"))?;
            for bad in ["deletecollection", "escalate", "bind", "impersonate"] {
                ensure(!rule.verbs.iter().any(|v| v == bad), format!("verb {bad} in {rule:?}"))?;
            }
            let only_secrets = rule.resources.as_deref() == Some(&["secrets".to_owned()][..])
                || rule.resources.as_deref() == Some(&["externalsecrets".to_owned()][..]);
            ensure(
                !rule.verbs.iter().any(|v| v == "delete") || only_secrets,
                format!("verb delete on something other than Secrets and ExternalSecrets in {rule:?}"),
            )?;
        }
        // Every authenticated user may get the recipients ConfigMap, and nothing else.
        let reader_rules = reader.rules.unwrap_or_default();
        ensure(
            reader_rules.len() == 1
                && reader_rules[0].verbs == ["get"]
                && reader_rules[0].resource_names == Some(vec![RECIPIENTS_CM.into()]),
            format!("seal-recipients-reader rules: {reader_rules:?}"),
        )?;
        let rb: RoleBinding = Api::namespaced(client.clone(), SYSTEM_NS).get("seal-recipients-reader").await?;
        let subjects = rb.subjects.unwrap_or_default();
        ensure(
            subjects.len() == 1 && subjects[0].kind == "Group" && subjects[0].name == "system:authenticated",
            format!("seal-recipients-reader subjects: {subjects:?}"),
        )?;
        let crb: ClusterRoleBinding = Api::all(client.clone()).get(NAME).await?;
        ensure(
            crb.subjects
                .unwrap_or_default()
                .iter()
                .all(|s| s.kind == "ServiceAccount" && s.name == NAME && s.namespace.as_deref() == Some(SYSTEM_NS)),
            "the ClusterRoleBinding binds more than the seal-controller ServiceAccount",
        )?;
        Api::<ServiceAccount>::namespaced(client, SYSTEM_NS).get(NAME).await?;
        Ok(())
    })
}

/// The Deployment follows docs/architecture.md (security rules) and runs the controller with flags it
/// accepts.
fn check_deployment(d: &Deployment) -> Result<(), Failed> {
    use clap::Parser;
    let spec = d.spec.as_ref().ok_or("Deployment without spec")?;
    ensure(spec.replicas == Some(2), format!("replicas {:?} (2: a leader and a standby)", spec.replicas))?;
    let pod = spec.template.spec.as_ref().ok_or("Deployment without pod spec")?;
    ensure(
        pod.service_account_name.as_deref() == Some(NAME),
        "the pod does not run as ServiceAccount seal-controller",
    )?;
    let psc = pod.security_context.as_ref().ok_or("no pod securityContext")?;
    ensure(psc.run_as_non_root == Some(true), "pod: runAsNonRoot is not true")?;
    ensure(psc.run_as_user == Some(65532), format!("pod: runAsUser {:?}", psc.run_as_user))?;
    ensure(
        psc.seccomp_profile.as_ref().map(|p| p.type_.as_str()) == Some("RuntimeDefault"),
        "pod: seccompProfile is not RuntimeDefault",
    )?;
    ensure(pod.containers.len() == 1, "one container expected")?;
    let c = &pod.containers[0];
    let sc = c.security_context.as_ref().ok_or("no container securityContext")?;
    ensure(sc.allow_privilege_escalation == Some(false), "allowPrivilegeEscalation is not false")?;
    ensure(sc.read_only_root_filesystem == Some(true), "readOnlyRootFilesystem is not true")?;
    ensure(sc.privileged != Some(true), "privileged")?;
    ensure(
        sc.capabilities.as_ref().and_then(|c| c.drop.clone()) == Some(vec!["ALL".into()])
            && sc.capabilities.as_ref().and_then(|c| c.add.clone()).unwrap_or_default().is_empty(),
        "capabilities: drop ALL, add none",
    )?;
    let res = c.resources.as_ref().ok_or("no resources")?;
    for (what, list) in [("requests", &res.requests), ("limits", &res.limits)] {
        let list = list.clone().unwrap_or_default();
        ensure(list.contains_key("cpu") && list.contains_key("memory"), format!("resources.{what}: {list:?}"))?;
    }
    let port = c.ports.iter().flatten().find(|p| p.name.as_deref() == Some("http-metrics"));
    ensure(port.map(|p| p.container_port) == Some(8080), "no container port 8080 named http-metrics")?;
    for (what, probe, path) in
        [("readinessProbe", &c.readiness_probe, "/readyz"), ("livenessProbe", &c.liveness_probe, "/healthz")]
    {
        let get = probe.as_ref().and_then(|p| p.http_get.as_ref()).ok_or(format!("no {what} httpGet"))?;
        let port_ok = match &get.port {
            IntOrString::Int(p) => *p == 8080,
            IntOrString::String(s) => s == "http-metrics",
        };
        ensure(get.path.as_deref() == Some(path) && port_ok, format!("{what}: {get:?}"))?;
    }
    for (var, field) in [("POD_NAMESPACE", "metadata.namespace"), ("POD_NAME", "metadata.name")] {
        let from = c
            .env
            .iter()
            .flatten()
            .find(|e| e.name == var)
            .and_then(|e| e.value_from.as_ref())
            .and_then(|v| v.field_ref.as_ref())
            .map(|f| f.field_path.clone());
        ensure(from.as_deref() == Some(field), format!("env {var} is not from fieldRef {field}"))?;
    }
    // The controller's own parser accepts the Deployment's arguments.
    let args = std::iter::once("seal-controller".to_owned())
        .chain(c.command.iter().flatten().cloned())
        .chain(c.args.iter().flatten().cloned());
    seal::controller::Args::try_parse_from(args)
        .map_err(|e| format!("seal-controller rejects the Deployment's arguments {:?}: {e}", c.args))?;
    Ok(())
}

fn controller_with_deploy_rbac_materializes_a_sealed_secret() -> Result<(), Failed> {
    install_base()?;
    let cluster = env::cluster()?;
    let dir = tempfile::tempdir()?;
    let dir = dir.path();
    env::block_on(async {
        let app = cluster.namespace("deploy-rbac").await?;

        // The controller, as the base's ServiceAccount with the base's RBAC.
        let token = cluster.service_account_token(SYSTEM_NS, NAME, &[]).await?;
        let kubeconfig = write(dir, "seal-controller.kubeconfig", &cluster.token_kubeconfig(&token))?;
        wait_until_rbac_allows(&cluster.client_with_token(&token).await?, &app.name).await?;
        let ctrl = ControllerProcess::spawn(&kubeconfig, SYSTEM_NS, &app.name, &[], &[], dir)?;
        let outcome: Result<(), Failed> = async {
            ctrl.wait_readyz(TIMEOUT).await?;

            // Any authenticated user (here a ServiceAccount with no rights of its
            // own) reads the recipients, and nothing else.
            cluster.ensure_service_account(&app.name, "nobody").await?;
            let nobody_token = cluster.service_account_token(&app.name, "nobody", &[]).await?;
            let nobody_kubeconfig = write(dir, "nobody.kubeconfig", &cluster.token_kubeconfig(&nobody_token))?;
            let nobody = cluster.client_with_token(&nobody_token).await?;
            let nobody_cms: Api<ConfigMap> = Api::namespaced(nobody.clone(), SYSTEM_NS);
            let cm = wait_for("the recipients ConfigMap, read as another ServiceAccount", TIMEOUT, || async {
                match nobody_cms.get_opt(RECIPIENTS_CM).await {
                    Ok(cm) => Ok(cm),
                    Err(kube::Error::Api(s)) if s.code == 403 => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .await?;
            let recipients: Vec<String> = cm
                .data
                .and_then(|d| d.get(RECIPIENTS_KEY).cloned())
                .unwrap_or_default()
                .lines()
                .filter(|l| l.starts_with("age1"))
                .map(str::to_owned)
                .collect();
            ensure(!recipients.is_empty(), "the recipients ConfigMap lists no age recipient")?;
            ensure(is_forbidden(&nobody_cms.list(&ListParams::default()).await), "another user can list ConfigMaps")?;
            for (what, api) in [
                ("in seal-system", Api::<Secret>::namespaced(nobody.clone(), SYSTEM_NS)),
                ("in its own namespace", Api::<Secret>::namespaced(nobody.clone(), &app.name)),
                ("cluster-wide", Api::<Secret>::all(nobody.clone())),
            ] {
                ensure(
                    is_forbidden(&api.list(&ListParams::default()).await),
                    format!("another user can list Secrets {what}"),
                )?;
            }
            let printed = Run::seal(["recipients", "--controller-namespace", SYSTEM_NS])
                .env("KUBECONFIG", &nobody_kubeconfig)
                .ok()?;
            ensure(
                String::from_utf8_lossy(&printed).contains(&recipients[0]),
                "`seal recipients` as another user does not print the controller's recipient",
            )?;

            // That user seals; an admin applies; the controller materializes.
            let sealed_file = dir.join("x.sealed.yaml");
            seal_to_controller(&nobody_kubeconfig, SYSTEM_NS, &app.name, "x", "v", &sealed_file)?;
            apply_file(cluster, &sealed_file).await?;
            let secrets: Api<Secret> = app.api();
            let sealed: Api<SealedSecret> = app.api();
            wait_for_secret_value(&secrets, "x", "k", "v").await?;
            wait_for_materialized(&sealed, "x").await?;

            // Its Event (events.k8s.io/v1).
            let events: Api<Event> = app.api();
            wait_for("a Materialized Event about x", TIMEOUT, || async {
                let list = events.list(&ListParams::default()).await?;
                Ok::<_, kube::Error>(
                    list.items
                        .iter()
                        .any(|e| {
                            e.reason.as_deref() == Some("Materialized")
                                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("x")
                        })
                        .then_some(()),
                )
            })
            .await?;

            // A rollout restart (patch of a Deployment): only when the data changes.
            let deployments: Api<Deployment> = app.api();
            let web: Deployment = serde_json::from_value(json!({
                "metadata": {"name": "web", "annotations": {"seal.dev/restart-on": "*"}},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "web", "image": "example.invalid/web:1"}]}
                    }
                }
            }))?;
            deployments.create(&PostParams::default(), &web).await?;
            sealed
                .patch(
                    "x",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"rolloutRestartTargets": [{"kind": "Deployment", "name": "web"}]}})),
                )
                .await?;
            wait_for_materialized(&sealed, "x").await?;
            let before = deployments.get("web").await?;
            ensure(
                pod_template_annotation(&before, RESTARTED_AT).is_none(),
                "the Deployment was restarted although the data did not change",
            )?;
            let resealed = dir.join("x2.sealed.yaml");
            seal_to_controller(&nobody_kubeconfig, SYSTEM_NS, &app.name, "x", "v2", &resealed)?;
            apply_file(cluster, &resealed).await?;
            wait_for_secret_value(&secrets, "x", "k", "v2").await?;
            wait_for("the rollout restart annotation on Deployment web", TIMEOUT, || async {
                let d = deployments.get("web").await?;
                Ok::<_, kube::Error>(pod_template_annotation(&d, RESTARTED_AT))
            })
            .await?;
            wait_for_materialized(&sealed, "x").await?;

            // ExternalSecrets: a SecretStore with Vault Kubernetes auth (a
            // TokenRequest token of a ServiceAccount the store names), read by
            // name, its status written; the ExternalSecret materialized. (No
            // ClusterSecretStore: they are cluster-wide and every controller of
            // the run reconciles each one, see the note in external.rs.)
            let bao = env::bao()?;
            let root = bao.root()?;
            let mount = bao.enable_kv2().await?;
            vaultrs::kv2::set(&root, &mount, "app/db", &std::collections::BTreeMap::from([("password", "from-vault")]))
                .await
                .map_err(|e| format!("writing to OpenBao: {e}"))?;
            let policy = format!("deploy-read-{}", env::unique());
            bao.write_policy(&policy, &format!("path \"{mount}/data/app/*\" {{ capabilities = [\"read\"] }}\n"))
                .await?;
            cluster.service_account_for_stores(&app.name, "vault-reader", "*").await?;
            cluster.bind_auth_delegator(&app.name, "vault-reader").await?;
            let k8s_mount = bao.enable_kubernetes_auth(cluster, "app", &app.name, "vault-reader", &[&policy]).await?;
            let store: SecretStore = serde_json::from_value(json!({
                "apiVersion": "seal.dev/v1alpha1", "kind": "SecretStore",
                "metadata": {"name": "vault"},
                "spec": {"provider": {"vault": {
                    "server": bao.addr, "path": mount, "version": "v2", "allowInsecureHttp": true,
                    "auth": {"kubernetes": {
                        "mountPath": k8s_mount, "role": "app", "serviceAccountRef": {"name": "vault-reader"}
                    }}
                }}}
            }))?;
            let stores: Api<SecretStore> = app.api();
            stores.create(&PostParams::default(), &store).await?;
            let external: ExternalSecret = serde_json::from_value(json!({
                "apiVersion": "seal.dev/v1alpha1", "kind": "ExternalSecret",
                "metadata": {"name": "db"},
                "spec": {
                    "secretStoreRef": {"name": "vault", "kind": "SecretStore"},
                    "refreshInterval": "1h",
                    "target": {"name": "db"},
                    "data": [{"secretKey": "password", "remoteRef": {"key": "app/db", "property": "password"}}]
                }
            }))?;
            let externals: Api<ExternalSecret> = app.api();
            externals.create(&PostParams::default(), &external).await?;
            wait_for_secret_value(&secrets, "db", "password", "from-vault").await?;
            wait_for("ExternalSecret db Ready=True reason Materialized", TIMEOUT, || async {
                let es = externals.get("db").await?;
                let c = es.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready").cloned());
                Ok::<_, kube::Error>(c.filter(|c| c.status == "True" && c.reason == "Materialized").map(drop))
            })
            .await?;
            wait_for("SecretStore vault Ready=True reason Authenticated", TIMEOUT, || async {
                let st = stores.get("vault").await?;
                let c = st.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready").cloned());
                Ok::<_, kube::Error>(c.filter(|c| c.status == "True" && c.reason == "Authenticated").map(drop))
            })
            .await?;

            // deletionPolicy Delete works with deploy/'s RBAC: the values
            // gone from Vault, the Secret the ExternalSecret owns is deleted.
            let delete = json!({"spec": {"refreshInterval": "2s", "target": {"deletionPolicy": "Delete"}}});
            externals.patch("db", &PatchParams::default(), &Patch::Merge(&delete)).await?;
            vaultrs::kv2::delete_metadata(&root, &mount, "app/db").await?;
            wait_for("Secret db to be deleted (deletionPolicy Delete)", TIMEOUT, || async {
                Ok::<_, kube::Error>(secrets.get_opt("db").await?.is_none().then_some(()))
            })
            .await?;

            // Nothing it tried was refused. (RBAC denials name the user; other
            // tests' ClusterSecretStores may log unrelated failures here.)
            ctrl.alive()?;
            let refused = format!("User \"system:serviceaccount:{SYSTEM_NS}:{NAME}\" cannot");
            let logs = log_text(&ctrl);
            let denials: Vec<&str> = logs.lines().filter(|l| l.contains(&refused)).collect();
            ensure(
                denials.is_empty(),
                format!("the controller was refused with deploy/'s RBAC:\n{}", denials.join("\n")),
            )?;
            let metrics = ctrl.metrics().await?;
            for kind in ["SealedSecret", "ExternalSecret", "SecretStore"] {
                let errors = counter(&metrics, "seal_reconcile_errors_total", &[&format!("kind=\"{kind}\"")]);
                ensure(errors == 0.0, format!("{errors} {kind} reconcile errors with deploy/'s RBAC:\n{metrics}"))?;
            }
            Ok(())
        }
        .await;
        outcome.map_err(|e| explain(&ctrl, e))
    })
}

/// Deletes cluster-scoped RBAC objects a test made, when dropped.
struct ClusterRbacCleanup {
    client: Client,
    name: String,
}

impl Drop for ClusterRbacCleanup {
    fn drop(&mut self) {
        let client = self.client.clone();
        let name = std::mem::take(&mut self.name);
        // Spawned, not awaited: a drop may happen inside `block_on`.
        env::runtime().spawn(async move {
            let _ = Api::<ClusterRoleBinding>::all(client.clone()).delete(&name, &DeleteParams::default()).await;
            let _ = Api::<ClusterRole>::all(client).delete(&name, &DeleteParams::default()).await;
        });
    }
}

fn missing_rbac_rule_is_reported_precisely() -> Result<(), Failed> {
    install_base()?;
    let cluster = env::cluster()?;
    let dir = tempfile::tempdir()?;
    let dir = dir.path();
    env::block_on(async {
        let admin = cluster.admin();
        // A controller of its own (namespace, ServiceAccount, keys), with the
        // rules deploy/ installed, copied, less `patch` on Secrets.
        let sys = cluster.namespace("deploy-missing-rule-system").await?;
        let app = cluster.namespace("deploy-missing-rule").await?;
        cluster.ensure_service_account(&sys.name, NAME).await?;
        let installed: ClusterRole = Api::all(admin.clone()).get(NAME).await?;
        let mut rules: Vec<PolicyRule> = installed.rules.unwrap_or_default();
        let mut removed = 0;
        for rule in &mut rules {
            let core = rule.api_groups.as_deref() == Some(&[String::new()][..]);
            if core && rule.resources.as_deref() == Some(&["secrets".to_owned()][..]) {
                let n = rule.verbs.len();
                rule.verbs.retain(|v| v != "patch");
                removed += n - rule.verbs.len();
            }
        }
        ensure(
            removed == 1,
            format!("expected one `patch` on secrets in the installed ClusterRole, removed {removed}"),
        )?;
        let role_name = format!("{NAME}-without-secrets-patch-{}", sys.name);
        let _cleanup = ClusterRbacCleanup { client: admin.clone(), name: role_name.clone() };
        let meta = |ns: Option<&str>| ObjectMeta {
            name: Some(role_name.clone()),
            namespace: ns.map(str::to_owned),
            ..Default::default()
        };
        let subject = Subject {
            kind: "ServiceAccount".into(),
            name: NAME.into(),
            namespace: Some(sys.name.clone()),
            ..Default::default()
        };
        Api::<ClusterRole>::all(admin.clone())
            .create(
                &PostParams::default(),
                &ClusterRole { metadata: meta(None), rules: Some(rules), ..Default::default() },
            )
            .await?;
        Api::<ClusterRoleBinding>::all(admin.clone())
            .create(
                &PostParams::default(),
                &ClusterRoleBinding {
                    metadata: meta(None),
                    role_ref: RoleRef {
                        api_group: "rbac.authorization.k8s.io".into(),
                        kind: "ClusterRole".into(),
                        name: role_name.clone(),
                    },
                    subjects: Some(vec![subject.clone()]),
                },
            )
            .await?;
        // The Role deploy/ installs in seal-system, copied to this namespace.
        let installed_role: Role = Api::namespaced(admin.clone(), SYSTEM_NS).get(NAME).await?;
        Api::<Role>::namespaced(admin.clone(), &sys.name)
            .create(&PostParams::default(), &Role { metadata: meta(Some(&sys.name)), rules: installed_role.rules })
            .await?;
        Api::<RoleBinding>::namespaced(admin.clone(), &sys.name)
            .create(
                &PostParams::default(),
                &RoleBinding {
                    metadata: meta(Some(&sys.name)),
                    role_ref: RoleRef {
                        api_group: "rbac.authorization.k8s.io".into(),
                        kind: "Role".into(),
                        name: role_name.clone(),
                    },
                    subjects: Some(vec![subject]),
                },
            )
            .await?;

        let token = cluster.service_account_token(&sys.name, NAME, &[]).await?;
        let kubeconfig = write(dir, "seal-controller.kubeconfig", &cluster.token_kubeconfig(&token))?;
        wait_until_rbac_allows(&cluster.client_with_token(&token).await?, &app.name).await?;
        let ctrl = ControllerProcess::spawn(&kubeconfig, &sys.name, &app.name, &[], &[], dir)?;
        // Everything else works: keys made and published, caches synced.
        let outcome: Result<(), Failed> = async {
            ctrl.wait_readyz(TIMEOUT).await?;

            let sealed_file = dir.join("x.sealed.yaml");
            seal_to_controller(&cluster.kubeconfig, &sys.name, &app.name, "x", "v", &sealed_file)?;
            apply_file(cluster, &sealed_file).await?;

            // The refusal is counted and logged with what was refused, to whom, where.
            let errors_of =
                |m: &str| counter(m, "seal_reconcile_errors_total", &["kind=\"SealedSecret\"", "reason=\"kube_api\""]);
            let user = format!("system:serviceaccount:{}:{NAME}", sys.name);
            let first = wait_for("the refused write to be counted and logged", TIMEOUT, || async {
                ctrl.alive()?;
                let n = errors_of(&ctrl.metrics().await?);
                let logs = log_text(&ctrl);
                let precise = logs.lines().any(|l| {
                    l.contains("forbidden")
                        && l.contains("cannot patch resource \"secrets\"")
                        && l.contains(&user)
                        && l.contains(&format!("namespace \"{}\"", app.name))
                });
                Ok::<_, String>((n >= 1.0 && precise).then_some(n))
            })
            .await
            .map_err(|e| format!("{}\nlast log lines:\n{}", fmsg(e), ctrl.log_tail()))?;
            // It keeps retrying (and counting) while the rule is missing.
            wait_for("the error counter to increase on retry", TIMEOUT, || async {
                Ok::<_, String>((errors_of(&ctrl.metrics().await?) > first).then_some(()))
            })
            .await?;

            // Nothing half-done: no Secret, no claim of success.
            let secrets: Api<Secret> = app.api();
            ensure(secrets.get_opt("x").await?.is_none(), "a Secret was written without `patch` on secrets")?;
            let sealed: Api<SealedSecret> = app.api();
            let ss = sealed.get("x").await?;
            ensure(
                ready(&ss).is_none_or(|(status, _)| status != "True"),
                format!("the SealedSecret claims Ready: {:?}", ready(&ss)),
            )?;
            // The object itself says why: Ready=False, reason Forbidden.
            wait_for("Ready=False reason Forbidden on the SealedSecret", TIMEOUT, || async {
                let ss = sealed.get("x").await.map_err(|e| e.to_string())?;
                Ok::<_, String>(ready(&ss).filter(|(s, r)| s == "False" && r == "Forbidden").map(|_| ()))
            })
            .await?;
            Ok(ctrl.alive()?)
        }
        .await;
        outcome.map_err(|e| explain(&ctrl, e))
    })
}

/// `deploy/overlays/namespaced`: the ClusterRole's rules granted per
/// namespace by RoleBindings, and only ClusterSecretStores cluster-wide. Its
/// RBAC, moved to this test's own namespaces and ServiceAccount, lets a
/// controller serve the watched namespace and nothing else.
fn namespaced_install_serves_its_namespaces_and_reads_nothing_else() -> Result<(), Failed> {
    install_base()?;
    let cluster = env::cluster()?;
    let stream = render(&kubectl_1_20(), "overlays/namespaced")?;
    let docs: Vec<Value> = documents(&stream)
        .iter()
        .map(|d| serde_yaml::from_str::<Value>(d).map_err(|e| format!("a rendered document: {e}")))
        .collect::<Result<_, _>>()?;
    let find = |kind: &str, name: &str, ns: Option<&str>| {
        docs.iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name && d["metadata"]["namespace"].as_str() == ns)
    };
    // What the overlay says: no cluster-wide grant but ClusterSecretStores,
    // RoleBindings where the controller works, the Deployment told so.
    let crb = find("ClusterRoleBinding", NAME, None).ok_or("no ClusterRoleBinding")?;
    ensure(crb["roleRef"]["name"] == "seal-controller-cluster-stores", format!("it binds {}", crb["roleRef"]))?;
    let cluster_role = find("ClusterRole", "seal-controller-cluster-stores", None).ok_or("no cluster-stores role")?;
    for rule in cluster_role["rules"].as_array().into_iter().flatten() {
        let resources: Vec<&str> =
            rule["resources"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        ensure(
            resources.iter().all(|r| r.starts_with("clustersecretstores")),
            format!("the cluster-wide role grants {resources:?}"),
        )?;
    }
    for ns in [SYSTEM_NS, "team-a"] {
        let rb = docs
            .iter()
            .find(|d| d["kind"] == "RoleBinding" && d["metadata"]["namespace"] == ns && d["roleRef"]["name"] == NAME);
        ensure(rb.is_some(), format!("no RoleBinding of the ClusterRole in {ns}"))?;
    }
    let deployment = find("Deployment", NAME, Some(SYSTEM_NS)).ok_or("no Deployment")?;
    let args = deployment["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
    ensure(args.contains("--watch-namespace=team-a"), format!("the Deployment's args are {args}"))?;

    let dir = tempfile::tempdir()?;
    let dir = dir.path();
    env::block_on(async {
        let sys = cluster.namespace("nsi-sys").await?;
        let app = cluster.namespace("nsi-app").await?;
        let other = cluster.namespace("nsi-other").await?;
        cluster.ensure_service_account(&sys.name, NAME).await?;
        // The overlay's RBAC, for this test's namespaces; its cluster-wide
        // binding renamed so that it does not replace the base's.
        let unique = format!("seal-controller-nsi-{}", env::unique());
        let mut rbac = Vec::new();
        for d in &docs {
            let kind = d["kind"].as_str().unwrap_or_default();
            if !["Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"].contains(&kind) {
                continue;
            }
            let text = serde_json::to_string(d)?
                .replace(&format!("\"namespace\":\"{SYSTEM_NS}\""), &format!("\"namespace\":\"{}\"", sys.name))
                .replace("\"namespace\":\"team-a\"", &format!("\"namespace\":\"{}\"", app.name));
            let mut doc: Value = serde_json::from_str(&text)?;
            if kind == "ClusterRoleBinding" {
                doc["metadata"]["name"] = json!(unique);
            }
            rbac.push(serde_yaml::to_string(&doc)?);
        }
        apply_stream(cluster, &rbac.join("---\n"), &[])?;

        let token = cluster.service_account_token(&sys.name, NAME, &[]).await?;
        let client = cluster.client_with_token(&token).await?;
        wait_until_rbac_allows(&client, &app.name).await?;
        // The boundary: nothing in another namespace, nothing cluster-wide.
        ensure(
            is_forbidden(&Api::<Secret>::namespaced(client.clone(), &other.name).list(&ListParams::default()).await),
            "the namespaced controller can list Secrets in another namespace",
        )?;
        ensure(
            is_forbidden(&Api::<Secret>::all(client.clone()).list(&ListParams::default()).await),
            "the namespaced controller can list Secrets cluster-wide",
        )?;
        ensure(
            is_forbidden(
                &Api::<SealedSecret>::namespaced(client.clone(), &other.name).list(&ListParams::default()).await,
            ),
            "the namespaced controller can list SealedSecrets in another namespace",
        )?;

        let kubeconfig = write(dir, "nsi.kubeconfig", &cluster.token_kubeconfig(&token))?;
        let ctrl = ControllerProcess::spawn(&kubeconfig, &sys.name, &app.name, &[], &[], dir)?;
        let outcome: Result<(), Failed> = async {
            ctrl.wait_readyz(TIMEOUT).await?;
            let sealed_file = dir.join("ns.sealed.yaml");
            seal_to_controller(&cluster.kubeconfig, &sys.name, &app.name, "ns", "served", &sealed_file)?;
            apply_file(cluster, &sealed_file).await?;
            wait_for_secret_value(&app.api(), "ns", "k", "served").await?;
            wait_for_materialized(&app.api(), "ns").await?;
            Ok(())
        }
        .await;
        outcome.map_err(|e| explain(&ctrl, e))?;
        // The renamed binding is cluster-scoped: remove it.
        let crbs: Api<ClusterRoleBinding> = Api::all(cluster.admin());
        let _ = crbs.delete(&unique, &Default::default()).await;
        Ok(())
    })
}
