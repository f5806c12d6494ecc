//! `seal-controller` against the real control plane: SealedSecrets applied
//! with the real `kubectl` become Secrets; bad documents get reasons and
//! Events and never touch a good Secret; keys renew without loss; drift is
//! handled by policy; resyncs of unchanged inputs write nothing; no secret
//! value leaks into logs, Events, status or metrics.
//!
//! Each test starts its own controller process (this test binary re-executed
//! with `--seal-controller`, which runs the real entry point) with its own
//! controller namespace (so tests share no keys) and `--watch-namespace` set to
//! the test's own namespaces (so parallel controllers do not fight).

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use libtest_mimic::{Failed, Trial};
use seal::api::SealedSecret;
use serde_json::json;

use crate::env::{self, ensure, wait_for};
use crate::fixtures::metrics::{metric, samples};
use crate::fixtures::sealed::{b64, cond, data_of, describe, insert_under, replace_line, restarted_at, rv};
use crate::fixtures::world::{lines, setup_with_other};
use crate::fixtures::{Opts, R, TIMEOUT, fmsg};
use crate::process::ControllerProcess as Controller;
use crate::support::{Run, age_keygen, assert_absent, tool};

const RULE: &str = "^(data|stringData|scope)$";

/// Every controller test.
pub fn trials() -> Vec<Trial> {
    vec![
        env::trial(
            "controller::sigterm_releases_the_lease_so_the_standby_leads_at_once",
            sigterm_releases_the_lease_so_the_standby_leads_at_once,
        ),
        env::trial(
            "controller::data_change_restarts_the_target_deployment_exactly_once",
            data_change_restarts_the_target_deployment_exactly_once,
        ),
        env::trial(
            "controller::two_replicas_one_leads_and_the_other_takes_over_after_sigkill",
            two_replicas_one_leads_and_the_other_takes_over_after_sigkill,
        ),
        env::trial(
            "controller::sealed_secret_becomes_secret_with_data_type_and_labels",
            sealed_secret_becomes_secret_with_data_type_and_labels,
        ),
        env::trial("controller::changing_one_value_updates_the_secret", changing_one_value_updates_the_secret),
        env::trial(
            "controller::deleting_sealed_secret_garbage_collects_secret",
            deleting_sealed_secret_garbage_collects_secret,
        ),
        env::trial(
            "controller::sealed_file_in_other_namespace_or_name_is_refused",
            sealed_file_in_other_namespace_or_name_is_refused,
        ),
        env::trial(
            "controller::namespace_and_cluster_scopes_allow_as_named",
            namespace_and_cluster_scopes_allow_as_named,
        ),
        env::trial(
            "controller::tampered_ciphertext_edited_mac_unknown_recipient_and_missing_mac_only_are_reported",
            tampered_ciphertext_edited_mac_unknown_recipient_and_missing_mac_only_are_reported,
        ),
        env::trial(
            "controller::key_renewal_keeps_old_keys_and_publishes_only_the_new_one",
            key_renewal_keeps_old_keys_and_publishes_only_the_new_one,
        ),
        env::trial(
            "controller::labelled_secret_with_own_age_identity_is_loaded",
            labelled_secret_with_own_age_identity_is_loaded,
        ),
        env::trial(
            "controller::drift_is_reverted_reported_or_paused_by_policy",
            drift_is_reverted_reported_or_paused_by_policy,
        ),
        env::trial("controller::unchanged_inputs_cause_no_writes", unchanged_inputs_cause_no_writes),
        env::trial(
            "controller::canary_never_appears_in_logs_events_status_or_metrics",
            canary_never_appears_in_logs_events_status_or_metrics,
        ),
        env::trial("controller::recipients_command_prints_the_active_key", recipients_command_prints_the_active_key),
        env::trial(
            "controller::unowned_secret_is_left_alone_unless_adopt_annotation",
            unowned_secret_is_left_alone_unless_adopt_annotation,
        ),
        env::trial(
            "controller::suspended_sealed_secret_keeps_its_secret_unchanged",
            suspended_sealed_secret_keeps_its_secret_unchanged,
        ),
        env::trial(
            "controller::health_and_metrics_endpoints_serve_prometheus_text_without_object_names",
            health_and_metrics_endpoints_serve_prometheus_text_without_object_names,
        ),
    ]
}

/// The recipients of the age identities in a key Secret's values.
fn key_recipients(s: &Secret) -> Vec<String> {
    let mut out = Vec::new();
    for v in s.data.clone().unwrap_or_default().values() {
        for line in String::from_utf8_lossy(&v.0).lines() {
            if let Ok(id) = age::x25519::Identity::from_str(line.trim()) {
                out.push(id.to_public().to_string());
            }
        }
    }
    out
}

/// Removes the first line starting (trimmed) with `prefix`.
fn remove_line(text: &str, prefix: &str) -> R<String> {
    let mut ls: Vec<&str> = text.lines().collect();
    let i = ls.iter().position(|l| l.trim_start().starts_with(prefix)).ok_or_else(|| format!("no line {prefix:?}"))?;
    ls.remove(i);
    Ok(ls.join("\n") + "\n")
}

/// Changes one character of the `ENC[…,data:…]` on the first line starting
/// with `key` (`password:`, `mac:`), `offset` characters after `data:`.
fn flip(text: &str, key: &str, offset: usize) -> R<String> {
    let mut done = false;
    let out: Vec<String> = text
        .lines()
        .map(|l| {
            if !done && l.trim_start().starts_with(key) && l.contains("ENC[AES256_GCM,data:") {
                done = true;
                let i = l.find("data:").unwrap_or(0) + offset;
                let mut b = l.as_bytes().to_vec();
                b[i] = if b[i] == b'A' { b'B' } else { b'A' };
                String::from_utf8(b).unwrap_or_default()
            } else {
                l.to_owned()
            }
        })
        .collect();
    if !done {
        return Err(format!("no encrypted line {key:?}"));
    }
    Ok(out.join("\n") + "\n")
}

// ---------------------------------------------------------------------------
// Tests

fn sealed_secret_becomes_secret_with_data_type_and_labels() -> Result<(), Failed> {
    let fx = setup_with_other("sealed-becomes-secret")?;
    env::block_on(async {
        let _ctrl = fx.start(Opts::default()).await?;
        let ns = fx.app();
        let sys = fx.sys.name.as_str();
        let manifest = fx.write(
            "web.secret.yaml",
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: web\n  namespace: {ns}\n  labels:\n    app: web\n    tier: backend\n  annotations:\n    team: payments\ntype: kubernetes.io/basic-auth\nstringData:\n  password: \"pa:ss w0rd ✓\"\n  username: admin\n"
            ),
        )?;
        let web = fx.file("web.sealed.yaml");
        let (m, w) = (manifest.display().to_string(), web.display().to_string());
        fx.seal(["secret", &m, "--controller", "--controller-namespace", sys, "-o", &w]).ok()?;

        let bin: &[u8] = &[0, 1, 2, 0xff, 0xfe, b'\n', 0x80, b'x'];
        let binfile = fx.write("bin.dat", bin)?;
        let blob = fx.file("blob.sealed.yaml");
        fx.seal([
            "secret",
            "--name",
            "blob",
            "--namespace",
            ns,
            "--from-literal",
            "greeting=héllo wörld",
            "--from-file",
            &format!("bin={}", binfile.display()),
            "--controller",
            "--controller-namespace",
            sys,
            "-o",
            &blob.display().to_string(),
        ])
        .ok()?;
        // template.immutable is cleartext: set it by hand, as a user may.
        let blob_text = insert_under(&fx.read(&blob)?, "template:", "immutable: true")?;
        fx.write("blob.sealed.yaml", blob_text)?;

        fx.apply(&web).await?;
        fx.apply(&blob).await?;

        let ss = fx.wait_materialized(ns, "web").await?;
        let (status, reason, _) = cond(&ss, "Ready").ok_or("no Ready condition")?;
        ensure(status == "True" && reason == "Materialized", format!("Ready: {}", describe(&ss)))?;
        ensure(
            ss.status.as_ref().and_then(|s| s.observed_generation) == ss.metadata.generation,
            format!("observedGeneration must equal generation: {}", describe(&ss)),
        )?;
        let secret =
            fx.wait_data(ns, "web", &[("password", "pa:ss w0rd ✓".as_bytes()), ("username", b"admin")]).await?;
        let data = data_of(&secret);
        ensure(
            data.keys().map(String::as_str).collect::<Vec<_>>() == ["password", "username"],
            format!("Secret keys: {:?}", data.keys().collect::<Vec<_>>()),
        )?;
        ensure(secret.type_.as_deref() == Some("kubernetes.io/basic-auth"), format!("Secret type {:?}", secret.type_))?;
        let labels = secret.labels();
        for (k, v) in [("app", "web"), ("tier", "backend"), ("app.kubernetes.io/managed-by", "seal-controller")] {
            ensure(labels.get(k).map(String::as_str) == Some(v), format!("label {k}={v} missing: {labels:?}"))?;
        }
        let ann = secret.annotations();
        ensure(ann.get("team").map(String::as_str) == Some("payments"), format!("annotation team missing: {ann:?}"))?;
        for k in ["seal.dev/data-hmac", "seal.dev/input-digest"] {
            ensure(ann.get(k).is_some_and(|v| !v.is_empty()), format!("annotation {k} missing: {ann:?}"))?;
        }
        let refs = secret.owner_references();
        ensure(refs.len() == 1, format!("owner references: {refs:?}"))?;
        let o = &refs[0];
        ensure(
            o.kind == "SealedSecret"
                && o.api_version == "seal.dev/v1alpha1"
                && o.name == "web"
                && Some(o.uid.as_str()) == ss.metadata.uid.as_deref()
                && o.controller == Some(true),
            format!("owner reference {o:?} must point at SealedSecret web (uid {:?}) with controller=true", ss.uid()),
        )?;
        let managers: Vec<(String, String)> = secret
            .metadata
            .managed_fields
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|m| (m.manager.unwrap_or_default(), m.operation.unwrap_or_default()))
            .collect();
        ensure(
            managers.iter().any(|(m, op)| m == "seal-controller" && op == "Apply"),
            format!("the Secret must be server-side applied by seal-controller; managers: {managers:?}"),
        )?;
        fx.wait_event(ns, "web", "Materialized").await?;

        fx.wait_materialized(ns, "blob").await?;
        let secret = fx.wait_data(ns, "blob", &[("greeting", "héllo wörld".as_bytes()), ("bin", bin)]).await?;
        ensure(secret.type_.as_deref() == Some("Opaque"), format!("blob type {:?}", secret.type_))?;
        ensure(secret.immutable == Some(true), format!("blob immutable {:?}", secret.immutable))?;
        ensure(data_of(&secret).len() == 2, "blob must hold exactly greeting and bin")?;
        Ok(())
    })
}

fn changing_one_value_updates_the_secret() -> Result<(), Failed> {
    let fx = setup_with_other("changing-one-value")?;
    env::block_on(async {
        let _ctrl = fx.start(Opts::default()).await?;
        let ns = fx.app();
        let (key, me) = age_keygen(fx.dir.path(), "team")?;
        let rfile = fx.recipients_file(&[&me]).await?;
        let file = fx.seal_literals(
            ns,
            "db",
            &[("user", "admin"), ("password", "v1-first"), ("host", "db.svc")],
            &rfile,
            &[],
        )?;
        fx.apply(&file).await?;
        fx.wait_materialized(ns, "db").await?;
        let before =
            fx.wait_data(ns, "db", &[("user", b"admin"), ("password", b"v1-first"), ("host", b"db.svc")]).await?;

        fx.seal(["secret", "--from-literal", "password=v2-second", "--merge-into", &file.display().to_string()])
            .env("SOPS_AGE_KEY_FILE", &key)
            .ok()?;
        fx.apply(&file).await?;
        let ss = fx.wait_materialized(ns, "db").await?;
        ensure(
            ss.metadata.generation == Some(2),
            format!("generation after one change: {:?}", ss.metadata.generation),
        )?;
        let after =
            fx.wait_data(ns, "db", &[("user", b"admin"), ("password", b"v2-second"), ("host", b"db.svc")]).await?;
        ensure(data_of(&after).len() == 3, format!("keys after: {:?}", data_of(&after).keys().collect::<Vec<_>>()))?;
        ensure(before.uid() == after.uid(), "the Secret must be updated in place, not recreated")?;
        let hmac = |s: &Secret| s.annotations().get("seal.dev/data-hmac").cloned();
        ensure(hmac(&before) != hmac(&after), "the data HMAC annotation must change with the data")?;
        Ok(())
    })
}

fn deleting_sealed_secret_garbage_collects_secret() -> Result<(), Failed> {
    let fx = setup_with_other("deleting-sealed-secret")?;
    env::block_on(async {
        let _ctrl = fx.start(Opts::default()).await?;
        let ns = fx.app();
        let rfile = fx.recipients_file(&[]).await?;
        let file = fx.seal_literals(ns, "gone", &[("token", "t0k3n")], &rfile, &[])?;
        fx.apply(&file).await?;
        fx.wait_materialized(ns, "gone").await?;
        fx.wait_data(ns, "gone", &[("token", b"t0k3n")]).await?;
        fx.sealed_secrets(ns).delete("gone", &DeleteParams::background()).await?;
        wait_for("the garbage collector to delete the Secret", TIMEOUT, || async {
            fx.secret(ns, "gone").await.map(|s| s.is_none().then_some(()))
        })
        .await
    })
}

fn sealed_file_in_other_namespace_or_name_is_refused() -> Result<(), Failed> {
    let fx = setup_with_other("scope-refused")?;
    env::block_on(async {
        let _ctrl = fx.start(Opts::default()).await?;
        let (ns, other) = (fx.app(), fx.other());
        let rfile = fx.recipients_file(&[]).await?;
        let file = fx.seal_literals(ns, "db", &[("password", "strict-pw")], &rfile, &[])?;
        let text = fx.read(&file)?;
        // The original, where it was sealed for, works.
        fx.apply(&file).await?;
        fx.wait_materialized(ns, "db").await?;
        fx.wait_data(ns, "db", &[("password", b"strict-pw")]).await?;

        // Copied into another namespace.
        let moved = replace_line(&text, &format!("namespace: {ns}"), &format!("namespace: {other}"))?;
        fx.apply_text("moved.yaml", &moved).await?;
        fx.wait_cond(other, "db", "Ready", "False", "ScopeMismatch").await?;
        fx.wait_event(other, "db", "ScopeMismatch").await?;
        ensure(fx.secret(other, "db").await?.is_none(), "a Secret appeared in the other namespace")?;

        // Renamed in the same namespace.
        let renamed = replace_line(&text, "name: db", "name: db-copy")?;
        fx.apply_text("renamed.yaml", &renamed).await?;
        fx.wait_cond(ns, "db-copy", "Ready", "False", "ScopeMismatch").await?;
        fx.wait_event(ns, "db-copy", "ScopeMismatch").await?;
        ensure(fx.secret(ns, "db-copy").await?.is_none(), "a Secret appeared under the new name")?;
        Ok(())
    })
}

fn namespace_and_cluster_scopes_allow_as_named() -> Result<(), Failed> {
    let fx = setup_with_other("scopes-allow")?;
    env::block_on(async {
        let _ctrl = fx.start(Opts::default()).await?;
        let (ns, other) = (fx.app(), fx.other());
        let rfile = fx.recipients_file(&[]).await?;

        // Namespace-wide: any name in its namespace, not another namespace.
        let nsw = fx.seal_literals(ns, "nswide", &[("k", "namespace-wide")], &rfile, &["--scope", "namespace"])?;
        let text = fx.read(&nsw)?;
        let renamed = replace_line(&text, "name: nswide", "name: renamed-nswide")?;
        fx.apply_text("nswide-renamed.yaml", &renamed).await?;
        fx.wait_materialized(ns, "renamed-nswide").await?;
        fx.wait_data(ns, "renamed-nswide", &[("k", b"namespace-wide")]).await?;
        let moved = replace_line(&text, &format!("namespace: {ns}"), &format!("namespace: {other}"))?;
        fx.apply_text("nswide-moved.yaml", &moved).await?;
        fx.wait_cond(other, "nswide", "Ready", "False", "ScopeMismatch").await?;
        ensure(fx.secret(other, "nswide").await?.is_none(), "a namespace-scoped file worked in another namespace")?;

        // Cluster-wide: any namespace, any name.
        let cw = fx.seal_literals(ns, "cw", &[("k", "cluster-wide")], &rfile, &["--scope", "cluster"])?;
        let text = fx.read(&cw)?;
        let moved = replace_line(&text, &format!("namespace: {ns}"), &format!("namespace: {other}"))?;
        let moved = replace_line(&moved, "name: cw", "name: cw-elsewhere")?;
        fx.apply_text("cw-moved.yaml", &moved).await?;
        fx.wait_materialized(other, "cw-elsewhere").await?;
        fx.wait_data(other, "cw-elsewhere", &[("k", b"cluster-wide")]).await?;
        Ok(())
    })
}

fn tampered_ciphertext_edited_mac_unknown_recipient_and_missing_mac_only_are_reported() -> Result<(), Failed> {
    let fx = setup_with_other("tampered-reported")?;
    let sops = tool("sops")?;
    env::block_on(async {
        let _ctrl = fx.start(Opts::default()).await?;
        let ns = fx.app();
        let rfile = fx.recipients_file(&[]).await?;
        let cluster_r = fx.recipients().await?.first().cloned().ok_or("no recipient")?;
        let lits: &[(&str, &str)] = &[("password", "pw-value"), ("user", "someone")];

        // A good Secret first; later its SealedSecret gets a tampered value.
        let keeper = fx.seal_literals(ns, "keeper", lits, &rfile, &[])?;
        fx.apply(&keeper).await?;
        fx.wait_materialized(ns, "keeper").await?;
        let good = fx.wait_data(ns, "keeper", &[("password", b"pw-value"), ("user", b"someone")]).await?;

        let mut cases: Vec<(&str, &str)> = Vec::new();
        // A flipped ciphertext byte.
        let f = fx.seal_literals(ns, "flipped", lits, &rfile, &[])?;
        fx.write("flipped.yaml", flip(&fx.read(&f)?, "password:", 5)?)?;
        cases.push(("flipped", "DecryptFailed"));
        // An edited MAC.
        let f = fx.seal_literals(ns, "badmac", lits, &rfile, &[])?;
        fx.write("badmac.yaml", flip(&fx.read(&f)?, "mac:", 6)?)?;
        cases.push(("badmac", "MacMismatch"));
        // A value removed: every remaining value decrypts, the MAC does not match.
        let f = fx.seal_literals(ns, "dropped", lits, &rfile, &[])?;
        fx.write("dropped.yaml", remove_line(&fx.read(&f)?, "user: ENC[")?)?;
        cases.push(("dropped", "MacMismatch"));
        // Sealed only for a key the controller does not hold.
        let (_, stranger) = age_keygen(fx.dir.path(), "stranger")?;
        let sfile = fx.write("stranger.txt", format!("{stranger}\n"))?;
        let f = fx.seal_literals(ns, "stranger", lits, &sfile, &[])?;
        fx.write("stranger.yaml", fx.read(&f)?)?;
        cases.push(("stranger", "NoMatchingKey"));
        // No sops block at all.
        let f = fx.seal_literals(ns, "nosops", lits, &rfile, &[])?;
        let text = fx.read(&f)?;
        let cut = text.find("\nsops:").ok_or("no sops block")?;
        fx.write("nosops.yaml", &text[..cut + 1])?;
        cases.push(("nosops", "InvalidDocument"));
        // Made by plain sops: without --mac-only-encrypted; with another rule.
        let sops_doc = |name: &str, args: &[&str]| -> R<()> {
            let plain = fx.write(
                &format!("{name}.plain.yaml"),
                format!(
                    "apiVersion: seal.dev/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  scope: {ns}/{name}\n  stringData:\n    password: pw-value\n    user: someone\n  template:\n    type: Opaque\n"
                ),
            )?;
            let mut all: Vec<String> = vec!["-e".into(), "--age".into(), cluster_r.clone()];
            all.extend(args.iter().map(|s| s.to_string()));
            all.push(plain.display().to_string());
            let out = Run::new(&sops, all).dir(fx.dir.path()).ok().map_err(fmsg)?;
            fx.write(&format!("{name}.yaml"), out)?;
            Ok(())
        };
        sops_doc("plainsops", &["--encrypted-regex", RULE])?;
        cases.push(("plainsops", "InvalidDocument"));
        sops_doc("wrongrule", &["--encrypted-regex", "^(stringData|scope)$", "--mac-only-encrypted"])?;
        cases.push(("wrongrule", "InvalidDocument"));
        // The way docs/architecture.md accepts plain sops files: this one must work.
        sops_doc("sopsok", &["--encrypted-regex", RULE, "--mac-only-encrypted"])?;

        for (name, _) in &cases {
            fx.apply(&fx.file(&format!("{name}.yaml"))).await?;
        }
        fx.apply(&fx.file("sopsok.yaml")).await?;
        // The good one's update with a tampered value.
        fx.write("keeper-bad.yaml", flip(&fx.read(&keeper)?, "password:", 5)?)?;
        fx.apply(&fx.file("keeper-bad.yaml")).await?;

        let mut problems = Vec::new();
        for (name, reason) in &cases {
            if let Err(e) = fx.wait_cond(ns, name, "Ready", "False", reason).await {
                problems.push(format!("{name}: expected Ready=False {reason}: {e}"));
                continue;
            }
            if let Err(e) = fx.wait_event(ns, name, reason).await {
                problems.push(format!("{name}: {e}"));
            }
            match fx.secret(ns, name).await {
                Ok(None) => {}
                Ok(Some(_)) => problems.push(format!("{name}: a Secret was created from a bad document")),
                Err(e) => problems.push(e),
            }
        }
        match fx.wait_materialized(ns, "sopsok").await {
            Ok(_) => {
                if let Err(e) = fx.wait_data(ns, "sopsok", &[("password", b"pw-value"), ("user", b"someone")]).await {
                    problems.push(format!("sopsok: {e}"));
                }
            }
            Err(e) => {
                problems.push(format!("sopsok (plain sops with --mac-only-encrypted, docs/architecture.md): {e}"))
            }
        }
        // The good Secret is untouched by its SealedSecret's bad update.
        match fx.wait_cond(ns, "keeper", "Ready", "False", "DecryptFailed").await {
            Ok(_) => {
                let now = fx.secret(ns, "keeper").await?.ok_or("the good Secret was deleted")?;
                if rv(&now) != rv(&good) || data_of(&now) != data_of(&good) {
                    problems.push("keeper: the good Secret was changed by a failed update".into());
                }
            }
            Err(e) => problems.push(format!("keeper: {e}")),
        }
        // Everything else still gets served.
        let after = fx.seal_literals(ns, "good-after", &[("ok", "yes")], &rfile, &[])?;
        fx.apply(&after).await?;
        if let Err(e) = fx.wait_materialized(ns, "good-after").await {
            problems.push(format!("good-after: {e}"));
        }
        ensure(problems.is_empty(), problems.join("\n"))
    })
}

fn key_renewal_keeps_old_keys_and_publishes_only_the_new_one() -> Result<(), Failed> {
    let fx = setup_with_other("key-renewal")?;
    env::block_on(async {
        let ctrl = fx.start(Opts { renew: Some("3s"), ..Opts::default() }).await?;
        let ns = fx.app();
        let first = fx.keys().await?;
        ensure(!first.is_empty(), "no key Secret after start")?;
        for k in &first {
            let name = k.name_any();
            let stamp = name.strip_prefix("seal-key-").unwrap_or("");
            ensure(
                stamp.len() == 14 && stamp.bytes().all(|b| b.is_ascii_digit()),
                format!("key Secret name {name:?} is not seal-key-YYYYMMDDHHMMSS"),
            )?;
            let text = k.data.clone().unwrap_or_default().get("age.agekey").map(|v| v.0.clone()).unwrap_or_default();
            ensure(
                String::from_utf8_lossy(&text).contains("AGE-SECRET-KEY-1"),
                format!("key Secret {name} has no age identity under age.agekey"),
            )?;
        }
        let old_r = key_recipients(&first[0]).first().cloned().ok_or("the first key holds no identity")?;
        let old_file = fx.write("old-recipient.txt", format!("{old_r}\n"))?;
        let f = fx.seal_literals(ns, "old", &[("v", "sealed-before")], &old_file, &[])?;
        fx.apply(&f).await?;
        fx.wait_materialized(ns, "old").await?;

        // A second key, published alone: the old one is retired (it still
        // decrypts, nothing new is sealed to it).
        let (published, keys) = wait_for("a renewed key, published alone", TIMEOUT, || async {
            let keys = fx.keys().await?;
            if keys.len() < 2 {
                return Err(format!("{} key Secret(s) so far", keys.len()));
            }
            let all: Vec<String> = keys.iter().flat_map(key_recipients).collect();
            let listed = fx.recipients().await?;
            let served = lines(&ctrl.get_ok("/v1/recipients").await?);
            if listed.len() != 1 || listed.first() != all.last() {
                return Err(format!("ConfigMap lists {listed:?}, the newest key is {:?}", all.last()));
            }
            if served != listed {
                return Err(format!("/v1/recipients {served:?} differs from the ConfigMap {listed:?}"));
            }
            Ok(Some((listed, keys)))
        })
        .await?;
        ensure(!published.contains(&old_r), "the retired recipient is still published")?;
        ensure(
            first.iter().all(|k| keys.iter().any(|n| n.uid() == k.uid() && n.data == k.data)),
            "a key Secret present before renewal was deleted or changed",
        )?;
        // Sealed to the old key after renewal: still decrypts.
        let f = fx.seal_literals(ns, "after-renewal", &[("v", "sealed-after")], &old_file, &[])?;
        fx.apply(&f).await?;
        fx.wait_materialized(ns, "after-renewal").await?;
        fx.wait_data(ns, "after-renewal", &[("v", b"sealed-after")]).await?;

        // Restart: every key is still there, none lost, none added (30d).
        ctrl.stop();
        let before: Vec<(String, Option<String>)> =
            fx.keys().await?.into_iter().map(|k| (k.name_any(), k.uid())).collect();
        let ctrl = fx.start(Opts::default()).await?;
        let after: Vec<(String, Option<String>)> =
            fx.keys().await?.into_iter().map(|k| (k.name_any(), k.uid())).collect();
        ensure(before == after, format!("key Secrets before restart {before:?}, after {after:?}"))?;
        let f = fx.seal_literals(ns, "after-restart", &[("v", "sealed-old-again")], &old_file, &[])?;
        fx.apply(&f).await?;
        fx.wait_materialized(ns, "after-restart").await?;
        fx.wait_data(ns, "after-restart", &[("v", b"sealed-old-again")]).await?;
        let m = ctrl.metrics().await?;
        let loaded = metric(&m, "seal_keys_loaded", &[]);
        ensure(loaded == after.len() as f64, format!("seal_keys_loaded {loaded:?}, key Secrets {}", after.len()))?;
        Ok(())
    })
}

fn labelled_secret_with_own_age_identity_is_loaded() -> Result<(), Failed> {
    let fx = setup_with_other("bring-your-own-key")?;
    env::block_on(async {
        let (key, byo) = age_keygen(fx.dir.path(), "byo")?;
        let identity = std::fs::read(&key)?;
        let secrets = fx.secrets_in(&fx.sys.name);
        let mk = |name: &str, k: &str, v: &[u8]| -> R<Secret> {
            serde_json::from_value(json!({
                "metadata": {"name": name, "labels": {"seal.dev/key": "age"}},
                "data": {k: b64(v)},
            }))
            .map_err(|e| e.to_string())
        };
        let byo_secret =
            secrets.create(&PostParams::default(), &mk("flux-sops-age", "identity.agekey", &identity)?).await?;
        let junk = secrets.create(&PostParams::default(), &mk("not-a-key", "note", b"nothing to see")?).await?;

        let ctrl = fx.start(Opts::default()).await?;
        let published = fx.recipients().await?;
        ensure(published.contains(&byo), format!("the brought key {byo} is not published: {published:?}"))?;
        let ns = fx.app();
        let only = fx.write("byo.txt", format!("{byo}\n"))?;
        let f = fx.seal_literals(ns, "byo", &[("v", "for-the-old-key")], &only, &[])?;
        fx.apply(&f).await?;
        fx.wait_materialized(ns, "byo").await?;
        fx.wait_data(ns, "byo", &[("v", b"for-the-old-key")]).await?;
        for (s, what) in [(&byo_secret, "the brought key"), (&junk, "the labelled Secret without a key")] {
            let now = secrets.get_opt(&s.name_any()).await?.ok_or(format!("{what} was deleted"))?;
            ensure(rv(&now) == rv(s), format!("{what} was changed"))?;
        }
        ctrl.alive()?;
        Ok(())
    })
}

fn drift_is_reverted_reported_or_paused_by_policy() -> Result<(), Failed> {
    let fx = setup_with_other("drift-policy")?;
    env::block_on(async {
        let ctrl = fx.start(Opts { resync: Some("2s"), ..Opts::default() }).await?;
        let ns = fx.app();
        let (key, me) = age_keygen(fx.dir.path(), "team")?;
        let rfile = fx.recipients_file(&[&me]).await?;
        let mut files = BTreeMap::new();
        for (name, policy) in [("revert", None), ("alert", Some("Alert")), ("pause", Some("Pause"))] {
            let orig = format!("orig-{name}");
            let f = fx.seal_literals(ns, name, &[("password", &orig), ("user", "u")], &rfile, &[])?;
            if let Some(p) = policy {
                std::fs::write(&f, insert_under(&fx.read(&f)?, "spec:", &format!("driftPolicy: {p}"))?)?;
            }
            fx.apply(&f).await?;
            files.insert(name, f);
        }
        for name in ["revert", "alert", "pause"] {
            fx.wait_materialized(ns, name).await?;
            fx.wait_data(ns, name, &[("password", format!("orig-{name}").as_bytes()), ("user", b"u")]).await?;
        }
        for name in ["revert", "alert", "pause"] {
            fx.edit_secret(ns, name, "password", b"changed-by-hand").await?;
        }

        // Revert: restored within seconds.
        fx.wait_data(ns, "revert", &[("password", b"orig-revert")]).await?;
        fx.wait_event(ns, "revert", "DriftReverted").await?;
        // Alert: reported, left alone, Warning Event.
        fx.wait_cond(ns, "alert", "Drifted", "True", "DriftDetected").await?;
        let ev = fx.wait_event(ns, "alert", "DriftDetected").await?;
        ensure(ev.type_ == "Warning", format!("the DriftDetected Event has type {:?}, not Warning", ev.type_))?;
        // Pause: reported, left alone.
        fx.wait_cond(ns, "pause", "Drifted", "True", "DriftPaused").await?;
        fx.wait_event(ns, "pause", "DriftPaused").await?;

        // Several resyncs later, Alert and Pause still have the hand-made
        // value. A touch of each wakes this test's own controller, and it
        // must reconcile them: a stalled controller would leave them too.
        ctrl.wait_reconciles_after("SealedSecret", 2, async {
            fx.touch("sealedsecret", "alert")?;
            fx.touch("sealedsecret", "pause")
        })
        .await?;
        tokio::time::sleep(Duration::from_secs(6)).await;
        for name in ["alert", "pause"] {
            let s = fx.secret(ns, name).await?.ok_or(format!("Secret {name} vanished"))?;
            ensure(
                data_of(&s).get("password").map(Vec::as_slice) == Some(b"changed-by-hand".as_slice()),
                format!("{name}: the controller overwrote a drifted Secret despite its policy"),
            )?;
        }

        // Pause: the resume annotation restores the desired data.
        let patch = json!({"metadata": {"annotations": {"seal.dev/resume": "r1"}}});
        fx.sealed_secrets(ns).patch("pause", &PatchParams::default(), &Patch::Merge(&patch)).await?;
        fx.wait_data(ns, "pause", &[("password", b"orig-pause")]).await?;
        let resumed = wait_for("status.resumed to record r1", TIMEOUT, || async {
            let ss = fx.sealed_secrets(ns).get("pause").await.map_err(|e| e.to_string())?;
            let r = ss.status.and_then(|s| s.resumed);
            if r.as_deref() == Some("r1") { Ok(Some(())) } else { Err(format!("status.resumed is {r:?}")) }
        })
        .await;
        // Pause again; then a spec change (a new value) is written.
        // The edit of its Secret wakes the controller: it must reconcile.
        ctrl.wait_reconciles_after("SealedSecret", 1, fx.edit_secret(ns, "pause", "password", b"changed-again"))
            .await?;
        tokio::time::sleep(Duration::from_secs(5)).await;
        let s = fx.secret(ns, "pause").await?.ok_or("Secret pause vanished")?;
        ensure(
            data_of(&s).get("password").map(Vec::as_slice) == Some(b"changed-again".as_slice()),
            "pause: after a resume, a new drift was overwritten",
        )?;
        let pf = files.get("pause").ok_or("no pause file")?;
        fx.seal(["secret", "--from-literal", "password=new-pause", "--merge-into", &pf.display().to_string()])
            .env("SOPS_AGE_KEY_FILE", &key)
            .ok()?;
        ensure(fx.read(pf)?.contains("driftPolicy: Pause"), "merge lost the drift policy")?;
        fx.apply(pf).await?;
        fx.wait_data(ns, "pause", &[("password", b"new-pause"), ("user", b"u")]).await?;

        // Revert: a deleted Secret is recreated.
        let old = fx.secret(ns, "revert").await?.ok_or("Secret revert vanished")?;
        fx.secrets_in(ns).delete("revert", &DeleteParams::default()).await?;
        let new = wait_for("the deleted Secret to be recreated", TIMEOUT, || async {
            match fx.secret(ns, "revert").await? {
                Some(s) if s.uid() != old.uid() => Ok(Some(s)),
                _ => Err("not recreated yet".to_string()),
            }
        })
        .await?;
        ensure(
            data_of(&new).get("password").map(Vec::as_slice) == Some(b"orig-revert".as_slice()),
            "the recreated Secret has other data",
        )?;

        let m = ctrl.metrics().await?;
        for p in ["Revert", "Alert", "Pause"] {
            let n = metric(&m, "seal_drift_total", &[("policy", p)]);
            ensure(n >= 1.0, format!("seal_drift_total{{policy=\"{p}\"}} is {n}"))?;
        }
        resumed
    })
}

fn unchanged_inputs_cause_no_writes() -> Result<(), Failed> {
    let fx = setup_with_other("unchanged-no-writes")?;
    env::block_on(async {
        let ctrl = fx.start(Opts { resync: Some("2s"), ..Opts::default() }).await?;
        let ns = fx.app();
        let rfile = fx.recipients_file(&[]).await?;
        let f = fx.seal_literals(ns, "still", &[("a", "1"), ("b", "2")], &rfile, &[])?;
        fx.apply(&f).await?;
        fx.wait_materialized(ns, "still").await?;
        fx.wait_data(ns, "still", &[("a", b"1"), ("b", b"2")]).await?;
        // Let the first round settle (status, Events).
        tokio::time::sleep(Duration::from_secs(3)).await;
        let secret_rv = rv(&fx.secret(ns, "still").await?.ok_or("no Secret")?);
        let ss_rv = fx.sealed_secrets(ns).get("still").await?.resource_version();
        let m0 = ctrl.metrics().await?;
        tokio::time::sleep(Duration::from_secs(8)).await;
        let m1 = ctrl.metrics().await?;
        let reconciles = |m: &str| metric(m, "seal_reconcile_total", &[("kind", "SealedSecret")]);
        ensure(
            reconciles(&m1) - reconciles(&m0) >= 2.0,
            format!("expected resyncs every 2s, seal_reconcile_total went {} -> {}", reconciles(&m0), reconciles(&m1)),
        )?;
        let now = rv(&fx.secret(ns, "still").await?.ok_or("no Secret")?);
        ensure(
            now == secret_rv,
            format!("the Secret was written during resyncs: resourceVersion {secret_rv} -> {now}"),
        )?;
        let now_ss = fx.sealed_secrets(ns).get("still").await?.resource_version();
        ensure(
            now_ss == ss_rv,
            format!("the SealedSecret (status) was written during resyncs: resourceVersion {ss_rv:?} -> {now_ss:?}"),
        )?;
        let decrypts = |m: &str| metric(m, "seal_decrypt_total", &[]);
        ensure(
            decrypts(&m1) == decrypts(&m0),
            format!(
                "resyncs of unchanged inputs decrypted again (docs/architecture.md, materializing): seal_decrypt_total {} -> {}",
                decrypts(&m0),
                decrypts(&m1)
            ),
        )
    })
}

const CANARY: &str = "canary-Vq7mX3rT9wK2";
const CANARY_DRIFT: &str = "canary-drift-Lp4Hs8Yd";

fn canary_never_appears_in_logs_events_status_or_metrics() -> Result<(), Failed> {
    let fx = setup_with_other("canary")?;
    env::block_on(async {
        let ctrl = fx.start(Opts::default()).await?;
        let (ns, other) = (fx.app(), fx.other());
        let rfile = fx.recipients_file(&[]).await?;
        let lits: &[(&str, &str)] = &[("password", CANARY), ("user", CANARY)];
        let binfile = fx.write("canary.bin", format!("{CANARY}\n"))?;
        let bin_arg = format!("blob={}", binfile.display());

        let good = fx.seal_literals(ns, "good", lits, &rfile, &["--from-file", &bin_arg])?;
        fx.apply(&good).await?;
        let bad = fx.seal_literals(ns, "bad", lits, &rfile, &[])?;
        fx.apply_text("bad.yaml", &flip(&fx.read(&bad)?, "user:", 5)?).await?;
        let badmac = fx.seal_literals(ns, "badmac", lits, &rfile, &[])?;
        fx.apply_text("badmac.yaml", &flip(&fx.read(&badmac)?, "mac:", 6)?).await?;
        let text = fx.read(&good)?;
        fx.apply_text("moved.yaml", &replace_line(&text, &format!("namespace: {ns}"), &format!("namespace: {other}"))?)
            .await?;

        fx.wait_materialized(ns, "good").await?;
        // The canary is really there (the search below is not vacuous).
        fx.wait_data(ns, "good", &[("password", CANARY.as_bytes()), ("blob", format!("{CANARY}\n").as_bytes())])
            .await?;
        fx.wait_cond(ns, "bad", "Ready", "False", "DecryptFailed").await?;
        fx.wait_cond(ns, "badmac", "Ready", "False", "MacMismatch").await?;
        fx.wait_cond(other, "good", "Ready", "False", "ScopeMismatch").await?;
        // Drift with another secret value, reverted.
        fx.edit_secret(ns, "good", "password", CANARY_DRIFT.as_bytes()).await?;
        fx.wait_event(ns, "good", "DriftReverted").await?;
        fx.wait_data(ns, "good", &[("password", CANARY.as_bytes())]).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;

        let mut places: Vec<(String, Vec<u8>)> = Vec::new();
        places.push(("/metrics".into(), ctrl.metrics().await?.into_bytes()));
        places.push(("/v1/recipients".into(), ctrl.get_ok("/v1/recipients").await?.into_bytes()));
        let ar = ApiResource::erase::<SealedSecret>(&());
        for n in [ns, other] {
            let dynamic: Api<DynamicObject> = Api::namespaced_with(fx.cluster.admin(), n, &ar);
            let list = dynamic.list(&ListParams::default()).await?;
            places.push((format!("SealedSecrets in {n} (with status)"), serde_json::to_vec(&list.items)?));
            let new: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(fx.cluster.admin(), n);
            places.push((
                format!("events.k8s.io Events in {n}"),
                serde_json::to_vec(&new.list(&ListParams::default()).await?.items)?,
            ));
            let core: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(fx.cluster.admin(), n);
            places.push((
                format!("core Events in {n}"),
                serde_json::to_vec(&core.list(&ListParams::default()).await?.items)?,
            ));
        }
        let mut meta = fx.secret(ns, "good").await?.ok_or("no Secret")?;
        meta.data = None;
        places.push(("the Secret's metadata (annotations)".into(), serde_json::to_vec(&meta)?));
        ctrl.stop();
        let logs = ctrl.logs();
        ensure(
            String::from_utf8_lossy(&logs)
                .lines()
                .any(|l| serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| v.is_object())),
            "--log-format json wrote no JSON log line",
        )?;
        places.push(("the controller's stdout and stderr".into(), logs));
        for (what, bytes) in &places {
            for needle in [CANARY, CANARY_DRIFT] {
                assert_absent(bytes, needle, what)?;
                assert_absent(bytes, &b64(needle.as_bytes()), &format!("{what} (base64)"))?;
            }
        }
        Ok(())
    })
}

fn recipients_command_prints_the_active_key() -> Result<(), Failed> {
    let fx = setup_with_other("recipients-command")?;
    env::block_on(async {
        // Two keys: renew quickly once, then restart with the normal period
        // so the list is stable.
        let ctrl = fx.start(Opts { renew: Some("2s"), ..Opts::default() }).await?;
        wait_for("a second key", TIMEOUT, || async {
            let n = fx.keys().await?.len();
            if n >= 2 { Ok(Some(())) } else { Err(format!("{n} key(s)")) }
        })
        .await?;
        ctrl.stop();
        let ctrl = fx.start(Opts::default()).await?;
        let keys = fx.keys().await?;
        let newest = keys.last().map(key_recipients).unwrap_or_default();
        let sys = fx.sys.name.as_str();
        let (published, served) =
            wait_for("the ConfigMap and /v1/recipients to list the active key", TIMEOUT, || async {
                let published = fx.recipients().await?;
                let served = lines(&ctrl.get_ok("/v1/recipients").await?);
                if published.len() == 1 && served == published {
                    Ok(Some((published, served)))
                } else {
                    Err(format!("{} keys, ConfigMap {published:?}, served {served:?}", keys.len()))
                }
            })
            .await?;
        ensure(published.first() == newest.first(), format!("newest key {newest:?}, ConfigMap {published:?}"))?;
        let out = String::from_utf8(fx.seal(["recipients", "--controller-namespace", sys]).ok()?)?;
        let printed: Vec<String> = out.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
        ensure(
            printed == published,
            format!("seal recipients printed {printed:?}, the ConfigMap lists {published:?}"),
        )?;
        ensure(printed == served, "seal recipients differs from /v1/recipients")?;
        let kc = kube::config::Kubeconfig::read_from(fx.kubeconfig()).map_err(|e| e.to_string())?;
        let context = kc.current_context.ok_or("the kubeconfig has no current context")?;
        let out = fx.seal(["recipients", "--context", &context, "--controller-namespace", sys]).ok()?;
        ensure(lines(&String::from_utf8(out)?) == published, "seal recipients --context printed another list")?;
        Ok(())
    })
}

fn unowned_secret_is_left_alone_unless_adopt_annotation() -> Result<(), Failed> {
    let fx = setup_with_other("unowned-adopt")?;
    env::block_on(async {
        let _ctrl = fx.start(Opts::default()).await?;
        let ns = fx.app();
        let secrets = fx.secrets_in(ns);
        let mk = |name: &str, adopt: bool| -> R<Secret> {
            let ann = if adopt { json!({"seal.dev/adopt": "true"}) } else { json!({}) };
            serde_json::from_value(json!({
                "metadata": {"name": name, "annotations": ann},
                "data": {"password": b64(b"theirs")},
            }))
            .map_err(|e| e.to_string())
        };
        let theirs = secrets.create(&PostParams::default(), &mk("taken", false)?).await?;
        secrets.create(&PostParams::default(), &mk("adoptme", true)?).await?;

        let rfile = fx.recipients_file(&[]).await?;
        let f = fx.seal_literals(ns, "taken", &[("password", "ours")], &rfile, &[])?;
        fx.apply(&f).await?;
        fx.wait_cond(ns, "taken", "Ready", "False", "SecretNotOwned").await?;
        fx.wait_event(ns, "taken", "SecretNotOwned").await?;
        let now = fx.secret(ns, "taken").await?.ok_or("the unowned Secret was deleted")?;
        ensure(rv(&now) == rv(&theirs), "the unowned Secret was written")?;
        ensure(now.owner_references().is_empty(), "the unowned Secret got an owner")?;

        let f = fx.seal_literals(ns, "adoptme", &[("password", "ours")], &rfile, &[])?;
        fx.apply(&f).await?;
        let ss = fx.wait_materialized(ns, "adoptme").await?;
        let s = fx.wait_data(ns, "adoptme", &[("password", b"ours")]).await?;
        let refs = s.owner_references();
        ensure(
            refs.len() == 1
                && refs[0].controller == Some(true)
                && Some(refs[0].uid.as_str()) == ss.metadata.uid.as_deref(),
            format!("the adopted Secret's owner references: {refs:?}"),
        )?;
        Ok(())
    })
}

fn suspended_sealed_secret_keeps_its_secret_unchanged() -> Result<(), Failed> {
    let fx = setup_with_other("suspended")?;
    env::block_on(async {
        let ctrl = fx.start(Opts::default()).await?;
        let ns = fx.app();
        let (key, me) = age_keygen(fx.dir.path(), "team")?;
        let rfile = fx.recipients_file(&[&me]).await?;
        let f = fx.seal_literals(ns, "sus", &[("v", "one")], &rfile, &[])?;
        fx.apply(&f).await?;
        fx.wait_materialized(ns, "sus").await?;
        let before = fx.wait_data(ns, "sus", &[("v", b"one")]).await?;
        let fs = f.display().to_string();
        fx.seal(["secret", "--from-literal", "v=two", "--merge-into", &fs]).env("SOPS_AGE_KEY_FILE", &key).ok()?;
        let unsuspended = fx.read(&f)?;
        fx.apply_text("sus-suspended.yaml", &insert_under(&unsuspended, "spec:", "suspend: true")?).await?;
        fx.wait_cond(ns, "sus", "Ready", "False", "Suspended").await?;
        // A touch wakes the controller; it reconciles the suspended object
        // (its only SealedSecret) and still writes nothing.
        ctrl.wait_reconciles_after("SealedSecret", 1, async { fx.touch("sealedsecret", "sus") }).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = fx.secret(ns, "sus").await?.ok_or("the Secret was deleted while suspended")?;
        ensure(rv(&now) == rv(&before), "a suspended SealedSecret's Secret was written")?;
        fx.apply(&f).await?;
        fx.wait_materialized(ns, "sus").await?;
        fx.wait_data(ns, "sus", &[("v", b"two")]).await?;
        Ok(())
    })
}

fn health_and_metrics_endpoints_serve_prometheus_text_without_object_names() -> Result<(), Failed> {
    let fx = setup_with_other("metrics")?;
    env::block_on(async {
        let ctrl = fx.start(Opts::default()).await?;
        let ns = fx.app();
        let rfile = fx.recipients_file(&[]).await?;
        let good = fx.seal_literals(ns, "probe-good-zq", &[("v", "x")], &rfile, &[])?;
        fx.apply(&good).await?;
        let bad = fx.seal_literals(ns, "probe-bad-zq", &[("v", "x")], &rfile, &[])?;
        fx.apply_text("bad.yaml", &flip(&fx.read(&bad)?, "v:", 5)?).await?;
        fx.wait_materialized(ns, "probe-good-zq").await?;
        fx.wait_cond(ns, "probe-bad-zq", "Ready", "False", "DecryptFailed").await?;

        ctrl.get_ok("/healthz").await?;
        let mut problems = Vec::new();
        // Ready once the caches are synced: long before two objects are reconciled.
        if let Err(e) = wait_for("/readyz to answer 200", Duration::from_secs(20), || async {
            ctrl.get_ok("/readyz").await.map(Some)
        })
        .await
        {
            problems.push(fmsg(e));
        }
        let m = wait_for("metrics of both reconciles", TIMEOUT, || async {
            let m = ctrl.metrics().await?;
            let n = metric(&m, "seal_reconcile_total", &[("kind", "SealedSecret")]);
            if n >= 2.0 { Ok(Some(m)) } else { Err(format!("seal_reconcile_total {n}")) }
        })
        .await?;
        for t in ["# TYPE seal_reconcile counter", "# TYPE seal_reconcile_duration_seconds histogram"] {
            if !m.contains(t) {
                problems.push(format!("missing {t:?}"));
            }
        }
        let results: BTreeSet<String> = samples(&m)
            .into_iter()
            .filter(|(n, _, _)| n == "seal_reconcile_total")
            .flat_map(|(_, l, _)| l.into_iter().filter(|(k, _)| k == "result").map(|(_, v)| v))
            .collect();
        if results.len() < 2 {
            problems
                .push(format!("seal_reconcile_total must count a success and a failure apart: results {results:?}"));
        }
        for (name, labels) in [
            ("seal_reconcile_duration_seconds_count", vec![]),
            ("seal_reconcile_duration_seconds_bucket", vec![]),
            ("seal_decrypt_total", vec![]),
            ("seal_decrypt_errors_total", vec![]),
            ("seal_keys_loaded", vec![]),
        ] {
            match metric(&m, name, &labels) {
                v if v >= 1.0 => {}
                other => problems.push(format!("{name}: {other:?}")),
            }
        }
        let reasons: Vec<String> = samples(&m)
            .into_iter()
            .filter(|(n, _, _)| n == "seal_decrypt_errors_total")
            .flat_map(|(_, l, _)| l.into_iter().filter(|(k, _)| k == "reason").map(|(_, v)| v))
            .collect();
        if reasons.is_empty() {
            problems.push("seal_decrypt_errors_total has no reason label".into());
        }
        for (n, labels, _) in samples(&m) {
            for (k, v) in labels {
                if v.contains("probe-") || v.contains(ns) {
                    problems.push(format!("{n} has an object name in label {k}={v:?}"));
                }
            }
        }
        ensure(problems.is_empty(), format!("{}\n--- /metrics:\n{m}", problems.join("\n")))
    })
}

fn data_change_restarts_the_target_deployment_exactly_once() -> Result<(), Failed> {
    use k8s_openapi::api::apps::v1::Deployment;
    let fx = setup_with_other("rollout-restart")?;
    env::block_on(async {
        let ctrl = fx.start(Opts { resync: Some("2s"), ..Opts::default() }).await?;
        let ns = fx.app();
        let deployments: Api<Deployment> = Api::namespaced(fx.cluster.admin(), ns);
        let web: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "web", "annotations": {"seal.dev/restart-on": "*"}},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                             "spec": {"containers": [{"name": "web", "image": "example.invalid/web:1"}]}}
            }
        }))?;
        deployments.create(&PostParams::default(), &web).await?;
        let (key, me) = age_keygen(fx.dir.path(), "team")?;
        let rfile = fx.recipients_file(&[&me]).await?;
        let file = fx.seal_literals(ns, "db", &[("password", "first")], &rfile, &[])?;
        let text = insert_under(&fx.read(&file)?, "spec:", "rolloutRestartTargets: [{kind: Deployment, name: web}]")?;
        fx.apply_text("db.sealed.yaml", &text).await?;
        fx.wait_materialized(ns, "db").await?;
        fx.wait_data(ns, "db", &[("password", b"first")]).await?;
        let d = deployments.get("web").await?;
        ensure(restarted_at(&d).is_none(), "creating the Secret must not restart anything")?;
        let gen_before = d.metadata.generation;

        let file = fx.write("db.sealed.yaml", &text)?;
        fx.seal(["secret", "--from-literal", "password=second", "--merge-into", &file.display().to_string()])
            .env("SOPS_AGE_KEY_FILE", &key)
            .ok()?;
        fx.apply(&file).await?;
        fx.wait_data(ns, "db", &[("password", b"second")]).await?;
        let stamp = wait_for("the restartedAt annotation", TIMEOUT, || async {
            let d = deployments.get("web").await.map_err(|e| e.to_string())?;
            Ok::<_, String>(restarted_at(&d))
        })
        .await?;
        // Several resyncs later (this test's own controller resyncs its one
        // SealedSecret every 2 s: at least two of them): no further restart.
        ctrl.wait_reconciles("SealedSecret", 2).await?;
        tokio::time::sleep(Duration::from_secs(7)).await;
        let d = deployments.get("web").await?;
        ensure(restarted_at(&d) == Some(stamp), "an unchanged resync must not restart again")?;
        ensure(
            d.metadata.generation == gen_before.map(|g| g + 1),
            format!("one data change must bump the Deployment once: {gen_before:?} -> {:?}", d.metadata.generation),
        )?;
        Ok(())
    })
}

async fn leader_flag(c: &Controller) -> Option<f64> {
    let text = c.metrics().await.ok()?;
    text.lines().find_map(|l| l.strip_prefix("seal_leader ")).and_then(|v| v.trim().parse().ok())
}

fn two_replicas_one_leads_and_the_other_takes_over_after_sigkill() -> Result<(), Failed> {
    let fx = setup_with_other("leader-election")?;
    env::block_on(async {
        let opts = || Opts { lease: Some("5"), ..Opts::default() };
        let first = fx.start(opts()).await?;
        let ns = fx.app();
        let rfile = fx.recipients_file(&[]).await?;
        let before = fx.seal_literals(ns, "before", &[("k", "v1")], &rfile, &[])?;
        fx.apply(&before).await?;
        fx.wait_materialized(ns, "before").await?;
        let before_rv = rv(&fx.wait_data(ns, "before", &[("k", b"v1")]).await?);
        let second = fx.spawn(&opts())?;
        let deadline = Instant::now() + TIMEOUT;
        while leader_flag(&first).await.is_none() || leader_flag(&second).await.is_none() {
            second.alive()?;
            ensure(Instant::now() < deadline, "both replicas must serve seal_leader")?;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        ensure(leader_flag(&first).await == Some(1.0), "the first replica leads")?;
        ensure(leader_flag(&second).await == Some(0.0), "the second replica waits")?;

        // SIGKILL: no chance to release the Lease; the standby must wait for it to expire.
        first.kill();
        let killed = Instant::now();
        let after = fx.seal_literals(ns, "after", &[("k", "v2")], &rfile, &[])?;
        fx.apply(&after).await?;
        fx.wait_materialized(ns, "after").await?;
        let took = killed.elapsed();
        ensure(leader_flag(&second).await == Some(1.0), "the second replica now leads")?;
        // Lease of 5 s, renewal grace, then one reconcile.
        ensure(took < Duration::from_secs(25), format!("takeover and reconcile took {took:?}"))?;
        fx.wait_data(ns, "after", &[("k", b"v2")]).await?;
        // Nothing written twice: the new leader finds the old Secret up to date.
        let now_rv = fx.secret(ns, "before").await?.map(|s| rv(&s));
        ensure(now_rv.as_deref() == Some(before_rv.as_str()), "the new leader must not rewrite an up-to-date Secret")?;
        second.stop();
        Ok(())
    })
}

fn sigterm_releases_the_lease_so_the_standby_leads_at_once() -> Result<(), Failed> {
    let fx = setup_with_other("lease-release")?;
    env::block_on(async {
        // A long Lease: without a release the standby would wait 30 s.
        let opts = || Opts { lease: Some("30"), ..Opts::default() };
        let first = fx.start(opts()).await?;
        let second = fx.spawn(&opts())?;
        let deadline = Instant::now() + TIMEOUT;
        while leader_flag(&second).await.is_none() {
            second.alive()?;
            ensure(Instant::now() < deadline, "the standby must serve seal_leader")?;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        ensure(
            leader_flag(&first).await == Some(1.0) && leader_flag(&second).await == Some(0.0),
            "the first replica leads",
        )?;
        let stopping = Instant::now();
        first.stop();
        let log = String::from_utf8_lossy(&first.logs()).into_owned();
        ensure(
            log.contains("released the leader Lease"),
            format!("the leader must release its Lease on SIGTERM:\n{log}"),
        )?;
        while leader_flag(&second).await != Some(1.0) {
            second.alive()?;
            ensure(
                stopping.elapsed() < Duration::from_secs(15),
                "the standby must lead well before the 30 s Lease would expire",
            )?;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // And it works as the leader.
        let rfile = fx.recipients_file(&[]).await?;
        let file = fx.seal_literals(fx.app(), "after-release", &[("k", "v")], &rfile, &[])?;
        fx.apply(&file).await?;
        fx.wait_materialized(fx.app(), "after-release").await?;
        Ok(())
    })
}
