//! The shared OpenBao dev server (`bao server -dev`): address, root token,
//! and helpers that mount what a test asks for under unique paths.

use std::collections::HashMap;

use libtest_mimic::Failed;
use vaultrs::api::auth::approle::requests::SetAppRoleRequestBuilder;
use vaultrs::api::auth::kubernetes::requests::{
    ConfigureKubernetesAuthRequestBuilder, CreateKubernetesRoleRequestBuilder,
};
use vaultrs::api::auth::oidc::requests::{SetConfigurationRequestBuilder, SetRoleRequestBuilder};
use vaultrs::api::sys::requests::EnableEngineRequestBuilder;
use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};

use super::kube::Cluster;

/// The OpenBao dev server started by `tests/env/up`.
pub struct Bao {
    /// `http://127.0.0.1:PORT`.
    pub addr: String,
    /// The dev server's root token.
    pub root_token: String,
}

/// An AppRole with its credentials.
pub struct AppRole {
    pub mount: String,
    pub role: String,
    pub role_id: String,
    pub secret_id: String,
}

impl Bao {
    pub(super) fn new(addr: String, root_token: String) -> Self {
        Self { addr, root_token }
    }

    /// A client using `token`.
    pub fn client_with_token(&self, token: &str) -> Result<VaultClient, Failed> {
        let settings = VaultClientSettingsBuilder::default()
            .address(&self.addr)
            .token(token)
            .build()
            .map_err(|e| format!("vault client settings: {e}"))?;
        Ok(VaultClient::new(settings).map_err(|e| format!("vault client: {e}"))?)
    }

    /// A client using the root token.
    pub fn root(&self) -> Result<VaultClient, Failed> {
        self.client_with_token(&self.root_token)
    }

    /// Mounts a new KV secrets engine (version 1 or 2) at a unique path
    /// starting with `prefix`; returns the mount path.
    pub async fn enable_kv(&self, prefix: &str, version: u8) -> Result<String, Failed> {
        let mount = format!("{prefix}-{}", super::unique());
        let options = HashMap::from([("version".to_string(), version.to_string())]);
        vaultrs::sys::mount::enable(
            &self.root()?,
            &mount,
            "kv",
            Some(EnableEngineRequestBuilder::default().options(options)),
        )
        .await
        .map_err(|e| format!("enabling kv v{version} at {mount}: {e}"))?;
        Ok(mount)
    }

    /// A KV v1 mount at a unique path.
    pub async fn enable_kv1(&self) -> Result<String, Failed> {
        self.enable_kv("kv1", 1).await
    }

    /// A KV v2 mount at a unique path.
    pub async fn enable_kv2(&self) -> Result<String, Failed> {
        self.enable_kv("kv2", 2).await
    }

    /// Enables an auth method of type `kind` at a unique path; returns it.
    pub async fn enable_auth(&self, kind: &str) -> Result<String, Failed> {
        let mount = format!("{kind}-{}", super::unique());
        vaultrs::sys::auth::enable(&self.root()?, &mount, kind, None)
            .await
            .map_err(|e| format!("enabling auth {kind} at {mount}: {e}"))?;
        Ok(mount)
    }

    /// Writes ACL policy `name`.
    pub async fn write_policy(&self, name: &str, hcl: &str) -> Result<(), Failed> {
        vaultrs::sys::policy::set(&self.root()?, name, hcl).await.map_err(|e| format!("writing policy {name}: {e}"))?;
        Ok(())
    }

    /// A fresh AppRole auth mount with one role whose tokens carry
    /// `policies`, plus a role_id and a freshly generated secret_id.
    pub async fn enable_approle(&self, policies: &[&str]) -> Result<AppRole, Failed> {
        let root = self.root()?;
        let mount = self.enable_auth("approle").await?;
        let role = "app".to_string();
        vaultrs::auth::approle::role::set(
            &root,
            &mount,
            &role,
            Some(
                SetAppRoleRequestBuilder::default()
                    .token_policies(policies.iter().map(|p| p.to_string()).collect::<Vec<_>>())
                    .token_ttl("10m"),
            ),
        )
        .await
        .map_err(|e| format!("creating approle role {mount}/{role}: {e}"))?;
        let role_id = vaultrs::auth::approle::role::read_id(&root, &mount, &role)
            .await
            .map_err(|e| format!("reading role_id of {mount}/{role}: {e}"))?
            .role_id;
        let secret_id = vaultrs::auth::approle::role::secret::generate(&root, &mount, &role, None)
            .await
            .map_err(|e| format!("generating secret_id for {mount}/{role}: {e}"))?
            .secret_id;
        Ok(AppRole { mount, role, role_id, secret_id })
    }

    /// A fresh JWT auth mount that validates tokens with `pubkeys` (PEM) and
    /// `bound_issuer`, with role `role` binding claim `sub` = `subject` and
    /// granting `policies`. With the cluster's service-account key and issuer
    /// this accepts service-account tokens offline (Kubernetes/JWT auth).
    pub async fn enable_jwt(
        &self,
        pubkeys: &[&str],
        bound_issuer: &str,
        role: &str,
        subject: &str,
        audience: &str,
        policies: &[&str],
    ) -> Result<String, Failed> {
        let root = self.root()?;
        let mount = self.enable_auth("jwt").await?;
        vaultrs::auth::oidc::config::set(
            &root,
            &mount,
            Some(
                SetConfigurationRequestBuilder::default()
                    .jwt_validation_pubkeys(pubkeys.iter().map(|k| k.to_string()).collect::<Vec<_>>())
                    .bound_issuer(bound_issuer),
            ),
        )
        .await
        .map_err(|e| format!("configuring jwt auth at {mount}: {e}"))?;
        vaultrs::auth::oidc::role::set(
            &root,
            &mount,
            role,
            "sub",
            vec![],
            Some(
                SetRoleRequestBuilder::default()
                    .role_type("jwt")
                    .bound_subject(subject)
                    .bound_audiences(vec![audience.to_string()])
                    .token_policies(policies.iter().map(|p| p.to_string()).collect::<Vec<_>>())
                    .token_ttl("10m"),
            ),
        )
        .await
        .map_err(|e| format!("creating jwt role {mount}/{role}: {e}"))?;
        Ok(mount)
    }

    /// A fresh `kubernetes` auth mount pointed at `cluster` (its URL and CA,
    /// `disable_local_ca_jwt`), with role `role` bound to ServiceAccount
    /// `namespace/service_account` and granting `policies`. The
    /// ServiceAccount must be allowed to review tokens: see
    /// [`Cluster::bind_auth_delegator`]; OpenBao reviews each login's token
    /// with that same token.
    pub async fn enable_kubernetes_auth(
        &self,
        cluster: &Cluster,
        role: &str,
        namespace: &str,
        service_account: &str,
        policies: &[&str],
    ) -> Result<String, Failed> {
        let root = self.root()?;
        let mount = self.enable_auth("kubernetes").await?;
        vaultrs::auth::kubernetes::configure(
            &root,
            &mount,
            &cluster.api_url,
            Some(
                ConfigureKubernetesAuthRequestBuilder::default()
                    .kubernetes_ca_cert(cluster.ca_pem.clone())
                    .disable_local_ca_jwt(true),
            ),
        )
        .await
        .map_err(|e| format!("configuring kubernetes auth at {mount}: {e}"))?;
        vaultrs::auth::kubernetes::role::create(
            &root,
            &mount,
            role,
            Some(
                CreateKubernetesRoleRequestBuilder::default()
                    .bound_service_account_names(vec![service_account.to_string()])
                    .bound_service_account_namespaces(vec![namespace.to_string()])
                    .token_policies(policies.iter().map(|p| p.to_string()).collect::<Vec<_>>())
                    .token_ttl("10m"),
            ),
        )
        .await
        .map_err(|e| format!("creating kubernetes role {mount}/{role}: {e}"))?;
        Ok(mount)
    }
}
