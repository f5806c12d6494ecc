//! External Secrets Operator manifests, in the shapes ESO's documentation
//! shows, applied with only `apiVersion` changed (`external-secrets.io/v1beta1`
//! → `seal.dev/v1alpha1`) against the real OpenBao: each must produce the
//! Secret ESO would produce, byte for byte. Template failures are reported
//! on the object with a reason and a position, the last good Secret is
//! kept, and no value appears in any message.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::ListParams;
use libtest_mimic::{Failed, Trial};
use seal::api::ExternalSecret;
use serde_json::json;

use crate::env::{self, ensure, wait_for};
use crate::fixtures::kubectl;
use crate::fixtures::metrics::metric;
use crate::fixtures::objects::{
    cluster_external_secrets_lock, create, create_store, kv, put_secret, ready_of, token_auth, vault, wait_ready,
};
use crate::fixtures::{Opts, fmsg, setup};
use crate::support::assert_absent;

const CANARY: &str = "canary-Es0-Tmpl-9Qw";

/// `kubectl apply -f -` of a stream, as a user would; retried while
/// kubectl's discovery catches up with CRDs applied moments ago.
async fn apply(cluster: &crate::env::Cluster, manifests: &str) -> Result<(), Failed> {
    wait_for("kubectl apply of the manifests", Duration::from_secs(30), || async {
        let out = kubectl(&cluster.kubeconfig, &["apply", "-f", "-"])
            .stdin(manifests.to_owned())
            .output()
            .map_err(|e| format!("{e:?}"))?;
        if out.status.success() { Ok(Some(())) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
    })
    .await
}

/// Every ESO-compatibility test.
pub fn trials() -> Vec<Trial> {
    vec![
        env::trial(
            "eso::templated_manifests_from_eso_docs_apply_with_only_apiversion_changed",
            templated_manifests_apply_unchanged,
        ),
        env::trial(
            "eso::a_pkcs12_keystore_becomes_the_pem_openssl_reads_and_a_keystore_openssl_opens",
            pkcs12_keystore,
        ),
        env::trial("eso::find_rewrite_key_conversion_and_metadata_fetch_name_keys_as_eso_does", find_and_rewrite),
        env::trial("eso::refresh_policies_on_change_and_created_once_read_only_when_due", refresh_policies),
        env::trial("eso::a_changed_store_re_reads_its_external_secrets_at_once", store_change_requeues),
        env::trial("eso::the_api_server_refuses_what_esos_webhook_refuses", schema_refuses),
        env::trial("eso::a_password_generator_makes_a_value_that_never_leaves_the_cluster", password_generator),
        env::trial(
            "eso::cluster_external_secret_fans_out_to_chosen_namespaces_and_reports_the_rest",
            cluster_external_secret,
        ),
        env::trial("eso::push_secret_writes_consented_values_and_never_foreign_paths", push_secret),
        env::trial(
            "eso::a_failing_template_keeps_the_last_good_secret_and_names_its_position",
            failing_template_keeps_last_good_secret,
        ),
    ]
}

/// The manifests as ESO's documentation writes them; `{NS}` is the test
/// namespace, `{MOUNT}` the KV mount.
const MANIFESTS: &str = r#"
apiVersion: external-secrets.io/v1beta1
kind: ExternalSecret
metadata:
  name: database-url
  namespace: {NS}
spec:
  refreshInterval: 1h
  secretStoreRef:
    name: vault-backend
    kind: SecretStore
  target:
    name: database-url
    template:
      engineVersion: v2
      data:
        DATABASE_URL: "postgresql://{{ .username }}:{{ .password | urlquery }}@{{ .host }}:5432/{{ .database }}?sslmode=require"
  data:
  - secretKey: username
    remoteRef:
      key: app/db
      property: username
  - secretKey: password
    remoteRef:
      key: app/db
      property: password
  - secretKey: host
    remoteRef:
      key: app/db
      property: connection.host
  - secretKey: database
    remoteRef:
      key: app/db
      property: connection.database
---
apiVersion: external-secrets.io/v1beta1
kind: ExternalSecret
metadata:
  name: registry
  namespace: {NS}
spec:
  refreshInterval: 1h
  secretStoreRef:
    name: vault-backend
    kind: SecretStore
  target:
    name: registry-pull
    template:
      type: kubernetes.io/dockerconfigjson
      engineVersion: v2
      data:
        .dockerconfigjson: '{"auths":{"{{ .registry }}":{"username":"{{ .user }}","password":"{{ .token }}","auth":"{{ printf "%s:%s" .user .token | b64enc }}"}}}'
  data:
  - secretKey: registry
    remoteRef: {key: app/registry, property: host}
  - secretKey: user
    remoteRef: {key: app/registry, property: user}
  - secretKey: token
    remoteRef: {key: app/registry, property: token}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config-tpl
  namespace: {NS}
data:
  config.ini: |
    [settings]
    {{- range $k, $v := . }}
    {{ $k }} = {{ $v }}
    {{- end }}
  extra.yaml: |
    feature_{{ .flag | lower }}: "on"
---
apiVersion: external-secrets.io/v1beta1
kind: ExternalSecret
metadata:
  name: app-config
  namespace: {NS}
spec:
  refreshInterval: 1h
  secretStoreRef:
    name: vault-backend
    kind: SecretStore
  target:
    name: app-config
    template:
      engineVersion: v2
      mergePolicy: Merge
      metadata:
        labels:
          app: web
      templateFrom:
      - configMap:
          name: app-config-tpl
          items:
          - key: config.ini
            templateAs: Values
          - key: extra.yaml
            templateAs: KeysAndValues
      - literal: "api_url: https://{{ .api_host }}/v1"
  dataFrom:
  - extract:
      key: app/settings
---
apiVersion: external-secrets.io/v1beta1
kind: ExternalSecret
metadata:
  name: tls
  namespace: {NS}
spec:
  refreshInterval: 1h
  secretStoreRef:
    name: vault-backend
    kind: SecretStore
  target:
    name: tls
    template:
      type: kubernetes.io/tls
      engineVersion: v2
      data:
        tls.crt: '{{ .bundle | filterPEM "CERTIFICATE" }}'
        tls.key: '{{ .bundle | filterPEM "PRIVATE KEY" }}'
  data:
  - secretKey: bundle
    remoteRef:
      key: app/tls
      property: pem
      decodingStrategy: Base64
"#;

const PEM: &str = "-----BEGIN CERTIFICATE-----\nAAECAwQ=\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nBQYHCAk=\n-----END PRIVATE KEY-----\n";

/// ESO's documented PKCS#12 shape: a keystore kept base64 in the store,
/// unpacked to a TLS Secret, and packed again for a Java consumer.
const PKCS12_MANIFEST: &str = r#"
apiVersion: external-secrets.io/v1beta1
kind: ExternalSecret
metadata:
  name: keystore
  namespace: {NS}
spec:
  refreshInterval: 1h
  secretStoreRef:
    name: vault-backend
    kind: SecretStore
  target:
    name: keystore-tls
    immutable: true
    template:
      type: kubernetes.io/tls
      engineVersion: v2
      data:
        tls.crt: '{{ .mysecret | pkcs12certPass "my-password" }}'
        tls.key: '{{ .mysecret | pkcs12keyPass "my-password" }}'
        keystore.p12: '{{ fullPemToPkcs12Pass (.mysecret | pkcs12certPass "my-password") (.mysecret | pkcs12keyPass "my-password") "changeit" | b64dec }}'
  data:
  - secretKey: mysecret
    remoteRef:
      key: app/keystore
      property: p12
      decodingStrategy: Base64
"#;

/// Runs openssl in `dir`; its stdout.
fn openssl(dir: &std::path::Path, args: &[&str]) -> Result<Vec<u8>, Failed> {
    let out = std::process::Command::new("openssl").args(args).current_dir(dir).output()?;
    ensure(out.status.success(), format!("openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr)))?;
    Ok(out.stdout)
}

fn pkcs12_keystore() -> Result<(), Failed> {
    let fx = setup("eso-p12")?;
    let bao = env::bao()?;
    let ns = fx.ns().to_owned();
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    openssl(d, &[&["req", "-x509"][..], &ec, &["-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=ca"]].concat())?;
    openssl(d, &[&["req"][..], &ec, &["-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=app"]].concat())?;
    std::fs::write(d.join("ext"), "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")?;
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-extfile",
            "ext",
            "-out",
            "leaf.crt",
        ],
    )?;
    openssl(
        d,
        &["pkcs12", "-export", "-inkey", "leaf.key", "-in", "leaf.crt", "-certfile", "ca.crt"]
            .into_iter()
            .chain(["-passout", "pass:my-password", "-out", "store.p12"])
            .collect::<Vec<_>>(),
    )?;
    let want_key = openssl(d, &["pkey", "-in", "leaf.key"])?;
    let want_chain = [std::fs::read(d.join("leaf.crt"))?, std::fs::read(d.join("ca.crt"))?].concat();
    env::block_on(async {
        let root = bao.root()?;
        let mount = bao.enable_kv2().await?;
        use base64::Engine;
        let p12 = base64::engine::general_purpose::STANDARD.encode(std::fs::read(d.join("store.p12"))?);
        vaultrs::kv2::set(&root, &mount, "app/keystore", &json!({"p12": p12})).await?;
        put_secret(&fx.secrets(), "vault-token", "token", &bao.root_token).await?;
        create_store(&fx.stores(), "vault-backend", vault(&bao.addr, &mount, "v2", token_auth("vault-token"))).await?;
        let _ctrl = fx.start(Opts::default()).await?;
        let manifests =
            PKCS12_MANIFEST.replace("external-secrets.io/v1beta1", "seal.dev/v1alpha1").replace("{NS}", &ns);
        apply(fx.cluster, &manifests).await?;
        wait_ready(&fx.es(), "keystore", "True", "Materialized").await?;
        let s = secret_with(&fx.secrets(), "keystore-tls", "tls.key").await?;
        let got = data_of(&s);
        ensure(s.immutable == Some(true), "target.immutable makes the Secret immutable")?;
        ensure(got.get("tls.key") == Some(&want_key), "tls.key is the PKCS#8 PEM openssl writes for the key")?;
        ensure(got.get("tls.crt") == Some(&want_chain), "tls.crt is the leaf then the CA, as PEM")?;
        // The packed keystore is binary in the Secret; openssl opens it with
        // its password (checking the MAC) and finds the same key and chain.
        std::fs::write(d.join("out.p12"), got.get("keystore.p12").ok_or("keystore.p12 is missing")?)?;
        let certs = openssl(d, &["pkcs12", "-in", "out.p12", "-passin", "pass:changeit", "-nokeys"])?;
        std::fs::write(d.join("out.crt"), &certs)?;
        let leaf = openssl(d, &["x509", "-in", "out.crt"])?;
        ensure(leaf == std::fs::read(d.join("leaf.crt"))?, "the keystore's first certificate is the leaf")?;
        let keys = openssl(d, &["pkcs12", "-in", "out.p12", "-passin", "pass:changeit", "-nocerts", "-nodes"])?;
        std::fs::write(d.join("out.key"), &keys)?;
        ensure(openssl(d, &["pkey", "-in", "out.key"])? == want_key, "the keystore's key is the same key")?;
        ensure(
            String::from_utf8_lossy(&certs).matches("BEGIN CERTIFICATE").count() == 2,
            "the keystore holds the chain",
        )?;
        Ok::<_, Failed>(())
    })
}

/// ESO re-queues an ExternalSecret when its store changes: here the store
/// moves to another mount, and the Secret follows long before the hour-long
/// refresh; an ExternalSecret of another store is not read again.
fn store_change_requeues() -> Result<(), Failed> {
    let fx = setup("eso-store")?;
    let bao = env::bao()?;
    let ns = fx.ns().to_owned();
    env::block_on(async {
        let root = bao.root()?;
        let (old, new) = (bao.enable_kv2().await?, bao.enable_kv2().await?);
        vaultrs::kv2::set(&root, &old, "app/db", &kv(&[("password", "from-the-old-mount")])).await?;
        vaultrs::kv2::set(&root, &new, "app/db", &kv(&[("password", "from-the-new-mount")])).await?;
        put_secret(&fx.secrets(), "vault-token", "token", &bao.root_token).await?;
        let stores = fx.stores();
        create_store(&stores, "moving", vault(&bao.addr, &old, "v2", token_auth("vault-token"))).await?;
        create_store(&stores, "steady", vault(&bao.addr, &old, "v2", token_auth("vault-token"))).await?;
        let ctrl = fx.start(Opts::default()).await?;
        let es: Api<ExternalSecret> = fx.es();
        for (name, store) in [("follows", "moving"), ("stays", "steady")] {
            let manifest = json!({
                "apiVersion": "seal.dev/v1alpha1", "kind": "ExternalSecret",
                "metadata": {"name": name, "namespace": ns},
                "spec": {
                    "refreshInterval": "1h",
                    "secretStoreRef": {"name": store, "kind": "SecretStore"},
                    "data": [{"secretKey": "password", "remoteRef": {"key": "app/db", "property": "password"}}]
                }
            });
            create(&es, manifest).await?;
            wait_ready(&es, name, "True", "Materialized").await?;
        }
        let reads_before = metric(&ctrl.metrics().await?, "seal_vault_reads_total", &[]);
        let patch = json!({"spec": {"provider": {"vault": {"path": new}}}});
        stores.patch("moving", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(patch)).await?;
        let secrets = fx.secrets();
        wait_for("the Secret to follow its store to the new mount", Duration::from_secs(60), || async {
            let s = secrets.get("follows").await.map_err(|e| e.to_string())?;
            Ok::<_, String>(
                (data_of(&s).get("password").map(Vec::as_slice) == Some(b"from-the-new-mount".as_slice()))
                    .then_some(()),
            )
        })
        .await?;
        let stays = data_of(&secrets.get("stays").await?);
        ensure(
            stays.get("password").map(Vec::as_slice) == Some(b"from-the-old-mount".as_slice()),
            "the other store's Secret is unchanged",
        )?;
        let reads = metric(&ctrl.metrics().await?, "seal_vault_reads_total", &[]) - reads_before;
        ensure(reads == 1.0, format!("one read after the store changed (the moved store's path), got {reads}"))?;
        Ok::<_, Failed>(())
    })
}

/// The CRD's schema carries ESO's webhook rules that OpenAPI can express
/// (the test API server, 1.20, has no CEL): `kubectl apply` is refused with
/// the rule's field, before the controller sees anything.
fn schema_refuses() -> Result<(), Failed> {
    let fx = setup("eso-schema")?;
    let ns = fx.ns().to_owned();
    let es = |spec: &str| {
        format!(
            "apiVersion: seal.dev/v1alpha1\nkind: ExternalSecret\nmetadata:\n  name: x\n  namespace: {ns}\nspec:\n  secretStoreRef: {{name: s}}\n{spec}"
        )
    };
    let cases = [
        ("no data and no dataFrom", es("  target: {name: t}\n"), "spec"),
        (
            "two sources in one dataFrom entry",
            es("  dataFrom:\n  - extract: {key: a}\n    find: {path: b}\n"),
            "spec.dataFrom",
        ),
        ("a dataFrom entry without a source", es("  dataFrom:\n  - rewrite: []\n"), "spec.dataFrom"),
        (
            "creationPolicy Merge with deletionPolicy Delete",
            es(
                "  data: [{secretKey: k, remoteRef: {key: a}}]\n  target: {creationPolicy: Merge, deletionPolicy: Delete}\n",
            ),
            "spec.target",
        ),
    ];
    for (what, manifest, field) in cases {
        let out = kubectl(&fx.cluster.kubeconfig, &["apply", "-f", "-"]).stdin(manifest).output()?;
        let err = String::from_utf8_lossy(&out.stderr);
        ensure(!out.status.success(), format!("{what}: the API server accepted it"))?;
        ensure(err.contains(field) && err.contains("Invalid value"), format!("{what}: {err}"))?;
    }
    let ok = es("  dataFrom:\n  - extract: {key: a}\n    rewrite: [{regexp: {source: a, target: b}}]\n");
    let out = kubectl(&fx.cluster.kubeconfig, &["apply", "-f", "-"]).stdin(ok).output()?;
    ensure(out.status.success(), format!("a valid object is accepted: {}", String::from_utf8_lossy(&out.stderr)))?;
    Ok(())
}

fn data_of(s: &Secret) -> std::collections::BTreeMap<String, Vec<u8>> {
    s.data.clone().unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect()
}

async fn secret_with(api: &Api<Secret>, name: &str, key: &str) -> Result<Secret, Failed> {
    wait_for(&format!("Secret {name} with {key}"), Duration::from_secs(90), || async {
        let s = api.get_opt(name).await.map_err(|e| e.to_string())?;
        Ok::<_, String>(s.filter(|s| s.data.as_ref().is_some_and(|d| d.contains_key(key))))
    })
    .await
}

fn templated_manifests_apply_unchanged() -> Result<(), Failed> {
    let fx = setup("eso-tpl")?;
    let bao = env::bao()?;
    let ns = fx.ns().to_owned();
    env::block_on(async {
        let root = bao.root()?;
        let mount = bao.enable_kv2().await?;
        let db = json!({"username": "app", "password": "p@ss w/rd", "connection": {"host": "db.prod.svc", "database": "orders"}});
        vaultrs::kv2::set(&root, &mount, "app/db", &db).await?;
        vaultrs::kv2::set(
            &root,
            &mount,
            "app/registry",
            &kv(&[("host", "ghcr.io"), ("user", "bot"), ("token", "tok-123")]),
        )
        .await?;
        vaultrs::kv2::set(
            &root,
            &mount,
            "app/settings",
            &kv(&[("api_host", "api.example.com"), ("flag", "BETA"), ("mode", "fast")]),
        )
        .await?;
        use base64::Engine;
        let pem_b64 = base64::engine::general_purpose::STANDARD.encode(PEM);
        vaultrs::kv2::set(&root, &mount, "app/tls", &json!({"pem": pem_b64})).await?;

        put_secret(&fx.secrets(), "vault-token", "token", &bao.root_token).await?;
        create_store(&fx.stores(), "vault-backend", vault(&bao.addr, &mount, "v2", token_auth("vault-token"))).await?;
        let _ctrl = fx.start(Opts::default()).await?;

        // Only the apiVersion changes.
        let manifests = MANIFESTS.replace("external-secrets.io/v1beta1", "seal.dev/v1alpha1").replace("{NS}", &ns);
        // kubectl's discovery may lag behind CRDs applied moments ago.
        apply(fx.cluster, &manifests).await?;
        let es: Api<ExternalSecret> = fx.es();
        for name in ["database-url", "registry", "app-config", "tls"] {
            wait_ready(&es, name, "True", "Materialized").await?;
        }
        let secrets = fx.secrets();

        let s = secret_with(&secrets, "database-url", "DATABASE_URL").await?;
        let want = [(
            "DATABASE_URL".to_owned(),
            b"postgresql://app:p%40ss+w%2Frd@db.prod.svc:5432/orders?sslmode=require".to_vec(),
        )];
        ensure(data_of(&s) == want.into_iter().collect(), format!("database-url: {:?}", data_of(&s).keys()))?;

        let s = secret_with(&secrets, "registry-pull", ".dockerconfigjson").await?;
        ensure(s.type_.as_deref() == Some("kubernetes.io/dockerconfigjson"), "the template's type")?;
        let want =
            br#"{"auths":{"ghcr.io":{"username":"bot","password":"tok-123","auth":"Ym90OnRvay0xMjM="}}}"#.to_vec();
        ensure(
            data_of(&s) == [(".dockerconfigjson".to_owned(), want)].into_iter().collect(),
            "registry-pull holds exactly .dockerconfigjson",
        )?;

        // Merge: the store's values, the ConfigMap's templates, the literal.
        let s = secret_with(&secrets, "app-config", "config.ini").await?;
        let d = data_of(&s);
        let want: std::collections::BTreeMap<String, Vec<u8>> = [
            ("api_host", "api.example.com"),
            ("flag", "BETA"),
            ("mode", "fast"),
            ("config.ini", "[settings]\napi_host = api.example.com\nflag = BETA\nmode = fast\n"),
            ("feature_beta", "on"),
            ("api_url", "https://api.example.com/v1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.as_bytes().to_vec()))
        .collect();
        ensure(d == want, format!("app-config keys {:?}", d.keys().collect::<Vec<_>>()))?;
        ensure(
            s.metadata.labels.as_ref().and_then(|l| l.get("app")).map(String::as_str) == Some("web"),
            "template.metadata labels are applied",
        )?;

        let s = secret_with(&secrets, "tls", "tls.key").await?;
        ensure(s.type_.as_deref() == Some("kubernetes.io/tls"), "tls type")?;
        let d = data_of(&s);
        ensure(
            d.get("tls.crt").map(Vec::as_slice)
                == Some(b"-----BEGIN CERTIFICATE-----\nAAECAwQ=\n-----END CERTIFICATE-----\n".as_slice())
                && d.get("tls.key").map(Vec::as_slice)
                    == Some(b"-----BEGIN PRIVATE KEY-----\nBQYHCAk=\n-----END PRIVATE KEY-----\n".as_slice())
                && d.len() == 2,
            "tls holds the filtered PEM blocks of the base64-decoded bundle",
        )?;

        // A changed template source is written even though the store's
        // values are the same.
        let cms: Api<ConfigMap> = fx.app.api();
        let patch = json!({"data": {"extra.yaml": "feature_{{ .flag | lower }}: \"off\"\n"}});
        cms.patch("app-config-tpl", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(patch)).await?;
        kubectl(
            &fx.cluster.kubeconfig,
            &["-n", &ns, "annotate", "externalsecret", "app-config", "force-sync=1", "--overwrite"],
        )
        .ok()?;
        wait_for("the changed template to reach the Secret", Duration::from_secs(90), || async {
            let s = secrets.get("app-config").await.map_err(|e| e.to_string())?;
            Ok::<_, String>(
                (data_of(&s).get("feature_beta").map(Vec::as_slice) == Some(b"off".as_slice())).then_some(()),
            )
        })
        .await?;
        Ok::<_, Failed>(())
    })
}

fn failing_template_keeps_last_good_secret() -> Result<(), Failed> {
    let fx = setup("eso-fail")?;
    let bao = env::bao()?;
    env::block_on(async {
        let root = bao.root()?;
        let mount = bao.enable_kv2().await?;
        vaultrs::kv2::set(&root, &mount, "app/db", &kv(&[("user", "app"), ("password", CANARY)])).await?;
        put_secret(&fx.secrets(), "vault-token", "token", &bao.root_token).await?;
        create_store(&fx.stores(), "vault-backend", vault(&bao.addr, &mount, "v2", token_auth("vault-token"))).await?;
        let ctrl = fx.start(Opts::default()).await?;
        let es: Api<ExternalSecret> = fx.es();
        let spec = |tpl: &str| {
            json!({
                "apiVersion": "seal.dev/v1alpha1", "kind": "ExternalSecret",
                "metadata": {"name": "db"},
                "spec": {
                    "secretStoreRef": {"name": "vault-backend", "kind": "SecretStore"},
                    "target": {"name": "db", "template": {"engineVersion": "v2", "data": {"url": tpl}}},
                    "data": [
                        {"secretKey": "user", "remoteRef": {"key": "app/db", "property": "user"}},
                        {"secretKey": "password", "remoteRef": {"key": "app/db", "property": "password"}},
                    ],
                }
            })
        };
        create(&es, spec("postgres://{{ .user }}:{{ .password }}@db/app")).await?;
        wait_ready(&es, "db", "True", "Materialized").await?;
        let secrets = fx.secrets();
        let good = secrets.get("db").await?;
        ensure(
            data_of(&good).get("url").map(Vec::as_slice) == Some(format!("postgres://app:{CANARY}@db/app").as_bytes()),
            "the first template renders",
        )?;

        // A template that names a value the store does not have.
        let patch = json!({"spec": {"target": {"template": {"data": {"url": "postgres://{{ .user }}:{{ .pasword }}@db/app"}}}}});
        es.patch("db", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(patch)).await?;
        let obj = wait_ready(&es, "db", "False", "TemplateFailed").await?;
        let message = ready_of(&obj).1.map(|c| c.2).unwrap_or_default();
        ensure(
            message.contains("spec.target.template.data[\"url\"]")
                && message.contains("url:1:27")
                && message.contains("\"pasword\""),
            format!("the message names the template, its position and the key: {message}"),
        )?;
        let kept = secrets.get("db").await?;
        ensure(data_of(&kept) == data_of(&good), "the last good Secret is kept")?;

        // A syntax error.
        let patch = json!({"spec": {"target": {"template": {"data": {"url": "x\n{{ .user | }}"}}}}});
        es.patch("db", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(patch)).await?;
        let obj = wait_ready(&es, "db", "False", "TemplateFailed").await?;
        let message = ready_of(&obj).1.map(|c| c.2).unwrap_or_default();
        ensure(message.contains("url:2:"), format!("a syntax error names its line: {message}"))?;
        ensure(data_of(&secrets.get("db").await?) == data_of(&good), "still the last good Secret")?;

        // No value in status, Events or logs.
        let status = serde_json::to_vec(&obj["status"])?;
        assert_absent(&status, CANARY, "the status")?;
        let events: Api<Event> = fx.app.api();
        let evs = serde_json::to_vec(&events.list(&ListParams::default()).await?.items)?;
        assert_absent(&evs, CANARY, "the Events")?;
        assert_absent(&ctrl.logs(), CANARY, "the controller's log")?;
        Ok::<_, Failed>(())
    })
}

/// `dataFrom[].find` by path and name, and by tags, each with `rewrite`,
/// as ESO's documentation shows them.
const FIND: &str = r#"
apiVersion: external-secrets.io/v1beta1
kind: ExternalSecret
metadata:
  name: find-by-path
  namespace: {NS}
spec:
  refreshInterval: 1h
  secretStoreRef:
    name: vault-backend
    kind: SecretStore
  target:
    name: found-by-path
  dataFrom:
  - find:
      path: team
      name:
        regexp: "^team/a/.*"
    rewrite:
    - regexp:
        source: "team/a/(.*)"
        target: "app-$1"
    - regexp:
        source: "/"
        target: "_"
---
apiVersion: external-secrets.io/v1beta1
kind: ExternalSecret
metadata:
  name: find-by-tags
  namespace: {NS}
spec:
  refreshInterval: 1h
  secretStoreRef:
    name: vault-backend
    kind: SecretStore
  target:
    name: found-by-tags
  dataFrom:
  - find:
      tags:
        env: prod
    rewrite:
    - regexp:
        source: "/"
        target: "_"
    - transform:
        template: "{{ .value | upper }}"
---
apiVersion: external-secrets.io/v1beta1
kind: ExternalSecret
metadata:
  name: find-plain
  namespace: {NS}
spec:
  refreshInterval: 1h
  secretStoreRef:
    name: vault-backend
    kind: SecretStore
  target:
    name: found-plain
  dataFrom:
  - find:
      name:
        regexp: "^other/"
---
apiVersion: external-secrets.io/v1beta1
kind: ExternalSecret
metadata:
  name: metadata-fetch
  namespace: {NS}
spec:
  refreshInterval: 1h
  secretStoreRef:
    name: vault-backend
    kind: SecretStore
  target:
    name: fetched-metadata
  data:
  - secretKey: env
    remoteRef:
      key: team/b/x
      property: env
      metadataPolicy: Fetch
  - secretKey: all
    remoteRef:
      key: team/b/x
      metadataPolicy: Fetch
"#;

fn find_and_rewrite() -> Result<(), Failed> {
    let fx = setup("eso-find")?;
    let bao = env::bao()?;
    let ns = fx.ns().to_owned();
    env::block_on(async {
        let root = bao.root()?;
        let mount = bao.enable_kv2().await?;
        for (path, value) in
            [("team/a/db", "one"), ("team/a/nested/api", "two"), ("team/b/x", "three"), ("other/y", "four")]
        {
            vaultrs::kv2::set(&root, &mount, path, &kv(&[("v", value)])).await?;
        }
        for path in ["team/b/x", "other/y"] {
            let mut opts = vaultrs::api::kv2::requests::SetSecretMetadataRequest::builder();
            opts.custom_metadata(std::collections::HashMap::from([("env".to_owned(), "prod".to_owned())]));
            vaultrs::kv2::set_metadata(&root, &mount, path, Some(&mut opts)).await?;
        }
        put_secret(&fx.secrets(), "vault-token", "token", &bao.root_token).await?;
        create_store(&fx.stores(), "vault-backend", vault(&bao.addr, &mount, "v2", token_auth("vault-token"))).await?;
        let _ctrl = fx.start(Opts::default()).await?;
        let manifests = FIND.replace("external-secrets.io/v1beta1", "seal.dev/v1alpha1").replace("{NS}", &ns);
        apply(fx.cluster, &manifests).await?;
        let es: Api<ExternalSecret> = fx.es();
        wait_ready(&es, "find-by-path", "True", "Materialized").await?;
        wait_ready(&es, "find-by-tags", "True", "Materialized").await?;
        wait_ready(&es, "find-plain", "True", "Materialized").await?;
        wait_ready(&es, "metadata-fetch", "True", "Materialized").await?;
        let secrets = fx.secrets();
        // Without rewrite rules, the Default conversion turns `/` into `_`.
        let plain = data_of(&secrets.get("found-plain").await?);
        ensure(
            plain == [("other_y".to_owned(), br#"{"v":"four"}"#.to_vec())].into_iter().collect(),
            format!("find without rewrite: keys {:?}", plain.keys().collect::<Vec<_>>()),
        )?;
        // metadataPolicy: Fetch reads the custom metadata, not the data.
        let meta = data_of(&secrets.get("fetched-metadata").await?);
        let want: std::collections::BTreeMap<String, Vec<u8>> =
            [("env".to_owned(), b"prod".to_vec()), ("all".to_owned(), br#"{"env":"prod"}"#.to_vec())]
                .into_iter()
                .collect();
        ensure(meta == want, format!("metadata fetch: keys {:?}", meta.keys().collect::<Vec<_>>()))?;
        let by_path = data_of(&secrets.get("found-by-path").await?);
        let want: std::collections::BTreeMap<String, Vec<u8>> =
            [("app-db", r#"{"v":"one"}"#), ("app-nested_api", r#"{"v":"two"}"#)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.as_bytes().to_vec()))
                .collect();
        ensure(by_path == want, format!("find by path: keys {:?}", by_path.keys().collect::<Vec<_>>()))?;
        let by_tags = data_of(&secrets.get("found-by-tags").await?);
        let want: std::collections::BTreeMap<String, Vec<u8>> =
            [("OTHER_Y", r#"{"v":"four"}"#), ("TEAM_B_X", r#"{"v":"three"}"#)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.as_bytes().to_vec()))
                .collect();
        ensure(by_tags == want, format!("find by tags: keys {:?}", by_tags.keys().collect::<Vec<_>>()))?;
        Ok::<_, Failed>(())
    })
}

/// `refreshPolicy: OnChange` reads only when the object changes (an
/// annotation is enough); `CreatedOnce` (also `refreshInterval: 0`) only
/// when the Secret must be created. A `Periodic` object beside them, with
/// the same short interval, shows that the store's change was there to see.
fn refresh_policies() -> Result<(), Failed> {
    let fx = setup("eso-refresh")?;
    let bao = env::bao()?;
    let ns = fx.ns().to_owned();
    env::block_on(async {
        let root = bao.root()?;
        let mount = bao.enable_kv2().await?;
        vaultrs::kv2::set(&root, &mount, "app/v", &kv(&[("v", "first")])).await?;
        put_secret(&fx.secrets(), "vault-token", "token", &bao.root_token).await?;
        create_store(&fx.stores(), "vault-backend", vault(&bao.addr, &mount, "v2", token_auth("vault-token"))).await?;
        let ctrl = fx.start(Opts::default()).await?;
        let es: Api<ExternalSecret> = fx.es();
        let make = |name: &str, interval: &str, policy: Option<&str>| {
            let mut spec = json!({
                "refreshInterval": interval,
                "secretStoreRef": {"name": "vault-backend", "kind": "SecretStore"},
                "data": [{"secretKey": "v", "remoteRef": {"key": "app/v", "property": "v"}}],
            });
            if let Some(p) = policy {
                spec["refreshPolicy"] = json!(p);
            }
            json!({"apiVersion": "seal.dev/v1alpha1", "kind": "ExternalSecret", "metadata": {"name": name}, "spec": spec})
        };
        create(&es, make("periodic", "1s", None)).await?;
        create(&es, make("on-change", "1s", Some("OnChange"))).await?;
        create(&es, make("created-once", "0", None)).await?;
        let secrets = fx.secrets();
        let value = |name: &'static str| {
            let secrets = secrets.clone();
            async move {
                let s = secrets.get_opt(name).await.ok().flatten();
                s.and_then(|s| data_of(&s).get("v").cloned()).map(|v| String::from_utf8_lossy(&v).into_owned())
            }
        };
        for name in ["periodic", "on-change", "created-once"] {
            wait_ready(&es, name, "True", "Materialized").await?;
            ensure(value(name).await.as_deref() == Some("first"), format!("{name} starts with the first value"))?;
        }
        vaultrs::kv2::set(&root, &mount, "app/v", &kv(&[("v", "second")])).await?;
        wait_for("the periodic object to see the new value", Duration::from_secs(30), || async {
            Ok::<_, String>((value("periodic").await.as_deref() == Some("second")).then_some(()))
        })
        .await?;
        // A few more of the periodic object's refreshes: this test's own
        // controller reconciles its ExternalSecrets (the intervals of 1 s
        // pass), so a stalled one fails here instead of passing below.
        ctrl.wait_reconciles("ExternalSecret", 2).await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        ensure(value("on-change").await.as_deref() == Some("first"), "OnChange must not read on its interval")?;
        ensure(value("created-once").await.as_deref() == Some("first"), "CreatedOnce must not read again")?;

        // Any change to the object refreshes OnChange, not CreatedOnce; the
        // controller reconciles both after the change.
        ctrl.wait_reconciles_after("ExternalSecret", 2, async {
            for name in ["on-change", "created-once"] {
                kubectl(
                    &fx.cluster.kubeconfig,
                    &["-n", &ns, "annotate", "externalsecret", name, "force-sync=1", "--overwrite"],
                )
                .ok()
                .map_err(fmsg)?;
            }
            Ok(())
        })
        .await?;
        wait_for("OnChange to read after the annotation", Duration::from_secs(30), || async {
            Ok::<_, String>((value("on-change").await.as_deref() == Some("second")).then_some(()))
        })
        .await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        ensure(value("created-once").await.as_deref() == Some("first"), "CreatedOnce ignores changes to the object")?;

        // CreatedOnce reads again when its Secret must be created again.
        secrets.delete("created-once", &Default::default()).await?;
        wait_for("CreatedOnce to recreate its Secret", Duration::from_secs(30), || async {
            Ok::<_, String>((value("created-once").await.as_deref() == Some("second")).then_some(()))
        })
        .await?;
        Ok::<_, Failed>(())
    })
}

/// ESO's Password generator as its documentation shows it (only the
/// apiVersions changed: `generators.external-secrets.io/v1alpha1` and
/// `external-secrets.io/v1beta1` both become `seal.dev/v1alpha1`).
const GENERATOR: &str = r#"
apiVersion: generators.external-secrets.io/v1alpha1
kind: Password
metadata:
  name: my-password
  namespace: {NS}
spec:
  length: 42
  digits: 5
  symbols: 5
  symbolCharacters: "-_$@"
  noUpper: false
  allowRepeat: true
---
apiVersion: external-secrets.io/v1beta1
kind: ExternalSecret
metadata:
  name: password
  namespace: {NS}
spec:
  refreshInterval: "0"
  target:
    name: password-secret
  dataFrom:
  - sourceRef:
      generatorRef:
        apiVersion: generators.external-secrets.io/v1alpha1
        kind: Password
        name: my-password
    rewrite:
    - regexp:
        source: "password"
        target: "db-password"
"#;

fn password_generator() -> Result<(), Failed> {
    let fx = setup("eso-gen")?;
    let ns = fx.ns().to_owned();
    env::block_on(async {
        let ctrl = fx.start(Opts::default()).await?;
        let manifests = GENERATOR
            .replace("generators.external-secrets.io/v1alpha1", "seal.dev/v1alpha1")
            .replace("external-secrets.io/v1beta1", "seal.dev/v1alpha1")
            .replace("{NS}", &ns);
        apply(fx.cluster, &manifests).await?;
        let es: Api<ExternalSecret> = fx.es();
        let obj = wait_ready(&es, "password", "True", "Materialized").await?;
        let secrets = fx.secrets();
        let s = secrets.get("password-secret").await?;
        let d = data_of(&s);
        ensure(
            d.keys().collect::<Vec<_>>() == vec!["db-password"],
            format!("keys {:?}", d.keys().collect::<Vec<_>>()),
        )?;
        let pw = String::from_utf8(d.get("db-password").cloned().unwrap_or_default())?;
        ensure(pw.chars().count() == 42, "42 characters")?;
        ensure(pw.chars().filter(char::is_ascii_digit).count() == 5, "5 digits")?;
        ensure(pw.chars().filter(|c| "-_$@".contains(*c)).count() == 5, "5 of the given symbols")?;
        ensure(pw.chars().all(|c| c.is_ascii_alphanumeric() || "-_$@".contains(c)), "nothing else")?;
        // The value is in the Secret only: not in the object's status, nor
        // in its Events.
        assert_absent(&serde_json::to_vec(&obj)?, &pw, "the ExternalSecret")?;
        let events: Api<Event> = fx.app.api();
        assert_absent(&serde_json::to_vec(&events.list(&ListParams::default()).await?.items)?, &pw, "the Events")?;
        // Created once: a change to the object does not make a new password
        // (the controller does reconcile it: its only ExternalSecret).
        ctrl.wait_reconciles_after("ExternalSecret", 1, async {
            kubectl(
                &fx.cluster.kubeconfig,
                &["-n", &ns, "annotate", "externalsecret", "password", "force-sync=1", "--overwrite"],
            )
            .ok()
            .map_err(fmsg)
        })
        .await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let again = data_of(&secrets.get("password-secret").await?);
        ensure(again == d, "the password is kept")?;
        Ok::<_, Failed>(())
    })
}

/// A ClusterExternalSecret as ESO's documentation shows it (apiVersions
/// changed): `{TOKEN}` labels the namespaces it chooses.
const CES: &str = r#"
apiVersion: external-secrets.io/v1beta1
kind: ClusterExternalSecret
metadata:
  name: "{NAME}"
spec:
  externalSecretName: shared
  externalSecretMetadata:
    labels:
      team: platform
  namespaceSelectors:
  - matchLabels:
      seal-ces-test: "{TOKEN}"
  refreshTime: 1m
  externalSecretSpec:
    refreshInterval: "0"
    target:
      name: shared
    dataFrom:
    - sourceRef:
        generatorRef:
          apiVersion: generators.external-secrets.io/v1alpha1
          kind: Password
          name: pw
"#;

fn cluster_external_secret() -> Result<(), Failed> {
    use k8s_openapi::api::core::v1::Namespace;
    use seal::api::cluster_external_secret::ClusterExternalSecret;
    let _one = cluster_external_secrets_lock();
    let fx = setup("eso-ces")?;
    env::block_on(async {
        let a = fx.namespace("ces-a").await?;
        let b = fx.namespace("ces-b").await?;
        let c = fx.namespace("ces-c").await?;
        let token = a.name.clone();
        let name = format!("ces-{token}");
        let nss: Api<Namespace> = Api::all(fx.cluster.admin());
        let label = |ns: &str, on: bool| {
            let nss = nss.clone();
            let token = token.clone();
            let ns = ns.to_owned();
            async move {
                let v = if on { json!(token) } else { serde_json::Value::Null };
                let patch = json!({"metadata": {"labels": {"seal-ces-test": v}}});
                nss.patch(&ns, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(patch)).await.map(drop)
            }
        };
        label(&a.name, true).await?;
        label(&b.name, true).await?;
        for ns in [&a, &b, &c] {
            let pw: Api<seal::api::generator::Password> = ns.api();
            create(&pw, json!({"apiVersion": "seal.dev/v1alpha1", "kind": "Password", "metadata": {"name": "pw"}, "spec": {"length": 16}}))
                .await?;
        }
        // In c, an ExternalSecret of the same name that is someone else's.
        let foreign: Api<ExternalSecret> = c.api();
        create(
            &foreign,
            json!({"apiVersion": "seal.dev/v1alpha1", "kind": "ExternalSecret", "metadata": {"name": "shared"},
                   "spec": {"dataFrom": [{"sourceRef": {"generatorRef": {"kind": "Password", "name": "pw"}}}]}}),
        )
        .await?;
        let _ctrl =
            fx.start(Opts::watching(&[&a.name, &b.name, &c.name]).env("SEAL_CLUSTER_EXTERNAL_SECRETS", "true")).await?;
        let manifest = CES
            .replace("generators.external-secrets.io/v1alpha1", "seal.dev/v1alpha1")
            .replace("external-secrets.io/v1beta1", "seal.dev/v1alpha1")
            .replace("{NAME}", &name)
            .replace("{TOKEN}", &token);
        apply(fx.cluster, &manifest).await?;
        let cess: Api<ClusterExternalSecret> = Api::all(fx.cluster.admin());
        let status = |want_prov: Vec<String>, want_failed: Vec<String>| {
            let cess = cess.clone();
            let name = name.clone();
            async move {
                wait_for(
                    &format!("{name} to list {want_prov:?} provisioned, {want_failed:?} failed"),
                    Duration::from_secs(60),
                    || async {
                        let ces = cess.get(&name).await.map_err(|e| e.to_string())?;
                        let st = ces.status.clone().unwrap_or_default();
                        let failed: Vec<String> = st.failed_namespaces.iter().map(|f| f.namespace.clone()).collect();
                        if st.provisioned_namespaces == want_prov && failed == want_failed {
                            Ok(Some(st))
                        } else {
                            Err(format!("{:?}", serde_json::to_string(&st)))
                        }
                    },
                )
                .await
            }
        };
        let mut ab = vec![a.name.clone(), b.name.clone()];
        ab.sort();
        let st = status(ab.clone(), vec![]).await?;
        ensure(
            st.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"),
            "Ready when every namespace is provisioned",
        )?;
        for ns in [&a, &b] {
            let es: Api<ExternalSecret> = ns.api();
            let obj = wait_ready(&es, "shared", "True", "Materialized").await?;
            ensure(obj["metadata"]["labels"]["team"] == "platform", "externalSecretMetadata labels are applied")?;
            let secrets: Api<Secret> = ns.api();
            let s = secret_with(&secrets, "shared", "password").await?;
            ensure(
                data_of(&s).get("password").map(Vec::len) == Some(16),
                "each namespace gets its own generated password",
            )?;
        }
        ensure(foreign.get("shared").await?.spec.data_from.len() == 1, "the foreign ExternalSecret is untouched")?;

        // c chosen too: reported as failed, its ExternalSecret left alone.
        label(&c.name, true).await?;
        let st = status(ab.clone(), vec![c.name.clone()]).await?;
        ensure(
            st.failed_namespaces.iter().all(|f| f.reason.contains("was not made by this ClusterExternalSecret")),
            "the reason says why",
        )?;
        ensure(
            st.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "False"),
            "not Ready while a namespace fails",
        )?;
        // b no longer chosen: its ExternalSecret is removed.
        label(&c.name, false).await?;
        label(&b.name, false).await?;
        status(vec![a.name.clone()], vec![]).await?;
        let es_b: Api<ExternalSecret> = b.api();
        wait_for("the ExternalSecret in b to be deleted", Duration::from_secs(30), || async {
            Ok::<_, String>(es_b.get_opt("shared").await.map_err(|e| e.to_string())?.is_none().then_some(()))
        })
        .await?;
        cess.delete(&name, &Default::default()).await?;
        Ok::<_, Failed>(())
    })
}

/// ESO's PushSecret example (apiVersion changed), and one aimed at a
/// secret seal did not write.
const PUSH: &str = r#"
apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata:
  name: pushsecret-example
  namespace: {NS}
spec:
  deletionPolicy: Delete
  refreshInterval: 1s
  secretStoreRefs:
    - name: vault-backend
      kind: SecretStore
  selector:
    secret:
      name: pokedex-credentials
  data:
    - match:
        secretKey: best-pokemon
        remoteRef:
          remoteKey: pushed/pokedex
          property: best-pokemon
---
apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata:
  name: overwrite-attempt
  namespace: {NS}
spec:
  refreshInterval: 1s
  secretStoreRefs:
    - name: vault-backend
      kind: SecretStore
  selector:
    secret:
      name: pokedex-credentials
  data:
    - match:
        secretKey: best-pokemon
        remoteRef:
          remoteKey: team/root-owned
          property: password
"#;

fn push_secret() -> Result<(), Failed> {
    use seal::api::push_secret::PushSecret;
    let fx = setup("eso-push")?;
    let bao = env::bao()?;
    let ns = fx.ns().to_owned();
    env::block_on(async {
        let root = bao.root()?;
        let mount = bao.enable_kv2().await?;
        vaultrs::kv2::set(&root, &mount, "team/root-owned", &kv(&[("password", "kept")])).await?;
        put_secret(&fx.secrets(), "vault-token", "token", &bao.root_token).await?;
        create_store(&fx.stores(), "vault-backend", vault(&bao.addr, &mount, "v2", token_auth("vault-token"))).await?;
        // The source, without consent yet.
        create(
            &fx.secrets(),
            json!({"metadata": {"name": "pokedex-credentials"}, "stringData": {"best-pokemon": CANARY}}),
        )
        .await?;
        let _ctrl = fx.start(Opts::default()).await?;
        let manifests = PUSH.replace("external-secrets.io/v1alpha1", "seal.dev/v1alpha1").replace("{NS}", &ns);
        apply(fx.cluster, &manifests).await?;
        let pss: Api<PushSecret> = fx.app.api();
        let obj = wait_ready(&pss, "pushsecret-example", "False", "SecretNotShared").await?;
        let msg = ready_of(&obj).1.map(|c| c.2).unwrap_or_default();
        ensure(msg.contains("seal.dev/allow-push"), format!("without consent the message says what to add: {msg}"))?;
        let read = |path: &'static str| {
            let root = bao.root();
            let mount = mount.clone();
            async move {
                let root = root.map_err(|e| format!("{e:?}"))?;
                vaultrs::kv2::read::<std::collections::HashMap<String, String>>(&root, &mount, path)
                    .await
                    .ok()
                    .map_or(Ok(None), |m| Ok(Some(m)))
            }
        };
        ensure(read("pushed/pokedex").await.map_err(|e: String| e)?.is_none(), "nothing is pushed without consent")?;

        // The owner consents: the value arrives, marked as seal's.
        kubectl(
            &fx.cluster.kubeconfig,
            &[
                "-n",
                &ns,
                "annotate",
                "secret",
                "pokedex-credentials",
                "seal.dev/allow-push=pushsecret-example,overwrite-attempt",
            ],
        )
        .ok()?;
        wait_ready(&pss, "pushsecret-example", "True", "Synced").await?;
        let pushed = read("pushed/pokedex").await.map_err(|e: String| e)?.unwrap_or_default();
        ensure(pushed.get("best-pokemon").map(String::as_str) == Some(CANARY), "the value is in OpenBao")?;
        let meta = vaultrs::kv2::read_metadata(&root, &mount, "pushed/pokedex").await?;
        ensure(
            meta.custom_metadata.unwrap_or_default().get("managed-by").map(String::as_str) == Some("seal"),
            "marked managed-by: seal",
        )?;

        // A change of the Secret reaches OpenBao at the next refresh.
        let secrets = fx.secrets();
        secrets
            .patch(
                "pokedex-credentials",
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(json!({"stringData": {"best-pokemon": "pikachu"}})),
            )
            .await?;
        wait_for("the new value to reach OpenBao", Duration::from_secs(30), || async {
            let m = read("pushed/pokedex").await?;
            Ok::<_, String>(m.filter(|m| m.get("best-pokemon").map(String::as_str) == Some("pikachu")).map(drop))
        })
        .await?;

        // A secret seal did not write is never overwritten.
        let obj = wait_ready(&pss, "overwrite-attempt", "False", "StoreAccessDenied").await?;
        let msg = ready_of(&obj).1.map(|c| c.2).unwrap_or_default();
        ensure(msg.contains("was not written by seal"), format!("the refusal says why: {msg}"))?;
        let kept = read("team/root-owned").await.map_err(|e: String| e)?.unwrap_or_default();
        ensure(kept.get("password").map(String::as_str) == Some("kept"), "the foreign secret is unchanged")?;
        assert_absent(&serde_json::to_vec(&obj)?, CANARY, "the PushSecret's status")?;

        // deletionPolicy Delete: the pushed secret goes with the PushSecret.
        pss.delete("pushsecret-example", &Default::default()).await?;
        wait_for("the pushed secret to be deleted", Duration::from_secs(30), || async {
            let gone = read("pushed/pokedex").await?.is_none();
            let obj_gone = pss.get_opt("pushsecret-example").await.map_err(|e| e.to_string())?.is_none();
            Ok::<_, String>((gone && obj_gone).then_some(()))
        })
        .await?;
        Ok::<_, Failed>(())
    })
}
