//! The cases of ESO's `generators/v1/vault/vault_test.go` that concern
//! the request and the answer (by their names), and seal's own bounds.
//! The login cases (`MissingRoleName`) are the stores' (a VaultDynamicSecret
//! logs in as a SecretStore does).

use super::*;
use crate::api::generator::VaultDynamicSecretSpec;

fn spec(yaml: &str) -> VaultDynamicSecretSpec {
    let with_provider = format!(
        "provider: {{server: \"http://bao:8200\", auth: {{kubernetes: {{role: test, serviceAccountRef: {{name: testing}}}}}}}}\n{yaml}"
    );
    serde_yaml::from_str(&with_provider).expect("spec")
}

fn text(v: &Values) -> Vec<(String, String)> {
    v.iter().map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned())).collect()
}

#[test]
fn an_eso_manifest_reads_without_the_kv_path_and_records_what_seal_does_not_implement() {
    let s = spec("path: github/token/example\ncontroller: dev\nretrySettings: {maxRetries: 3}\n");
    assert_eq!(s.provider.path, "");
    assert_eq!(s.unsupported, ["spec.controller", "spec.retrySettings"]);
    assert!(spec("path: p\n").unsupported.is_empty());
}

#[test]
fn empty_vault_response() {
    let p = plan(&spec("method: GET\npath: \"github/token/example\"\n")).expect("plan");
    assert_eq!(p.method, DynamicMethod::Get);
    assert_eq!(p.segments, ["github", "token", "example"]);
    let e = values(None, VaultResultType::Data, false).expect_err("empty");
    assert!(e.starts_with("empty response from Vault"), "{e}");
}

#[test]
fn empty_vault_post() {
    let s = spec("method: POST\nparameters: {foo: bar}\npath: \"github/token/example\"\n");
    let p = plan(&s).expect("plan");
    assert_eq!((p.method, p.body.as_deref()), (DynamicMethod::Put, Some(&br#"{"foo":"bar"}"#[..])));
    assert!(values(None, VaultResultType::Data, s.allow_empty_response).is_err());
}

#[test]
fn allow_empty_vault_post() {
    let s = spec("method: POST\nparameters: {foo: bar}\npath: p\nallowEmptyResponse: true\n");
    assert!(values(None, VaultResultType::Data, s.allow_empty_response).expect("allowed").is_empty());
}

#[test]
fn allow_empty_vault_get() {
    let s = spec("method: GET\nparameters: {foo: bar}\npath: p\nallowEmptyResponse: true\n");
    assert_eq!(plan(&s).expect("plan").body, None);
    assert!(values(None, VaultResultType::Data, s.allow_empty_response).expect("allowed").is_empty());
}

#[test]
fn data_result_type() {
    let s = spec("path: \"github/token/example\"\n");
    assert_eq!(s.result_type.unwrap_or_default(), VaultResultType::Data);
    assert_eq!(plan(&s).expect("plan").method, DynamicMethod::Get, "GET when no method is given");
    let v = values(Some(br#"{"data":{"key":"value"}}"#), VaultResultType::Data, false).expect("values");
    assert_eq!(text(&v), [("key".to_owned(), "value".to_owned())]);
}

#[test]
fn auth_result_type() {
    let s = spec("path: p\nresultType: Auth\n");
    let answer =
        br#"{"data":null,"auth":{"entity_id":"123","policies":["default"],"lease_duration":60,"renewable":true}}"#;
    let v = text(&values(Some(answer), s.result_type.unwrap_or_default(), false).expect("values"));
    assert!(v.contains(&("entity_id".into(), "123".into())), "{v:?}");
    assert!(v.contains(&("policies".into(), r#"["default"]"#.into())));
    assert!(v.contains(&("lease_duration".into(), "60".into())));
    assert!(v.contains(&("renewable".into(), "true".into())));
}

#[test]
fn raw_result_type() {
    let answer = br#"{"lease_id":"123","data":{"key":"value"},"wrap_info":null}"#;
    let v = text(&values(Some(answer), VaultResultType::Raw, false).expect("values"));
    assert!(v.contains(&("lease_id".into(), "123".into())));
    assert!(v.contains(&("data".into(), r#"{"key":"value"}"#.into())));
    assert!(v.contains(&("wrap_info".into(), String::new())), "null is empty, as in ESO");
}

#[test]
fn forwards_get_parameters() {
    let s = spec("method: GET\ngetParameters: {scope: [\"applied-permissions/user\"], tag: [prod, blue]}\npath: p\n");
    assert_eq!(plan(&s).expect("plan").query.as_deref(), Some("scope=applied-permissions%2Fuser&tag=prod&tag=blue"));
    let w = spec("method: POST\ngetParameters: {tag: [prod]}\npath: p\n");
    assert_eq!(plan(&w).expect("plan").query, None, "ignored for other methods, as in ESO");
}

#[test]
fn ignores_parameters_on_get() {
    let s = spec("method: GET\nparameters: {ttl: 60, nested: {key: value}}\npath: p\n");
    let p = plan(&s).expect("plan");
    assert_eq!((p.body, p.query), (None, None));
}

#[test]
fn nested_values_are_json_as_go_writes_it() {
    let answer = br#"{"data":{"ca_chain":["a<b","c"],"m":{"z":1,"a":"&"},"n":3.5,"f":false,"x":null}}"#;
    let v = text(&values(Some(answer), VaultResultType::Data, false).expect("values"));
    assert_eq!(
        v,
        [
            ("ca_chain".to_owned(), r#"["a\u003cb","c"]"#.to_owned()),
            ("f".to_owned(), "false".to_owned()),
            ("m".to_owned(), r#"{"a":"\u0026","z":1}"#.to_owned()),
            ("n".to_owned(), "3.5".to_owned()),
            ("x".to_owned(), String::new()),
        ]
    );
}

#[test]
fn only_the_four_methods_are_sent_and_delete_is_refused() {
    for (m, want) in [("LIST", DynamicMethod::List), ("PUT", DynamicMethod::Put), ("POST", DynamicMethod::Put)] {
        assert_eq!(plan(&spec(&format!("method: {m}\npath: p\n"))).expect(m).method, want);
    }
    for m in ["DELETE", "PATCH", "get", "HEAD"] {
        let e = plan(&spec(&format!("method: {m}\npath: p\n"))).expect_err(m);
        assert!(e.starts_with("spec.method: "), "{e}");
    }
}

#[test]
fn the_path_is_joined_as_vaults_client_joins_it_and_cannot_climb() {
    let p = plan(&spec("path: \"/pki//issue/web/\"\n")).expect("plan");
    assert_eq!(p.segments, ["pki", "issue", "web"]);
    for bad in [
        "\"/\"",
        "\"pki/../sys/seal\"",
        "\"./pki\"",
        "\"pki/issue/web?x=1\"",
        "\"pki/issue/web#x\"",
        "\"pki/%2e%2e/sys\"",
        "\"pki/issue/we b\"",
        "\"pki\\\\issue\"",
    ] {
        let e = plan(&spec(&format!("path: {bad}\n"))).expect_err(bad);
        assert!(e.starts_with("spec.path"), "{e}");
    }
    let long = "a/".repeat(MAX_PATH);
    assert!(plan(&spec(&format!("path: \"{long}\"\n"))).expect_err("long").starts_with("spec.path"));
}

#[test]
fn parameters_that_are_not_an_object_are_refused_without_their_value() {
    let e = plan(&spec("method: PUT\nparameters: [\"s3cr3t\"]\npath: p\n")).expect_err("list");
    assert!(e.starts_with("spec.parameters") && !e.contains("s3cr3t"), "{e}");
    assert_eq!(plan(&spec("method: PUT\npath: p\n")).expect("plan").body.as_deref(), Some(&b"{}"[..]));
}

#[test]
fn an_answer_that_is_not_json_or_too_large_is_refused_without_its_content() {
    let e = values(Some(b"s3cr3t-not-json"), VaultResultType::Data, false).expect_err("not json");
    assert!(!e.contains("s3cr3t"), "{e}");
    let big = format!(r#"{{"data":{{"a":"{}","b":"{}"}}}}"#, "x".repeat(600 << 10), "y".repeat(600 << 10));
    assert!(values(Some(big.as_bytes()), VaultResultType::Data, false).is_err());
}

#[test]
fn issued_values_are_remembered_for_their_epoch_only() {
    let memo = Memo::new();
    let owner = owner_key("ns", "uid", "pki", "g-uid", 1);
    let one: Values = vec![("certificate".into(), Zeroizing::new(b"c1".to_vec()))];
    assert!(memo.remembered(&owner, 7).is_none());
    memo.remember(&owner, 7, Ok(Arc::new(one)));
    assert_eq!(
        memo.remembered(&owner, 7).and_then(Result::ok).map(|v| text(&v)),
        Some(vec![("certificate".into(), "c1".into())])
    );
    assert!(memo.remembered(&owner, 8).is_none(), "a new epoch requests again");
    assert!(memo.remembered(&owner_key("ns", "uid", "pki", "g-uid", 2), 7).is_none(), "an edit too");
    memo.remember(&owner, 8, Ok(Arc::new(vec![("certificate".into(), Zeroizing::new(b"c2".to_vec()))])));
    assert!(memo.remembered(&owner, 7).is_none(), "the older epoch's values are dropped");
    assert_eq!(memo.len(), 1);
}

#[test]
fn an_answer_that_made_no_values_is_remembered_for_its_epoch_too() {
    // The request was answered, so it may have issued something: the
    // retries of the epoch fail with the same reason instead of asking again.
    let memo = Memo::new();
    let owner = owner_key("ns", "uid", "pki", "g-uid", 1);
    let why = values(Some(b"not json"), VaultResultType::Data, false).map(Arc::new);
    assert!(why.is_err());
    memo.remember(&owner, 7, why);
    assert_eq!(memo.remembered(&owner, 7).map(|o| o.err()), Some(Some("Vault's answer is not a JSON object".into())));
    assert!(memo.remembered(&owner, 8).is_none(), "the next epoch asks again");
}

#[test]
fn the_remembered_values_are_bounded_in_number_and_size() {
    let memo = Memo::new();
    let owner = |i: usize| owner_key("bounded", &format!("uid-{i}"), "g", "u", 1);
    for i in 0..=MAX_REMEMBERED {
        memo.remember(&owner(i), 1, Ok(Arc::new(vec![("k".into(), Zeroizing::new(b"v".to_vec()))])));
    }
    assert_eq!(memo.len(), MAX_REMEMBERED);
    assert!(memo.remembered(&owner(0), 1).is_none(), "the oldest went first");
    assert!(memo.remembered(&owner(1), 1).is_some());
    // 40 values of 1 MiB: at most 32 MiB are kept.
    let big = || Ok(Arc::new(vec![("k".to_owned(), Zeroizing::new(vec![b'x'; MAX_VALUES_BYTES]))]));
    for i in 0..40 {
        memo.remember(&owner(10_000 + i), 1, big());
    }
    assert!(memo.remembered(&owner(10_000), 1).is_none() && memo.remembered(&owner(10_039), 1).is_some());
    let kept = (0..40).filter(|i| memo.remembered(&owner(10_000 + i), 1).is_some()).count();
    assert!(kept <= MAX_REMEMBERED_BYTES / MAX_VALUES_BYTES, "{kept} kept");
}
