//! The shared OpenBao dev server (`bao server -dev`): address, root token,
//! and helpers that mount what a test asks for under unique paths.

use std::collections::HashMap;

use libtest_mimic::Failed;
use vaultrs::api::auth::approle::requests::SetAppRoleRequestBuilder;
use vaultrs::api::auth::kubernetes::requests::CreateKubernetesRoleRequestBuilder;
use vaultrs::api::auth::oidc::requests::{SetConfigurationRequestBuilder, SetRoleRequestBuilder};
use vaultrs::api::sys::requests::EnableEngineRequestBuilder;
use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};

use super::kube::Cluster;

/// The OpenBao dev server started by `tests/env/up`.
pub struct Bao {
    /// `http://127.0.0.1:PORT` (`https://` for a TLS dev server).
    pub addr: String,
    /// The dev server's root token.
    pub root_token: String,
    /// The CA that signed a TLS dev server's certificate (PEM file).
    pub ca_file: Option<std::path::PathBuf>,
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
        Self { addr, root_token, ca_file: None }
    }

    /// A client using `token`.
    pub fn client_with_token(&self, token: &str) -> Result<VaultClient, Failed> {
        let mut settings = VaultClientSettingsBuilder::default();
        settings.address(&self.addr).token(token);
        if let Some(ca) = &self.ca_file {
            settings.ca_certs(vec![ca.display().to_string()]);
        }
        let settings = settings.build().map_err(|e| format!("vault client settings: {e}"))?;
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
        if version == 2 {
            self.wait_writable(&mount).await?;
        }
        Ok(mount)
    }

    /// A new KV v2 mount answers writes with 400 until its setup is done
    /// (a moment, longer on a loaded machine): writes and removes a probe
    /// until one is accepted, so tests write to a ready mount.
    async fn wait_writable(&self, mount: &str) -> Result<(), Failed> {
        let root = self.root()?;
        let probe = HashMap::from([("probe", "x")]);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            match vaultrs::kv2::set(&root, mount, "seal-test-probe", &probe).await {
                Ok(_) => break,
                Err(e) if std::time::Instant::now() > deadline => {
                    return Err(format!("kv v2 mount {mount} not writable after 30 s: {e}").into());
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
            }
        }
        vaultrs::kv2::delete_metadata(&root, mount, "seal-test-probe")
            .await
            .map_err(|e| format!("removing the probe of {mount}: {e}"))?;
        Ok(())
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
        self.enable_approle_with_ttl(policies, "10m").await
    }

    /// [`Bao::enable_approle`] whose login tokens live `token_ttl` (e.g.
    /// `6s`): to test that a client replaces its token before it expires.
    pub async fn enable_approle_with_ttl(&self, policies: &[&str], token_ttl: &str) -> Result<AppRole, Failed> {
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
                    .token_ttl(token_ttl),
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

    /// A fresh `kubernetes` auth mount pointed at `cluster` (its URL and CA),
    /// with role `role` bound to ServiceAccount `namespace/service_account`,
    /// accepting only tokens for the audience `vault` (seal never mints a
    /// token for the API server's own audience), granting `policies`.
    /// OpenBao reviews logins with its own reviewer token (ServiceAccount
    /// `namespace/bao-token-reviewer`, bound to `system:auth-delegator`).
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
        cluster.ensure_service_account(namespace, "bao-token-reviewer").await?;
        cluster.bind_auth_delegator(namespace, "bao-token-reviewer").await?;
        let reviewer = cluster.service_account_token(namespace, "bao-token-reviewer", &[]).await?;
        // vaultrs cannot set token_reviewer_jwt: the config is written as is.
        let config = serde_json::json!({
            "kubernetes_host": cluster.api_url,
            "kubernetes_ca_cert": cluster.ca_pem,
            "token_reviewer_jwt": reviewer,
            "disable_local_ca_jwt": true,
        });
        let resp = reqwest::Client::new()
            .post(format!("{}/v1/auth/{mount}/config", self.addr))
            .header("X-Vault-Token", &self.root_token)
            .json(&config)
            .send()
            .await
            .map_err(|e| format!("configuring kubernetes auth at {mount}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("configuring kubernetes auth at {mount}: HTTP {}", resp.status()).into());
        }
        vaultrs::auth::kubernetes::role::create(
            &root,
            &mount,
            role,
            Some(
                CreateKubernetesRoleRequestBuilder::default()
                    .bound_service_account_names(vec![service_account.to_string()])
                    .bound_service_account_namespaces(vec![namespace.to_string()])
                    .audience("vault")
                    .token_policies(policies.iter().map(|p| p.to_string()).collect::<Vec<_>>())
                    .token_ttl("10m"),
            ),
        )
        .await
        .map_err(|e| format!("creating kubernetes role {mount}/{role}: {e}"))?;
        Ok(mount)
    }
}

/// A private OpenBao dev server of one test (not the shared one), for tests
/// that stop OpenBao or read its audit log. Killed when dropped; a watchdog
/// kills it too if the test binary dies first.
pub struct DevServer {
    /// Address and root token of this server.
    pub bao: Bao,
    /// The audit log file, when started with one.
    pub audit_log: Option<std::path::PathBuf>,
    dir: std::path::PathBuf,
    port: u16,
    child: Option<std::process::Child>,
    watchdog: Option<std::process::Child>,
}

impl DevServer {
    /// Starts `bao server -dev` on a free loopback port (its cluster listener
    /// takes port+1) with a fresh root token, its files in `dir`; with
    /// `audit`, a file audit device writes every request to `dir/audit.log`
    /// (OpenBao only allows audit devices in its configuration file).
    pub async fn start(dir: &std::path::Path, audit: bool) -> Result<DevServer, Failed> {
        Self::start_with(dir, audit, false).await
    }

    /// Like [`DevServer::start`], serving HTTPS (`-dev-tls`) with a
    /// certificate from its own CA, whose PEM file is in `bao.ca_file`.
    pub async fn start_tls(dir: &std::path::Path) -> Result<DevServer, Failed> {
        Self::start_with(dir, false, true).await
    }

    async fn start_with(dir: &std::path::Path, audit: bool, tls: bool) -> Result<DevServer, Failed> {
        let port = free_port_pair()?;
        let token = format!("dev-root-{}-{}", std::process::id(), super::unique());
        let audit_log = audit.then(|| dir.join("audit.log"));
        let scheme = if tls { "https" } else { "http" };
        let mut bao = Bao::new(format!("{scheme}://127.0.0.1:{port}"), token);
        bao.ca_file = tls.then(|| dir.join("vault-ca.pem"));
        let mut s = DevServer { bao, audit_log, dir: dir.to_path_buf(), port, child: None, watchdog: None };
        s.spawn().await?;
        Ok(s)
    }

    async fn spawn(&mut self) -> Result<(), Failed> {
        let bin = super::bin_dir().join("bao");
        let home = self.dir.join("bao-home");
        std::fs::create_dir_all(&home)?;
        let mut cmd = std::process::Command::new(&bin);
        cmd.args(["server", "-dev", "-log-level=warn"])
            .arg(format!("-dev-listen-address=127.0.0.1:{}", self.port))
            .arg(format!("-dev-root-token-id={}", self.bao.root_token));
        if self.bao.ca_file.is_some() {
            cmd.arg("-dev-tls").arg(format!("-dev-tls-cert-dir={}", self.dir.display()));
        }
        if let Some(log) = &self.audit_log {
            let config = self.dir.join("audit.hcl");
            std::fs::write(
                &config,
                format!("audit \"file\" \"to-file\" {{\n  options {{\n    file_path = {:?}\n  }}\n}}\n", log.display()),
            )?;
            cmd.arg(format!("-config={}", config.display()));
        }
        let out = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("bao.log"))?;
        cmd.env("HOME", &home).stdin(std::process::Stdio::null()).stdout(out.try_clone()?).stderr(out);
        let child = cmd.spawn().map_err(|e| format!("starting {}: {e}", bin.display()))?;
        self.watchdog = super::watchdog(child.id());
        self.child = Some(child);
        let log = self.dir.join("bao.log");
        let bao = &self.bao;
        let child = self.child.as_mut().ok_or("no child")?;
        super::wait_for("the private OpenBao dev server to answer", std::time::Duration::from_secs(60), || {
            let exited = child.try_wait().ok().flatten();
            // Made on each try: a TLS server writes its CA file as it starts.
            let root = bao.root();
            let log = &log;
            async move {
                if let Some(status) = exited {
                    let text = std::fs::read_to_string(log).unwrap_or_default();
                    return Err(format!("bao exited ({status}): {text}"));
                }
                let root = root.map_err(|e| format!("{e:?}"))?;
                // (vaultrs's `sys::health` cannot parse OpenBao's answer.)
                match vaultrs::sys::mount::list(&root).await {
                    Ok(_) => Ok(Some(())),
                    Err(e) => {
                        let text = std::fs::read_to_string(log).unwrap_or_default();
                        Err(format!("{e} ({e:?}); its log:\n{text}"))
                    }
                }
            }
        })
        .await
    }

    /// Kills the server (SIGKILL: as abrupt as a crash). A dev server keeps
    /// its data in memory: it is all gone.
    pub fn stop(&mut self) {
        for mut c in [self.child.take(), self.watchdog.take()].into_iter().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same address with the same root token
    /// (and an empty store: mounts, policies and values must be made again).
    pub async fn restart(&mut self) -> Result<(), Failed> {
        self.stop();
        self.spawn().await
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A free loopback port whose successor is free too.
fn free_port_pair() -> Result<u16, Failed> {
    for _ in 0..50 {
        let a = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = a.local_addr()?.port();
        if port < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return Ok(port);
        }
    }
    Err("no free pair of loopback ports".into())
}
