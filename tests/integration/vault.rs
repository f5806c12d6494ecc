//! Tests against the real OpenBao dev server: KV v1 and v2, and logins
//! (AppRole; Kubernetes and JWT auth with real service-account tokens of the
//! test control plane) whose tokens read exactly what their policy allows.

use std::collections::HashMap;

use libtest_mimic::Failed;
use vaultrs::client::VaultClient;
use vaultrs::error::ClientError;

use crate::env::{self, ensure};

/// OpenBao's own checks, run as one step of the environment's smoke test
/// (`env::smoke`): KV v1 and v2, and logins whose tokens read exactly what
/// their policy allows.
pub fn checks() -> Vec<env::Check> {
    vec![
        ("KV v1: a write then a read returns the value", kv1_write_then_read_returns_value),
        (
            "KV v2: two writes, then the latest and the first version",
            kv2_write_twice_then_read_latest_and_first_version,
        ),
        (
            "AppRole: the token reads its path and is denied elsewhere",
            approle_login_token_reads_allowed_path_and_is_denied_elsewhere,
        ),
        (
            "Kubernetes auth with a ServiceAccount token (audience vault)",
            kubernetes_auth_login_with_service_account_token_reads_value,
        ),
        ("JWT auth with a ServiceAccount token", jwt_auth_login_with_service_account_token_reads_value),
    ]
}

type Data = HashMap<String, String>;

fn data(pairs: &[(&str, &str)]) -> Data {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn kv1_write_then_read_returns_value() -> Result<(), Failed> {
    let bao = env::bao()?;
    env::block_on(async {
        let root = bao.root()?;
        let mount = bao.enable_kv1().await?;
        let written = data(&[("username", "app"), ("password", "s3cret")]);
        let as_refs: HashMap<&str, &str> = written.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        vaultrs::kv1::set(&root, &mount, "db/creds", &as_refs).await?;
        let read: Data = vaultrs::kv1::get(&root, &mount, "db/creds").await?;
        ensure(read == written, format!("kv1 read {read:?}, wrote {written:?}"))?;
        // A v1 mount has no versioned data/ API: the v2 read must fail.
        let v2 = vaultrs::kv2::read::<Data>(&root, &mount, "db/creds").await;
        ensure(v2.is_err(), format!("kv2 read on a kv1 mount succeeded: {v2:?}"))
    })
}

fn kv2_write_twice_then_read_latest_and_first_version() -> Result<(), Failed> {
    let bao = env::bao()?;
    env::block_on(async {
        let root = bao.root()?;
        let mount = bao.enable_kv2().await?;
        let first = data(&[("token", "one")]);
        let second = data(&[("token", "two")]);
        let v1 = vaultrs::kv2::set(&root, &mount, "app/api", &first).await?;
        let v2 = vaultrs::kv2::set(&root, &mount, "app/api", &second).await?;
        ensure((v1.version, v2.version) == (1, 2), format!("versions {} and {}", v1.version, v2.version))?;
        let latest: Data = vaultrs::kv2::read(&root, &mount, "app/api").await?;
        ensure(latest == second, format!("kv2 latest {latest:?}, wrote {second:?}"))?;
        let old: Data = vaultrs::kv2::read_version(&root, &mount, "app/api", 1).await?;
        ensure(old == first, format!("kv2 version 1 {old:?}, wrote {first:?}"))
    })
}

/// Fails unless `result` is a 403 from the server.
fn expect_denied<T: std::fmt::Debug>(what: &str, result: Result<T, ClientError>) -> Result<(), Failed> {
    match result {
        Err(ClientError::APIError { code: 403, .. }) => Ok(()),
        other => Err(format!("{what}: expected 403, got {other:?}").into()),
    }
}

/// Writes `secret` in a new KV v2 mount, a policy `name` reading only that
/// path; returns (mount, path).
async fn kv2_secret_with_read_policy(
    bao: &env::Bao,
    root: &VaultClient,
    policy: &str,
    secret: &Data,
) -> Result<(String, String), Failed> {
    let mount = bao.enable_kv2().await?;
    let path = "team/app".to_string();
    vaultrs::kv2::set(root, &mount, &path, secret).await?;
    vaultrs::kv2::set(root, &mount, "other/app", &data(&[("no", "access")])).await?;
    bao.write_policy(policy, &format!("path \"{mount}/data/{path}\" {{ capabilities = [\"read\"] }}\n")).await?;
    Ok((mount, path))
}

/// Reads the allowed value with `token` and checks that the other path is denied.
async fn token_reads_only_allowed(
    bao: &env::Bao,
    token: &str,
    mount: &str,
    path: &str,
    expected: &Data,
) -> Result<(), Failed> {
    let client = bao.client_with_token(token)?;
    let read: Data = vaultrs::kv2::read(&client, mount, path).await?;
    ensure(&read == expected, format!("read {read:?}, expected {expected:?}"))?;
    expect_denied("reading a path outside the policy", vaultrs::kv2::read::<Data>(&client, mount, "other/app").await)
}

fn approle_login_token_reads_allowed_path_and_is_denied_elsewhere() -> Result<(), Failed> {
    let bao = env::bao()?;
    env::block_on(async {
        let root = bao.root()?;
        let secret = data(&[("api_key", "k-123")]);
        let policy = format!("approle-read-{}", env::unique());
        let (mount, path) = kv2_secret_with_read_policy(bao, &root, &policy, &secret).await?;
        let approle = bao.enable_approle(&[&policy]).await?;
        let auth = vaultrs::auth::approle::login(
            &bao.client_with_token("")?,
            &approle.mount,
            &approle.role_id,
            &approle.secret_id,
        )
        .await?;
        ensure(auth.policies.contains(&policy), format!("approle token policies {:?} lack {policy}", auth.policies))?;
        token_reads_only_allowed(bao, &auth.client_token, &mount, &path, &secret).await?;
        // A wrong secret_id is refused.
        let bad = vaultrs::auth::approle::login(
            &bao.client_with_token("")?,
            &approle.mount,
            &approle.role_id,
            "00000000-0000-0000-0000-000000000000",
        )
        .await;
        ensure(bad.is_err(), "approle login with a wrong secret_id succeeded")
    })
}

fn kubernetes_auth_login_with_service_account_token_reads_value() -> Result<(), Failed> {
    let cluster = env::cluster()?;
    let bao = env::bao()?;
    env::block_on(async {
        let root = bao.root()?;
        let ns = cluster.namespace("bao-k8s").await?;
        cluster.ensure_service_account(&ns.name, "app").await?;
        cluster.bind_auth_delegator(&ns.name, "app").await?;
        let secret = data(&[("dsn", "postgres://db")]);
        let policy = format!("k8s-read-{}", env::unique());
        let (mount, path) = kv2_secret_with_read_policy(bao, &root, &policy, &secret).await?;
        let auth_mount = bao.enable_kubernetes_auth(cluster, "app", &ns.name, "app", &[&policy]).await?;
        let jwt = cluster.service_account_token(&ns.name, "app", &["vault"]).await?;
        let auth = vaultrs::auth::kubernetes::login(&bao.client_with_token("")?, &auth_mount, "app", &jwt)
            .await
            .map_err(|e| format!("kubernetes login: {e} ({e:?})"))?;
        token_reads_only_allowed(bao, &auth.client_token, &mount, &path, &secret).await?;
        // Another ServiceAccount of the namespace is not bound to the role.
        cluster.ensure_service_account(&ns.name, "intruder").await?;
        cluster.bind_auth_delegator(&ns.name, "intruder").await?;
        let other = cluster.service_account_token(&ns.name, "intruder", &["vault"]).await?;
        let denied = vaultrs::auth::kubernetes::login(&bao.client_with_token("")?, &auth_mount, "app", &other).await;
        ensure(denied.is_err(), "kubernetes login as an unbound ServiceAccount succeeded")
    })
}

fn jwt_auth_login_with_service_account_token_reads_value() -> Result<(), Failed> {
    let cluster = env::cluster()?;
    let bao = env::bao()?;
    env::block_on(async {
        let root = bao.root()?;
        let ns = cluster.namespace("bao-jwt").await?;
        cluster.ensure_service_account(&ns.name, "app").await?;
        let secret = data(&[("token", "jwt-ok")]);
        let policy = format!("jwt-read-{}", env::unique());
        let (mount, path) = kv2_secret_with_read_policy(bao, &root, &policy, &secret).await?;
        let audience = "seal-test";
        let auth_mount = bao
            .enable_jwt(
                &[&cluster.service_account_public_key_pem],
                &cluster.service_account_issuer,
                "app",
                &format!("system:serviceaccount:{}:app", ns.name),
                audience,
                &[&policy],
            )
            .await?;
        let jwt = cluster.service_account_token(&ns.name, "app", &[audience]).await?;
        let auth = vaultrs::auth::oidc::login(&bao.client_with_token("")?, &auth_mount, &jwt, Some("app".into()))
            .await
            .map_err(|e| format!("jwt login: {e} ({e:?})"))?;
        token_reads_only_allowed(bao, &auth.client_token, &mount, &path, &secret).await?;
        // A token for another audience is refused.
        let wrong = cluster.service_account_token(&ns.name, "app", &["someone-else"]).await?;
        let denied =
            vaultrs::auth::oidc::login(&bao.client_with_token("")?, &auth_mount, &wrong, Some("app".into())).await;
        ensure(denied.is_err(), "jwt login with a token for another audience succeeded")
    })
}
