//! The `template`, `dataTo` and `conversionStrategy` cases of External
//! Secrets Operator's PushSecret controller tests
//! (`pkg/controllers/pushsecret/pushsecret_controller_test.go`, ESO v2.9.0,
//! commit cc5bfbc2), run through seal's real controller against OpenBao,
//! under ESO's case names.
//!
//! ESO's fake provider keeps any value under its remote key; Vault's KV
//! (ESO's Vault provider as seal) needs a JSON object where no property is
//! named. So the values a case pushes whole are JSON objects here
//! (`{"value": "localhost"}` for ESO's `localhost`), and a `data[]` entry
//! names a property (`value`) where ESO's names none; keys, matches,
//! rewrites and the set of remote secrets are ESO's. Each case checks the
//! exact set of remote secrets in the store, as ESO's checks the provider's.

use std::collections::BTreeMap;

use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::ListParams;
use libtest_mimic::{Failed, Trial};
use seal::api::push_secret::PushSecret;
use serde_json::{Value, json};

use crate::env::{self, Bao, ensure};
use crate::fixtures::objects::{create, create_store, put_secret, ready_of, token_auth, vault, wait_ready};
use crate::fixtures::{Fx, Opts, kubectl, setup};
use crate::process::ControllerProcess;
use crate::support::assert_absent;

/// ESO's `PushSecretStore`.
const STORE: &str = "test-store";

/// What a case expects.
enum Expect {
    /// `Ready=True`, and exactly these remote secrets: (store, path, data as JSON).
    Synced(&'static [(&'static str, &'static str, &'static str)]),
    /// `Ready=False` with this reason, the message containing this; nothing pushed.
    Refused(&'static str, &'static str),
}

/// One ESO case: the source Secret's keys, the PushSecret's spec fields
/// besides its store and selector, the stores it names.
struct Case {
    name: &'static str,
    source: &'static [(&'static str, &'static str)],
    spec: fn() -> Value,
    stores: &'static [&'static str],
    expect: Expect,
}

const ONE: &[&str] = &[STORE];

fn cases() -> Vec<Case> {
    use Expect::{Refused, Synced};
    let db = &[("db-host", r#"{"value":"localhost"}"#), ("db-port", r#"{"value":"5432"}"#)];
    vec![
        Case {
            name: "should_sync_with_template",
            source: &[("key", "value")],
            spec: || {
                json!({"data": [{"match": {"secretKey": "key", "remoteRef": {"remoteKey": "path/to/key", "property": "value"}}}],
                       "template": {"metadata": {"labels": {"foos": "ball"}, "annotations": {"hihi": "ga"}, "finalizers": ["example.com/finalizer"]},
                                    "type": "Opaque", "engineVersion": "v2",
                                    "data": {"key": "{{ .key | toString | upper }} was templated"}}})
            },
            stores: ONE,
            expect: Synced(&[(STORE, "path/to/key", r#"{"value":"VALUE was templated"}"#)]),
        },
        Case {
            name: "should_sync_with_template_reusing_keys",
            source: &[("key", "value")],
            spec: || {
                json!({"data": [{"match": {"secretKey": "otherKey", "remoteRef": {"remoteKey": "path/to/key", "property": "value"}}}],
                       "template": {"metadata": {"labels": {"foos": "ball"}, "annotations": {"hihi": "ga"}, "finalizers": ["example.com/finalizer"]},
                                    "type": "Opaque", "engineVersion": "v2",
                                    "data": {"key": "{{ .key | toString | upper }} was templated",
                                             "otherKey": "{{ .key | toString | upper }} was also templated"}}})
            },
            stores: ONE,
            expect: Synced(&[(STORE, "path/to/key", r#"{"value":"VALUE was also templated"}"#)]),
        },
        Case {
            name: "should_sync_with_conversion_strategy",
            source: &[("some-array_U005b_0_U005d_.entity", "value")],
            spec: || {
                json!({"data": [{"conversionStrategy": "ReverseUnicode",
                                 "match": {"secretKey": "some-array[0].entity", "remoteRef": {"remoteKey": "path/to/key", "property": "value"}}}]})
            },
            stores: ONE,
            expect: Synced(&[(STORE, "path/to/key", r#"{"value":"value"}"#)]),
        },
        Case {
            name: "should_sync_with_data_to_matching_all_keys",
            source: &[
                ("db-host", r#"{"value":"localhost"}"#),
                ("db-port", r#"{"value":"5432"}"#),
                ("db-username", r#"{"value":"admin"}"#),
            ],
            spec: || json!({"dataTo": [{"storeRef": {"name": STORE}}]}),
            stores: ONE,
            expect: Synced(&[
                (STORE, "db-host", r#"{"value":"localhost"}"#),
                (STORE, "db-port", r#"{"value":"5432"}"#),
                (STORE, "db-username", r#"{"value":"admin"}"#),
            ]),
        },
        Case {
            name: "should_sync_with_data_to_using_regex_pattern",
            source: &[
                ("db-host", r#"{"value":"localhost"}"#),
                ("db-port", r#"{"value":"5432"}"#),
                ("app-name", r#"{"value":"myapp"}"#),
                ("app-version", r#"{"value":"1.0"}"#),
            ],
            spec: || json!({"dataTo": [{"storeRef": {"name": STORE}, "match": {"regexp": "^db-.*"}}]}),
            stores: ONE,
            expect: Synced(&[
                (STORE, "db-host", r#"{"value":"localhost"}"#),
                (STORE, "db-port", r#"{"value":"5432"}"#),
            ]),
        },
        Case {
            name: "should_sync_with_data_to_and_regexp_rewrite",
            source: db,
            spec: || {
                json!({"dataTo": [{"storeRef": {"name": STORE}, "match": {"regexp": "^db-.*"},
                                   "rewrite": [{"regexp": {"source": "^db-", "target": "app/database/"}}]}]})
            },
            stores: ONE,
            expect: Synced(&[
                (STORE, "app/database/host", r#"{"value":"localhost"}"#),
                (STORE, "app/database/port", r#"{"value":"5432"}"#),
            ]),
        },
        Case {
            name: "should_sync_with_data_to_and_transform_rewrite",
            source: &[("username", r#"{"value":"admin"}"#)],
            spec: || json!({"dataTo": [{"storeRef": {"name": STORE}, "rewrite": [{"transform": {"template": "app/{{ .value | upper }}"}}]}]}),
            stores: ONE,
            expect: Synced(&[(STORE, "app/USERNAME", r#"{"value":"admin"}"#)]),
        },
        Case {
            name: "should_override_data_to_with_explicit_data",
            source: &[("key1", r#"{"value":"value1"}"#), ("key2", r#"{"value":"value2"}"#)],
            spec: || {
                json!({"dataTo": [{"storeRef": {"name": STORE}}],
                       "data": [{"match": {"secretKey": "key1", "remoteRef": {"remoteKey": "override-key1"}}}]})
            },
            stores: ONE,
            expect: Synced(&[
                (STORE, "override-key1", r#"{"value":"value1"}"#),
                (STORE, "key2", r#"{"value":"value2"}"#),
            ]),
        },
        Case {
            name: "should_sync_with_data_to_and_multiple_chained_rewrites",
            source: &[("db-username", r#"{"value":"admin"}"#)],
            spec: || {
                json!({"dataTo": [{"storeRef": {"name": STORE}, "rewrite": [
                    {"regexp": {"source": "^db-", "target": ""}}, {"regexp": {"source": "^", "target": "app/"}}]}]})
            },
            stores: ONE,
            expect: Synced(&[(STORE, "app/username", r#"{"value":"admin"}"#)]),
        },
        Case {
            name: "should_fail_with_invalid_regex_in_data_to",
            source: &[("key1", r#"{"value":"value1"}"#)],
            spec: || json!({"dataTo": [{"storeRef": {"name": STORE}, "match": {"regexp": "[invalid(regex"}}]}),
            stores: ONE,
            expect: Refused("InvalidDocument", "spec.dataTo[0].match.regexp"),
        },
        Case {
            name: "should_sync_with_data_to_and_conversion_strategy",
            source: &[
                ("unicode-key", r#"{"value":"unicode-value-αβγ"}"#),
                ("normal-key", r#"{"value":"normal-value"}"#),
            ],
            spec: || json!({"dataTo": [{"storeRef": {"name": STORE}, "conversionStrategy": "ReverseUnicode"}]}),
            stores: ONE,
            expect: Synced(&[
                (STORE, "unicode-key", r#"{"value":"unicode-value-αβγ"}"#),
                (STORE, "normal-key", r#"{"value":"normal-value"}"#),
            ]),
        },
        Case {
            name: "should_sync_with_data_to_store_ref_targeting_specific_stores",
            source: &[
                ("db-host", r#"{"value":"localhost"}"#),
                ("api-key", r#"{"value":"secret123"}"#),
                ("app-name", r#"{"value":"myapp"}"#),
            ],
            spec: || {
                let to = |store: &str, re: &str| json!({"storeRef": {"name": store, "kind": "SecretStore"}, "match": {"regexp": re}});
                json!({"dataTo": [to(STORE, "^db-.*"), to("second-store", "^api-.*"), to(STORE, "^app-.*"), to("second-store", "^app-.*")]})
            },
            stores: &[STORE, "second-store"],
            expect: Synced(&[
                (STORE, "db-host", r#"{"value":"localhost"}"#),
                (STORE, "app-name", r#"{"value":"myapp"}"#),
                ("second-store", "api-key", r#"{"value":"secret123"}"#),
                ("second-store", "app-name", r#"{"value":"myapp"}"#),
            ]),
        },
        Case {
            name: "should_match_data_to_against_template_created_keys",
            source: &[("db_host", "localhost"), ("db_port", "3306")],
            spec: || {
                json!({"template": {"data": {"mysql-connection": "{\"url\":\"mysql://{{ .db_host }}:{{ .db_port }}/mydb\"}"}},
                       "dataTo": [{"storeRef": {"name": STORE}, "match": {"regexp": ".*-connection$"}}]})
            },
            stores: ONE,
            expect: Synced(&[(STORE, "mysql-connection", r#"{"url":"mysql://localhost:3306/mydb"}"#)]),
        },
        Case {
            name: "should_combine_template_data_to_and_explicit_data",
            source: &[
                ("token", "abc123"),
                ("config-timeout", r#"{"value":"30s"}"#),
                ("config-retries", r#"{"value":"3"}"#),
            ],
            spec: || {
                json!({"template": {"data": {"api-key": "Bearer {{ .token }}"}},
                       "dataTo": [{"storeRef": {"name": STORE}, "match": {"regexp": "^config-.*"}}],
                       "data": [{"match": {"secretKey": "api-key", "remoteRef": {"remoteKey": "credentials/api-key", "property": "value"}}}]})
            },
            stores: ONE,
            expect: Synced(&[
                (STORE, "credentials/api-key", r#"{"value":"Bearer abc123"}"#),
                (STORE, "config-timeout", r#"{"value":"30s"}"#),
                (STORE, "config-retries", r#"{"value":"3"}"#),
            ]),
        },
        Case {
            name: "should_fail_with_duplicate_remote_keys_across_data_to_entries",
            source: db,
            spec: || {
                let to = |re: &str| {
                    json!({"storeRef": {"name": STORE}, "match": {"regexp": re},
                                           "rewrite": [{"regexp": {"source": ".*", "target": "app/config"}}]})
                };
                json!({"dataTo": [to("^db-host$"), to("^db-port$")]})
            },
            stores: ONE,
            expect: Refused("InvalidDocument", "the remote key \"app/config\" is also written by spec.dataTo[0]"),
        },
        Case {
            name: "should_fail_with_duplicate_remote_keys_between_data_to_and_explicit_data",
            source: &[("db-host", r#"{"value":"localhost"}"#), ("api-key", r#"{"value":"secret123"}"#)],
            spec: || {
                json!({"dataTo": [{"storeRef": {"name": STORE}, "match": {"regexp": "^db-host$"},
                                   "rewrite": [{"regexp": {"source": ".*", "target": "myapp/config"}}]}],
                       "data": [{"match": {"secretKey": "api-key", "remoteRef": {"remoteKey": "myapp/config"}}}]})
            },
            stores: ONE,
            expect: Refused("InvalidDocument", "spec.dataTo[0] and spec.data[0] both write \"myapp/config\""),
        },
        Case {
            name: "should_fail_with_data_to_store_ref_not_in_secret_store_refs",
            source: &[("key1", r#"{"value":"value1"}"#)],
            spec: || json!({"dataTo": [{"storeRef": {"name": "non-existent-store"}}]}),
            stores: ONE,
            expect: Refused(
                "InvalidDocument",
                "spec.dataTo[0].storeRef: SecretStore \"non-existent-store\" is not in spec.secretStoreRefs",
            ),
        },
        Case {
            name: "should_sync_with_data_to_when_keys_have_duplicate_values",
            source: &[("db-host", r#"{"value":"same-value"}"#), ("cache-host", r#"{"value":"same-value"}"#)],
            spec: || json!({"dataTo": [{"storeRef": {"name": STORE}, "rewrite": [{"regexp": {"source": "-host$", "target": "/endpoint"}}]}]}),
            stores: ONE,
            expect: Synced(&[
                (STORE, "db/endpoint", r#"{"value":"same-value"}"#),
                (STORE, "cache/endpoint", r#"{"value":"same-value"}"#),
            ]),
        },
        Case {
            name: "should_bundle_all_keys_into_single_provider_secret_with_data_to_remote_key",
            source: &[("DB_HOST", "localhost"), ("DB_USER", "admin")],
            spec: || json!({"dataTo": [{"storeRef": {"name": STORE}, "remoteKey": "secrets-sync-target"}]}),
            stores: ONE,
            expect: Synced(&[(STORE, "secrets-sync-target", r#"{"DB_HOST":"localhost","DB_USER":"admin"}"#)]),
        },
        Case {
            name: "should_bundle_only_regex_matched_keys_with_data_to_remote_key_and_match_filter",
            source: &[("DB_HOST", "localhost"), ("DB_USER", "admin"), ("APP_NAME", "myapp")],
            spec: || json!({"dataTo": [{"storeRef": {"name": STORE}, "remoteKey": "db-bundle", "match": {"regexp": "^DB_"}}]}),
            stores: ONE,
            expect: Synced(&[(STORE, "db-bundle", r#"{"DB_HOST":"localhost","DB_USER":"admin"}"#)]),
        },
        Case {
            name: "should_mix_bundle_mode_and_per_key_mode_in_the_same_data_to_list",
            source: &[("DB_HOST", "localhost"), ("DB_USER", "admin"), ("API_KEY", r#"{"value":"secret-key"}"#)],
            spec: || {
                json!({"dataTo": [{"storeRef": {"name": STORE}, "remoteKey": "db-config", "match": {"regexp": "^DB_"}},
                                  {"storeRef": {"name": STORE}, "match": {"regexp": "^API_"}}]})
            },
            stores: ONE,
            expect: Synced(&[
                (STORE, "db-config", r#"{"DB_HOST":"localhost","DB_USER":"admin"}"#),
                (STORE, "API_KEY", r#"{"value":"secret-key"}"#),
            ]),
        },
    ]
}

pub fn trials() -> Vec<Trial> {
    let mut out: Vec<Trial> =
        cases().into_iter().map(|c| env::trial(&format!("push_eso::{}", c.name), move || run(c))).collect();
    out.push(env::trial(
        "push_eso::should_reject_data_to_with_both_remote_key_and_rewrite_at_admission",
        should_reject_data_to_with_both_remote_key_and_rewrite_at_admission,
    ));
    out.extend(crate::push_eso_safety::trials());
    out
}

/// A test's world: one KV v2 mount and SecretStore per store name, the
/// source Secret `source` (consenting to every PushSecret), a controller.
pub(crate) async fn world(
    fx: &Fx,
    bao: &Bao,
    stores: &[&str],
    source: &[(&str, &str)],
) -> Result<(BTreeMap<String, String>, ControllerProcess), Failed> {
    put_secret(&fx.secrets(), "vault-token", "token", &bao.root_token).await?;
    let mut mounts = BTreeMap::new();
    for s in stores {
        let mount = bao.enable_kv2().await?;
        create_store(&fx.stores(), s, vault(&bao.addr, &mount, "v2", token_auth("vault-token"))).await?;
        mounts.insert((*s).to_owned(), mount);
    }
    let data: BTreeMap<&str, &str> = source.iter().copied().collect();
    let metadata = json!({"name": "source", "annotations": {"seal.dev/allow-push": "*"}});
    create(&fx.secrets(), json!({"metadata": metadata, "stringData": data})).await?;
    Ok((mounts, fx.start(Opts::default()).await?))
}

/// The PushSecret `name`: `spec` over ESO's defaults (the store
/// `test-store`, the Secret `source`, refreshed every hour).
pub(crate) fn push_secret(name: &str, spec: Value) -> Value {
    let mut s = json!({"refreshInterval": "1h", "secretStoreRefs": [{"name": STORE, "kind": "SecretStore"}],
                       "selector": {"secret": {"name": "source"}}});
    if let (Some(base), Some(more)) = (s.as_object_mut(), spec.as_object()) {
        base.extend(more.clone());
    }
    json!({"apiVersion": "seal.dev/v1alpha1", "kind": "PushSecret", "metadata": {"name": name}, "spec": s})
}

/// Every secret under `mount` (path → data), listed recursively.
pub(crate) async fn remote_secrets(bao: &Bao, mount: &str) -> Result<BTreeMap<String, Value>, Failed> {
    let root = bao.root()?;
    let mut out = BTreeMap::new();
    let mut folders = vec![String::new()];
    while let Some(folder) = folders.pop() {
        let Ok(names) = vaultrs::kv2::list(&root, mount, &folder).await else { continue };
        for n in names {
            let path = format!("{folder}{n}");
            if n.ends_with('/') {
                folders.push(path);
            } else {
                out.insert(path.clone(), vaultrs::kv2::read::<Value>(&root, mount, &path).await?);
            }
        }
    }
    Ok(out)
}

fn run(case: Case) -> Result<(), Failed> {
    let fx = setup("push-eso")?;
    let bao = env::bao()?;
    env::block_on(async {
        let stores: Vec<&str> = case.stores.to_vec();
        let (mounts, _ctrl) = world(&fx, bao, &stores, case.source).await?;
        let mut manifest = push_secret("ps", (case.spec)());
        manifest["spec"]["secretStoreRefs"] =
            json!(case.stores.iter().map(|s| json!({"name": s, "kind": "SecretStore"})).collect::<Vec<_>>());
        let pss: Api<PushSecret> = fx.app.api();
        create(&pss, manifest).await?;
        let (want, refused) = match &case.expect {
            Expect::Synced(w) => {
                wait_ready(&pss, "ps", "True", "Synced").await?;
                (*w, None)
            }
            Expect::Refused(reason, part) => {
                let obj = wait_ready(&pss, "ps", "False", reason).await?;
                let m = ready_of(&obj).1.map(|c| c.2).unwrap_or_default();
                ensure(m.contains(part), format!("the message names the cause ({part}): {m}"))?;
                (&[][..], Some(m))
            }
        };
        for (store, mount) in &mounts {
            let got = remote_secrets(bao, mount).await?;
            let expected: BTreeMap<String, Value> = want
                .iter()
                .filter(|(s, _, _)| s == store)
                .map(|(_, p, d)| Ok(((*p).to_owned(), serde_json::from_str(d)?)))
                .collect::<Result<_, serde_json::Error>>()?;
            ensure(got == expected, format!("{store}: the remote secrets {got:?}, expected {expected:?}"))?;
        }
        ensure(refused.is_none() || want.is_empty(), "a refused case pushes nothing")?;
        Ok(())
    })
}

/// ESO rejects `remoteKey` with `rewrite` at admission (a CEL rule of its
/// CRD); seal's CRD carries the same rule as a `not` schema, which
/// Kubernetes versions without CEL evaluate too (its message is the API
/// server's, naming `spec.dataTo`).
fn should_reject_data_to_with_both_remote_key_and_rewrite_at_admission() -> Result<(), Failed> {
    let fx = setup("pse-admission")?;
    let manifest = push_secret(
        "ps",
        json!({"dataTo": [{"storeRef": {"name": STORE}, "remoteKey": "my-bundle",
                           "rewrite": [{"regexp": {"source": "^", "target": "prefix/"}}]}]}),
    );
    let out = kubectl(fx.kubeconfig(), &["-n", fx.ns(), "apply", "-f", "-"]).stdin(manifest.to_string()).output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure(!out.status.success(), "the API server accepted remoteKey with rewrite")?;
    ensure(err.contains("spec.dataTo") && err.contains("(not)"), format!("the rule is named: {err}"))?;
    // With an empty rewrite list it is accepted, as by ESO's rule.
    let manifest =
        push_secret("ps", json!({"dataTo": [{"storeRef": {"name": STORE}, "remoteKey": "my-bundle", "rewrite": []}]}));
    let out = kubectl(fx.kubeconfig(), &["-n", fx.ns(), "apply", "-f", "-"]).stdin(manifest.to_string()).output()?;
    ensure(out.status.success(), format!("refused: {}", String::from_utf8_lossy(&out.stderr)))
}

/// The Events of the test's namespace, as JSON (for canary searches).
pub(crate) async fn events_json(fx: &Fx) -> Result<Vec<u8>, Failed> {
    let events: Api<Event> = fx.app.api();
    Ok(serde_json::to_vec(&events.list(&ListParams::default()).await?.items)?)
}

/// `needle` is in none of the PushSecret `name`'s object, the namespace's
/// Events and the controller's log.
pub(crate) async fn nowhere(fx: &Fx, ctrl: &ControllerProcess, name: &str, needle: &str) -> Result<(), Failed> {
    let pss: Api<PushSecret> = fx.app.api();
    assert_absent(&serde_json::to_vec(&pss.get(name).await?)?, needle, "the PushSecret")?;
    assert_absent(&events_json(fx).await?, needle, "the Events")?;
    assert_absent(&ctrl.logs(), needle, "the controller's log")
}
