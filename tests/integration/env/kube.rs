//! The shared Kubernetes control plane: an admin client, clients acting as a
//! ServiceAccount (tokens from the TokenRequest API, so RBAC is real), and a
//! fresh namespace per test.

use std::path::{Path, PathBuf};

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleRef, Subject};
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use libtest_mimic::Failed;

/// The control plane started by `tests/env/up`.
pub struct Cluster {
    /// The kubeconfig `up` wrote (admin token, member of `system:masters`).
    pub kubeconfig: PathBuf,
    /// `https://127.0.0.1:PORT`.
    pub api_url: String,
    /// PEM of the CA that signed the API server's serving certificate.
    pub ca_pem: String,
    /// Path of that PEM file.
    pub ca_path: PathBuf,
    /// PEM of the public key that verifies service-account tokens.
    pub service_account_public_key_pem: String,
    /// The `iss` of service-account tokens.
    pub service_account_issuer: String,
    admin: Client,
}

impl Cluster {
    pub(super) async fn connect(state_dir: &Path, kubeconfig: &Path) -> Result<Self, String> {
        let read = |name: &str| {
            std::fs::read_to_string(state_dir.join(name))
                .map_err(|e| format!("reading {}: {e}", state_dir.join(name).display()))
        };
        let ca_pem = read("ca.crt")?;
        let api_url = read("apiserver.url")?.trim().to_string();
        let service_account_public_key_pem = read("pki/sa.pub")?;
        let kc = Kubeconfig::read_from(kubeconfig).map_err(|e| format!("reading {}: {e}", kubeconfig.display()))?;
        let admin = client_from_kubeconfig(kc).await?;
        Ok(Self {
            kubeconfig: kubeconfig.to_path_buf(),
            api_url,
            ca_pem,
            ca_path: state_dir.join("ca.crt"),
            service_account_public_key_pem,
            service_account_issuer: "https://kubernetes.default.svc.cluster.local".into(),
            admin,
        })
    }

    /// A client with full rights (`system:masters`).
    pub fn admin(&self) -> Client {
        self.admin.clone()
    }

    /// A kubeconfig (YAML) for this API server that authenticates with
    /// `token`: what a program started by a test (kubectl, seal,
    /// seal-controller) reads from a file named by `KUBECONFIG`.
    pub fn token_kubeconfig(&self, token: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\n\
             clusters:\n- name: c\n  cluster:\n    server: {}\n    certificate-authority: {}\n\
             users:\n- name: u\n  user:\n    token: {token}\n\
             contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n\
             current-context: c\n",
            self.api_url,
            self.ca_path.display(),
        )
    }

    /// A client authenticated with `token` (e.g. a service-account token).
    pub async fn client_with_token(&self, token: &str) -> Result<Client, Failed> {
        let yaml = self.token_kubeconfig(token);
        let kc = Kubeconfig::from_yaml(&yaml).map_err(|e| format!("token kubeconfig: {e}"))?;
        Ok(client_from_kubeconfig(kc).await?)
    }

    /// A token for ServiceAccount `namespace/name` from the TokenRequest API
    /// (valid one hour; `audiences` empty means the API server's own).
    pub async fn service_account_token(
        &self,
        namespace: &str,
        name: &str,
        audiences: &[&str],
    ) -> Result<String, Failed> {
        let sas: Api<ServiceAccount> = Api::namespaced(self.admin(), namespace);
        let req = TokenRequest {
            spec: TokenRequestSpec {
                audiences: audiences.iter().map(|a| a.to_string()).collect(),
                expiration_seconds: Some(3600),
                ..Default::default()
            },
            ..Default::default()
        };
        let resp = sas
            .create_token_request(name, &PostParams::default(), &req)
            .await
            .map_err(|e| format!("TokenRequest for {namespace}/{name}: {e}"))?;
        resp.status
            .map(|s| s.token)
            .ok_or_else(|| format!("TokenRequest for {namespace}/{name} returned no token").into())
    }

    /// Creates ServiceAccount `namespace/name` if needed.
    pub async fn ensure_service_account(&self, namespace: &str, name: &str) -> Result<(), Failed> {
        let sas: Api<ServiceAccount> = Api::namespaced(self.admin(), namespace);
        let sa = ServiceAccount {
            metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
            ..Default::default()
        };
        match sas.create(&PostParams::default(), &sa).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
            Err(e) => Err(format!("creating ServiceAccount {namespace}/{name}: {e}").into()),
        }
    }

    /// Creates ServiceAccount `namespace/name` if needed and lets the stores
    /// `grant` names (`seal.dev/allowed-stores`, e.g. `*`) mint its tokens.
    pub async fn service_account_for_stores(&self, namespace: &str, name: &str, grant: &str) -> Result<(), Failed> {
        self.ensure_service_account(namespace, name).await?;
        let sas: Api<ServiceAccount> = Api::namespaced(self.admin(), namespace);
        let patch = serde_json::json!({"metadata": {"annotations": {"seal.dev/allowed-stores": grant}}});
        sas.patch(name, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch))
            .await
            .map_err(|e| format!("annotating ServiceAccount {namespace}/{name}: {e}"))?;
        Ok(())
    }

    /// A client acting as ServiceAccount `namespace/name` (created if needed),
    /// authenticated by a TokenRequest token: it has exactly the rights RBAC
    /// grants that ServiceAccount.
    pub async fn client_as_service_account(&self, namespace: &str, name: &str) -> Result<Client, Failed> {
        self.ensure_service_account(namespace, name).await?;
        let token = self.service_account_token(namespace, name, &[]).await?;
        self.client_with_token(&token).await
    }

    /// Binds ServiceAccount `namespace/name` to ClusterRole
    /// `system:auth-delegator` (so that OpenBao's kubernetes auth can review
    /// tokens with that ServiceAccount's own token). Deleted with nothing:
    /// the binding is named after the namespace, which is unique per test.
    pub async fn bind_auth_delegator(&self, namespace: &str, name: &str) -> Result<(), Failed> {
        let crbs: Api<ClusterRoleBinding> = Api::all(self.admin());
        let crb = ClusterRoleBinding {
            metadata: ObjectMeta { name: Some(format!("{namespace}-{name}-auth-delegator")), ..Default::default() },
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "ClusterRole".into(),
                name: "system:auth-delegator".into(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".into(),
                name: name.into(),
                namespace: Some(namespace.into()),
                ..Default::default()
            }]),
        };
        match crbs.create(&PostParams::default(), &crb).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
            Err(e) => Err(format!("binding {namespace}/{name} to system:auth-delegator: {e}").into()),
        }
    }

    /// A fresh namespace named after `test` (made unique), deleted
    /// (best-effort, in the background) when the returned value is dropped.
    pub async fn namespace(&self, test: &str) -> Result<TestNamespace, Failed> {
        let mut base: String =
            test.to_ascii_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
        let suffix = format!("-{}-{}", std::process::id(), super::unique());
        base.truncate(63 - suffix.len());
        let name = format!("{}{suffix}", base.trim_matches('-'));
        let namespaces: Api<Namespace> = Api::all(self.admin());
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some([("seal.dev/test".to_string(), "true".to_string())].into()),
                ..Default::default()
            },
            ..Default::default()
        };
        namespaces.create(&PostParams::default(), &ns).await.map_err(|e| format!("creating namespace {name}: {e}"))?;
        Ok(TestNamespace { name, client: self.admin() })
    }
}

/// A namespace of one test; deleted when dropped.
pub struct TestNamespace {
    pub name: String,
    client: Client,
}

impl TestNamespace {
    /// An [`Api`] for namespaced resources of this namespace, as admin.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let name = std::mem::take(&mut self.name);
        // Spawned, not awaited: a drop may happen inside `block_on`. The whole
        // control plane is discarded at the end of the run anyway.
        super::runtime().spawn(async move {
            let _ = api.delete(&name, &DeleteParams::background()).await;
        });
    }
}

async fn client_from_kubeconfig(kc: Kubeconfig) -> Result<Client, String> {
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| format!("kubeconfig: {e}"))?;
    Client::try_from(config).map_err(|e| format!("kube client: {e}"))
}
