//! Attacks on SealedSecrets by someone who may write objects in one
//! namespace (or commit a file): each test is named after the attack and
//! shows the object refused or reported with a precise reason, the
//! controller still serving other namespaces, no value leaving, and the
//! last good Secret kept.
//!
//! The fixtures (namespaces, a controller per test, sealing, waiting) are
//! the ones of `controller.rs`. Where a test plants a canary value it
//! searches the controller's own output, the status, the Events and the
//! metrics for it (plain and base64).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use libtest_mimic::{Failed, Trial};
use seal::api::SealedSecret;
use seal_format::sops::{self, Format};
use serde_json::json;

use crate::env::{self, ensure, wait_for};
use crate::fixtures::metrics::metric;
use crate::fixtures::sealed::{b64, cond, data_of, describe, insert_under, replace_line, restarted_at, rv};
use crate::fixtures::world::setup_with_other;
use crate::fixtures::{Fx, Opts, R, TIMEOUT, fmsg};
use crate::process::ControllerProcess as Controller;
use crate::support::{age_keygen, assert_absent};

/// Every SealedSecret attack test.
pub fn trials() -> Vec<Trial> {
    vec![
        env::trial(
            "adversarial_sealed::empty_string_value_cannot_blank_a_sealed_value",
            empty_string_value_cannot_blank_a_sealed_value,
        ),
        env::trial(
            "adversarial_sealed::empty_string_round_trips_through_a_custom_resource",
            empty_string_round_trips_through_a_custom_resource,
        ),
        env::trial("adversarial_sealed::replayed_old_version_is_refused", replayed_old_version_is_refused),
        env::trial(
            "adversarial_sealed::template_cannot_request_a_service_account_token",
            template_cannot_request_a_service_account_token,
        ),
        env::trial(
            "adversarial_sealed::rollout_restart_needs_the_workload_to_opt_in",
            rollout_restart_needs_the_workload_to_opt_in,
        ),
        env::trial(
            "adversarial_sealed::oversized_sops_block_is_refused_by_the_api_server",
            oversized_sops_block_is_refused_by_the_api_server,
        ),
        env::trial(
            "adversarial_sealed::ten_thousand_age_stanzas_are_refused_quickly",
            ten_thousand_age_stanzas_are_refused_quickly,
        ),
        env::trial(
            "adversarial_sealed::write_refused_by_the_api_server_surfaces_as_write_failed",
            write_refused_by_the_api_server_surfaces_as_write_failed,
        ),
        env::trial(
            "adversarial_sealed::drift_revert_removes_keys_someone_else_added",
            drift_revert_removes_keys_someone_else_added,
        ),
    ]
}

// ---------------------------------------------------------------------------
// Canaries: values that must never leave the Secret

const CANARY_BLANK: &str = "canary-blank-Rk5nW2qZ";
const CANARY_REPLAY_A: &str = "canary-replay-a-Tm8vX4cJ";
const CANARY_REPLAY_B: &str = "canary-replay-b-Gh3sP9yL";
const CANARY_TEMPLATE: &str = "canary-template-Nw6dF1kB";
const CANARY_FROZEN_1: &str = "canary-frozen-one-Qa2zU7eH";
const CANARY_FROZEN_2: &str = "canary-frozen-two-Xc5rM8tV";
const CANARY_INTRUDER: &str = "canary-intruder-Jd4bY6wS";

// ---------------------------------------------------------------------------
// Helpers

/// The SealedSecrets of `ns` as untyped objects (any field, any status).
fn dynamic(fx: &Fx, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(fx.cluster.admin(), ns, &ApiResource::erase::<SealedSecret>(&()))
}

/// A sealed YAML file as the JSON object the API server takes (the
/// format library's own reader and JSON writer: same document, same MAC).
fn sealed_json(text: &str) -> R<serde_json::Value> {
    let doc =
        sops::parse_encrypted(text.as_bytes(), Format::Yaml).map_err(|e| format!("reading a sealed file: {e}"))?;
    let out = sops::emit_encrypted(&doc, Format::Json).map_err(|e| format!("writing it as JSON: {e}"))?;
    serde_json::from_slice(&out).map_err(|e| format!("parsing its JSON: {e}"))
}

/// Creates a SealedSecret from its JSON with a plain POST (no kubectl, no
/// last-applied annotation), as a tenant's own client would.
async fn create(fx: &Fx, ns: &str, object: serde_json::Value) -> Result<SealedSecret, kube::Error> {
    let ss: SealedSecret = serde_json::from_value(object).map_err(kube::Error::SerdeError)?;
    fx.sealed_secrets(ns).create(&PostParams::default(), &ss).await
}

/// A JSON merge patch on a SealedSecret by someone who holds no key (as
/// `kubectl patch --type merge` sends it).
async fn tenant_patch(fx: &Fx, ns: &str, name: &str, patch: serde_json::Value) -> R<()> {
    let pp = PatchParams { field_manager: Some("kubectl-patch".into()), ..Default::default() };
    fx.sealed_secrets(ns).patch(name, &pp, &Patch::Merge(&patch)).await.map_err(|e| e.to_string())?;
    Ok(())
}

/// Writes the live SealedSecret back to a file, as `seal verify` reads
/// one: metadata name and namespace, `spec` and `sops` exactly as the API
/// server returns them (JSON, which keeps the server's sorted keys).
async fn export(fx: &Fx, ns: &str, name: &str, file: &str) -> R<PathBuf> {
    let live = dynamic(fx, ns).get(name).await.map_err(|e| e.to_string())?;
    let doc = json!({
        "apiVersion": "seal.dev/v1alpha1",
        "kind": "SealedSecret",
        "metadata": {"name": name, "namespace": ns},
        "spec": live.data.get("spec").cloned().unwrap_or_default(),
        "sops": live.data.get("sops").cloned().unwrap_or_default(),
    });
    fx.write(file, serde_json::to_vec_pretty(&doc).map_err(|e| e.to_string())?)
}

/// Fails unless the Secret is exactly `before`: same resourceVersion, same data.
async fn unchanged(fx: &Fx, ns: &str, name: &str, before: &k8s_openapi::api::core::v1::Secret) -> R<()> {
    let now = fx.secret(ns, name).await?.ok_or(format!("the last good Secret {ns}/{name} was deleted"))?;
    if rv(&now) != rv(before) || data_of(&now) != data_of(before) {
        return Err(format!(
            "the last good Secret {ns}/{name} was written: resourceVersion {} -> {}, keys {:?}",
            rv(before),
            rv(&now),
            data_of(&now).keys().collect::<Vec<_>>()
        ));
    }
    Ok(())
}

/// Waits until the status is for the current generation with Ready=False,
/// whatever the reason; returns (reason, message).
async fn wait_refused(fx: &Fx, ns: &str, name: &str, timeout: Duration) -> R<(String, String)> {
    let api = fx.sealed_secrets(ns);
    wait_for(&format!("{ns}/{name} to be refused (Ready=False)"), timeout, || async {
        let ss = api.get_opt(name).await.map_err(|e| e.to_string())?.ok_or("the SealedSecret is not there")?;
        let st = ss.status.clone().unwrap_or_default();
        match cond(&ss, "Ready") {
            Some((s, reason, message)) if s == "False" && st.observed_generation == ss.metadata.generation => {
                Ok(Some((reason, message)))
            }
            _ => Err(describe(&ss)),
        }
    })
    .await
    .map_err(fmsg)
}

/// An Event: (type, reason, note).
type Note = (String, String, String);

/// The Events about `name` in `ns`, from both event APIs.
async fn event_notes(fx: &Fx, ns: &str, name: &str) -> R<Vec<Note>> {
    let mut out = Vec::new();
    let new: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(fx.cluster.admin(), ns);
    for e in new.list(&ListParams::default()).await.map_err(|e| e.to_string())?.items {
        if e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name) {
            out.push((e.type_.unwrap_or_default(), e.reason.unwrap_or_default(), e.note.unwrap_or_default()));
        }
    }
    let core: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(fx.cluster.admin(), ns);
    for e in core.list(&ListParams::default()).await.map_err(|e| e.to_string())?.items {
        if e.involved_object.name.as_deref() == Some(name) {
            out.push((e.type_.unwrap_or_default(), e.reason.unwrap_or_default(), e.message.unwrap_or_default()));
        }
    }
    Ok(out)
}

/// How many times a RestartRefused Event about `name` was recorded (an
/// Event series counts each occurrence).
async fn restart_refusals(fx: &Fx, ns: &str, name: &str) -> R<i32> {
    let new: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(fx.cluster.admin(), ns);
    let mut n = 0;
    for e in new.list(&ListParams::default()).await.map_err(|e| e.to_string())?.items {
        if e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
            && e.reason.as_deref() == Some("RestartRefused")
        {
            n += e.series.map_or(1, |s| s.count);
        }
    }
    Ok(n)
}

/// Fails when a canary (or its base64) appears in anything the controller
/// wrote: the SealedSecrets and their status, the Events of the test's
/// namespaces, `/metrics`, and its own stdout and stderr.
async fn assert_no_canary(fx: &Fx, ctrl: &Controller, canaries: &[&str]) -> Result<(), Failed> {
    let mut places: Vec<(String, Vec<u8>)> = Vec::new();
    places.push(("/metrics".into(), ctrl.metrics().await?.into_bytes()));
    for ns in [fx.app(), fx.other()] {
        let list = dynamic(fx, ns).list(&ListParams::default()).await?;
        places.push((format!("SealedSecrets in {ns} (with status)"), serde_json::to_vec(&list.items)?));
        let new: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(fx.cluster.admin(), ns);
        places.push((
            format!("events.k8s.io Events in {ns}"),
            serde_json::to_vec(&new.list(&ListParams::default()).await?.items)?,
        ));
        let core: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(fx.cluster.admin(), ns);
        places.push((
            format!("core Events in {ns}"),
            serde_json::to_vec(&core.list(&ListParams::default()).await?.items)?,
        ));
    }
    let logs = ctrl.logs();
    // Not vacuous: the controller logged its reconciles of this namespace.
    ensure(
        String::from_utf8_lossy(&logs).contains(fx.app()),
        format!("the controller's output never names namespace {}:\n{}", fx.app(), ctrl.log_tail()),
    )?;
    places.push(("the controller's stdout and stderr".into(), logs));
    for (what, bytes) in &places {
        for c in canaries {
            assert_absent(bytes, c, what)?;
            assert_absent(bytes, &b64(c.as_bytes()), &format!("{what} (base64)"))?;
        }
    }
    Ok(())
}

/// The controller still serves everyone else: it is alive, answers
/// `/healthz`, and a new SealedSecret in the other namespace materializes.
async fn others_still_served(fx: &Fx, ctrl: &Controller, rfile: &Path) -> Result<(), Failed> {
    ctrl.alive()?;
    ctrl.get_ok("/healthz").await?;
    let name = format!("bystander-{}", env::unique());
    let f = fx.seal_literals(fx.other(), &name, &[("k", "still-served")], rfile, &[])?;
    fx.apply(&f).await?;
    fx.wait_materialized(fx.other(), &name).await?;
    fx.wait_data(fx.other(), &name, &[("k", b"still-served")]).await?;
    Ok(())
}

/// `sops.lastmodified` of a sealed file's text.
fn lastmodified(text: &str) -> R<chrono::DateTime<chrono::FixedOffset>> {
    let v = text.lines().find_map(|l| l.trim().strip_prefix("lastmodified:")).ok_or("no sops.lastmodified line")?;
    chrono::DateTime::parse_from_rfc3339(v.trim().trim_matches('"')).map_err(|e| format!("lastmodified {v:?}: {e}"))
}

/// Waits until the clock is past `t`'s second: `sops.lastmodified` has a
/// one-second resolution, so a file sealed after this is strictly later.
async fn wait_past(t: chrono::DateTime<chrono::FixedOffset>) {
    while chrono::Utc::now().timestamp() <= t.timestamp() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `seal secret --from-literal K=V --merge-into FILE` with a key to the file.
fn merge_value(fx: &Fx, file: &Path, key: &Path, kv: &str) -> Result<(), Failed> {
    fx.seal(["secret", "--from-literal", kv, "--merge-into", &file.display().to_string()])
        .env("SOPS_AGE_KEY_FILE", key)
        .ok()?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Hand-made age files

/// A small deterministic generator for filler bytes (any 32 bytes are a
/// well-formed X25519 share; nothing here needs to be unpredictable).
struct Filler(u64);

impl Filler {
    fn bytes32(&mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for chunk in out.chunks_mut(8) {
            // xorshift64*
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            chunk.copy_from_slice(&self.0.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
        }
        out
    }
}

/// An armored age file with a real stanza for `recipient` (wrapping a
/// 32-byte key, plus age's own grease stanza) followed by `extra`
/// well-formed X25519 stanzas for nobody,
/// as an attacker without any key can write it. Its header MAC no longer
/// matches: a reader that bounds its work refuses it before that matters.
fn age_file_with_stanzas(recipient: &str, extra: usize) -> R<String> {
    age_file_with_extra(recipient, extra, false)
}

/// As [`age_file_with_stanzas`], with minimal stanzas of an unknown type
/// (`-> grease` and an empty body, 11 bytes each): many of them fit within
/// the schema's size bound on a wrapped key.
fn age_file_with_tiny_stanzas(recipient: &str, extra: usize) -> R<String> {
    age_file_with_extra(recipient, extra, true)
}

fn age_file_with_extra(recipient: &str, extra: usize, tiny: bool) -> R<String> {
    use std::io::Write;
    use std::str::FromStr;
    let r = age::x25519::Recipient::from_str(recipient).map_err(|e| format!("recipient {recipient}: {e}"))?;
    let enc = age::Encryptor::with_recipients(std::iter::once(&r as &dyn age::Recipient)).map_err(|e| e.to_string())?;
    let mut binary = Vec::new();
    let mut w = enc.wrap_output(&mut binary).map_err(|e| e.to_string())?;
    w.write_all(&[7u8; 32]).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())?;
    // The header ends with the line "--- MAC"; the stanzas go before it.
    let at = binary.windows(5).position(|w| w == b"\n--- ").ok_or("no header end in the age file")? + 1;
    let b64 = |b: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD_NO_PAD, b);
    let mut filler = Filler(0x9E37_79B9_7F4A_7C15);
    let mut stanzas = Vec::with_capacity(extra * 98);
    for _ in 0..extra {
        if tiny {
            stanzas.extend_from_slice(b"-> grease\n\n");
        } else {
            stanzas.extend_from_slice(
                format!("-> X25519 {}\n{}\n", b64(&filler.bytes32()), b64(&filler.bytes32())).as_bytes(),
            );
        }
    }
    binary.splice(at..at, stanzas);
    let mut out = Vec::new();
    let mut armor =
        age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor).map_err(|e| e.to_string())?;
    armor.write_all(&binary).map_err(|e| e.to_string())?;
    armor.finish().map_err(|e| e.to_string())?;
    String::from_utf8(out).map_err(|_| "armor is not text".into())
}

/// Replaces the `enc` of `recipient`'s entry in a sealed document's JSON.
fn set_enc(doc: &mut serde_json::Value, recipient: &str, enc: String) -> R<()> {
    let entries = doc.pointer_mut("/sops/age").and_then(|v| v.as_array_mut()).ok_or("the document has no sops.age")?;
    let entry = entries
        .iter_mut()
        .find(|e| e.get("recipient").and_then(|r| r.as_str()) == Some(recipient))
        .ok_or(format!("no age entry for {recipient}"))?;
    entry["enc"] = serde_json::Value::String(enc);
    Ok(())
}

// ---------------------------------------------------------------------------
// Tests

/// Someone without a key adds `stringData.password: ""` next to a sealed
/// `data.password`: `stringData` would win in the Secret, and an empty
/// string is never encrypted, so the MAC cannot see it. Also an extra key
/// with an empty value (no duplicate): the MAC cannot see that either,
/// only the key names bound into the encrypted scope.
fn empty_string_value_cannot_blank_a_sealed_value() -> Result<(), Failed> {
    let fx = setup_with_other("adv-blank-value")?;
    env::block_on(async {
        let ctrl = fx.start(Opts::default()).await?;
        let ns = fx.app();
        let (key, me) = age_keygen(fx.dir.path(), "team")?;
        let rfile = fx.recipients_file(&[&me]).await?;
        // `--from-file` goes to spec.data (base64 plaintext).
        let value = fx.write("password.bin", CANARY_BLANK)?;
        let from_file = format!("password={}", value.display());
        let f = fx.seal_literals(ns, "db", &[], &rfile, &["--from-file", &from_file])?;
        fx.apply(&f).await?;
        fx.wait_materialized(ns, "db").await?;
        let good = fx.wait_data(ns, "db", &[("password", CANARY_BLANK.as_bytes())]).await?;
        // The live object, exported, verifies: the later failures are the tampering's.
        let live = export(&fx, ns, "db", "db-live.json").await?;
        fx.seal(["verify", &live.display().to_string()]).env("SOPS_AGE_KEY_FILE", &key).ok()?;

        // 1. An empty stringData value shadowing the sealed data value.
        tenant_patch(&fx, ns, "db", json!({"spec": {"stringData": {"password": ""}}})).await?;
        let read_back = dynamic(&fx, ns).get("db").await?;
        ensure(
            read_back.data.pointer("/spec/stringData/password") == Some(&json!("")),
            format!("the patch did not land as an empty string: {:?}", read_back.data.pointer("/spec/stringData")),
        )?;
        let ss = fx.wait_cond(ns, "db", "Ready", "False", "InvalidDocument").await?;
        let (_, _, message) = cond(&ss, "Ready").unwrap_or_default();
        ensure(
            message.contains("spec.data") && message.contains("spec.stringData") && message.contains("\"password\""),
            format!("the message must say data and stringData both hold \"password\": {message:?}"),
        )?;
        fx.wait_event(ns, "db", "InvalidDocument").await?;
        unchanged(&fx, ns, "db", &good).await?;
        let blanked = export(&fx, ns, "db", "db-blanked.json").await?;
        let (code, out, _) =
            fx.seal(["verify", &blanked.display().to_string()]).env("SOPS_AGE_KEY_FILE", &key).fails()?;
        ensure(
            code != 0 && out.contains("FAIL") && out.contains("\"password\""),
            format!("seal verify of the blanked object (exit {code}) must fail naming \"password\": {out}"),
        )?;

        // 2. An extra key with an empty value, no duplicate.
        tenant_patch(&fx, ns, "db", json!({"spec": {"stringData": {"password": null, "extra": ""}}})).await?;
        let ss = fx.wait_cond(ns, "db", "Ready", "False", "KeySetMismatch").await?;
        let (_, _, message) = cond(&ss, "Ready").unwrap_or_default();
        ensure(message.contains("key names"), format!("the KeySetMismatch message: {message:?}"))?;
        fx.wait_event(ns, "db", "KeySetMismatch").await?;
        unchanged(&fx, ns, "db", &good).await?;
        let extra = export(&fx, ns, "db", "db-extra.json").await?;
        let (code, out, _) =
            fx.seal(["verify", &extra.display().to_string()]).env("SOPS_AGE_KEY_FILE", &key).fails()?;
        ensure(code != 0 && out.contains("FAIL"), format!("seal verify of the object with an extra key: {out}"))?;

        others_still_served(&fx, &ctrl, &rfile).await?;
        unchanged(&fx, ns, "db", &good).await?;
        assert_no_canary(&fx, &ctrl, &[CANARY_BLANK]).await
    })
}

/// The test bed itself: the API server keeps `""` in a custom resource
/// (Debian's Go 1.19 build of 1.20 turned it into null; tests/env patches
/// that). Test 1 above depends on it.
fn empty_string_round_trips_through_a_custom_resource() -> Result<(), Failed> {
    let fx = setup_with_other("adv-empty-roundtrip")?;
    env::block_on(async {
        let ns = fx.app();
        // A POST.
        let posted = json!({
            "apiVersion": "seal.dev/v1alpha1",
            "kind": "SealedSecret",
            "metadata": {"name": "posted", "namespace": ns},
            "spec": {"stringData": {"a": ""}},
        });
        let obj: DynamicObject = serde_json::from_value(posted)?;
        dynamic(&fx, ns).create(&PostParams::default(), &obj).await.map_err(|e| {
            format!("the API server refused a custom resource holding \"\" (is the typeValidator patch of tests/env/build in the cached kube-apiserver?): {e}")
        })?;
        // A server-side apply with kubectl, as a user would.
        let text = format!(
            "apiVersion: seal.dev/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: applied\n  namespace: {ns}\nspec:\n  stringData:\n    a: \"\"\n"
        );
        fx.apply_text("applied.yaml", &text).await?;
        // A merge patch adding another empty value.
        tenant_patch(&fx, ns, "applied", json!({"spec": {"stringData": {"b": ""}}})).await?;
        for (name, keys) in [("posted", &["a"][..]), ("applied", &["a", "b"][..])] {
            let back = dynamic(&fx, ns).get(name).await?;
            for k in keys {
                let v = back.data.pointer(&format!("/spec/stringData/{k}"));
                ensure(v == Some(&json!("")), format!("{name}: spec.stringData.{k} read back as {v:?}, not \"\""))?;
            }
        }
        Ok(())
    })
}

/// Someone re-applies an older sealed file of the same object (from git
/// history): every check passes, it is a genuine document, but it would
/// roll a rotated value back.
fn replayed_old_version_is_refused() -> Result<(), Failed> {
    let fx = setup_with_other("adv-replay")?;
    env::block_on(async {
        let ctrl = fx.start(Opts::default()).await?;
        let ns = fx.app();
        let (key, me) = age_keygen(fx.dir.path(), "team")?;
        let rfile = fx.recipients_file(&[&me]).await?;

        // Version 1 (value A).
        let f = fx.seal_literals(ns, "db", &[("password", CANARY_REPLAY_A), ("user", "app")], &rfile, &[])?;
        let v1 = fx.read(&f)?;
        let v1_time = lastmodified(&v1)?;
        fx.apply(&f).await?;
        fx.wait_materialized(ns, "db").await?;
        fx.wait_data(ns, "db", &[("password", CANARY_REPLAY_A.as_bytes())]).await?;

        // Version 2 (value B), sealed at least a second later.
        wait_past(v1_time).await;
        merge_value(&fx, &f, &key, &format!("password={CANARY_REPLAY_B}"))?;
        let v2_time = lastmodified(&fx.read(&f)?)?;
        ensure(v2_time > v1_time, format!("version 2 must be later: {v1_time} then {v2_time}"))?;
        fx.apply(&f).await?;
        let ss = fx.wait_materialized(ns, "db").await?;
        let good = fx.wait_data(ns, "db", &[("password", CANARY_REPLAY_B.as_bytes())]).await?;
        let accepted = ss.status.as_ref().and_then(|s| s.last_modified.clone()).unwrap_or_default();
        ensure(
            chrono::DateTime::parse_from_rfc3339(&accepted).ok() == Some(v2_time),
            format!("status.lastModified must record version 2 ({v2_time}): {accepted:?}"),
        )?;

        // The replay: version 1 again.
        fx.apply_text("db-v1-again.yaml", &v1).await?;
        let ss = fx.wait_cond(ns, "db", "Ready", "False", "ReplayRefused").await?;
        let (_, _, message) = cond(&ss, "Ready").unwrap_or_default();
        ensure(
            message.contains("seal.dev/allow-replay"),
            format!("the message must say how to roll back: {message:?}"),
        )?;
        fx.wait_event(ns, "db", "ReplayRefused").await?;
        unchanged(&fx, ns, "db", &good).await?;

        // A deliberate rollback: annotated, version 1 is materialized.
        let patch = json!({"metadata": {"annotations": {"seal.dev/allow-replay": "true"}}});
        fx.sealed_secrets(ns).patch("db", &PatchParams::default(), &Patch::Merge(&patch)).await?;
        fx.wait_data(ns, "db", &[("password", CANARY_REPLAY_A.as_bytes()), ("user", b"app")]).await?;
        fx.wait_materialized(ns, "db").await?;

        others_still_served(&fx, &ctrl, &rfile).await?;
        assert_no_canary(&fx, &ctrl, &[CANARY_REPLAY_A, CANARY_REPLAY_B]).await
    })
}

/// The template is cleartext and outside the MAC: whoever can write the
/// object can change it. It must not become a privilege: a
/// service-account-token Secret (the API server would put a token in it),
/// a replicator annotation (the Secret copied into another namespace), a
/// label in seal's own namespace of keys.
fn template_cannot_request_a_service_account_token() -> Result<(), Failed> {
    let fx = setup_with_other("adv-template")?;
    env::block_on(async {
        let ctrl = fx.start(Opts::default()).await?;
        let (ns, other) = (fx.app(), fx.other());
        let rfile = fx.recipients_file(&[]).await?;
        let lits: &[(&str, &str)] = &[("token", CANARY_TEMPLATE)];

        // New objects: refused, no Secret.
        let t = fx.read(&fx.seal_literals(ns, "satoken", lits, &rfile, &[])?)?;
        fx.apply_text("satoken.yaml", &replace_line(&t, "type: Opaque", "type: kubernetes.io/service-account-token")?)
            .await?;
        let t = fx.read(&fx.seal_literals(ns, "replicated", lits, &rfile, &[])?)?;
        let ann = format!("metadata: {{annotations: {{replicator.v1.mittwald.de/replicate-to: {other}}}}}");
        fx.apply_text("replicated.yaml", &insert_under(&t, "template:", &ann)?).await?;
        for (name, names) in [
            ("satoken", "kubernetes.io/service-account-token"),
            ("replicated", "replicator.v1.mittwald.de/replicate-to"),
        ] {
            let ss = fx.wait_cond(ns, name, "Ready", "False", "TemplateRefused").await?;
            let (_, _, message) = cond(&ss, "Ready").unwrap_or_default();
            ensure(message.contains(names), format!("{name}: the message must name {names}: {message:?}"))?;
            fx.wait_event(ns, name, "TemplateRefused").await?;
            ensure(fx.secret(ns, name).await?.is_none(), format!("{name}: a Secret was created"))?;
        }

        // An existing Secret: a reserved label added later is refused, the Secret is kept.
        let f = fx.seal_literals(ns, "labelled", lits, &rfile, &[])?;
        fx.apply(&f).await?;
        fx.wait_materialized(ns, "labelled").await?;
        let good = fx.wait_data(ns, "labelled", &[("token", CANARY_TEMPLATE.as_bytes())]).await?;
        fx.apply_text(
            "labelled.yaml",
            &insert_under(&fx.read(&f)?, "template:", "metadata: {labels: {seal.dev/x: \"y\"}}")?,
        )
        .await?;
        let ss = fx.wait_cond(ns, "labelled", "Ready", "False", "TemplateRefused").await?;
        let (_, _, message) = cond(&ss, "Ready").unwrap_or_default();
        ensure(message.contains("seal.dev/x"), format!("labelled: the message must name seal.dev/x: {message:?}"))?;
        fx.wait_event(ns, "labelled", "TemplateRefused").await?;
        unchanged(&fx, ns, "labelled", &good).await?;

        // No Secret of the token type owned by a SealedSecret (the
        // namespace's own default-token Secret is the API's, not seal's).
        let tokens: Vec<String> = fx
            .secrets_in(ns)
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(|s| s.owner_references().iter().any(|o| o.kind == "SealedSecret"))
            .filter(|s| s.type_.as_deref() == Some("kubernetes.io/service-account-token"))
            .map(|s| s.name_any())
            .collect();
        ensure(tokens.is_empty(), format!("service-account-token Secrets in {ns}: {tokens:?}"))?;
        assert_no_canary(&fx, &ctrl, &[CANARY_TEMPLATE]).await
    })
}

/// `rolloutRestartTargets` is cleartext: anyone who can write a
/// SealedSecret could name any workload of the namespace and restart it at
/// will. A workload is restarted only when it names the SealedSecret in
/// its `seal.dev/restart-on` annotation.
fn rollout_restart_needs_the_workload_to_opt_in() -> Result<(), Failed> {
    let fx = setup_with_other("adv-restart-opt-in")?;
    env::block_on(async {
        let _ctrl = fx.start(Opts::default()).await?;
        let ns = fx.app();
        let deployments: Api<Deployment> = Api::namespaced(fx.cluster.admin(), ns);
        let mk = |name: &str, restart_on: Option<&str>| -> R<Deployment> {
            let ann = match restart_on {
                Some(v) => json!({"seal.dev/restart-on": v}),
                None => json!({}),
            };
            serde_json::from_value(json!({
                "metadata": {"name": name, "annotations": ann},
                "spec": {
                    "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}},
                                 "spec": {"containers": [{"name": name, "image": "example.invalid/app:1"}]}}
                }
            }))
            .map_err(|e| e.to_string())
        };
        // web has not opted in; api opted in for another SealedSecret only.
        deployments.create(&PostParams::default(), &mk("web", None)?).await?;
        deployments.create(&PostParams::default(), &mk("api", Some("not-db"))?).await?;
        let (key, me) = age_keygen(fx.dir.path(), "team")?;
        let rfile = fx.recipients_file(&[&me]).await?;
        let sealed = fx.seal_literals(ns, "db", &[("password", "first")], &rfile, &[])?;
        let targets = "rolloutRestartTargets: [{kind: Deployment, name: web}, {kind: Deployment, name: api}]";
        let file = fx.write("db.sealed.yaml", insert_under(&fx.read(&sealed)?, "spec:", targets)?)?;
        fx.apply(&file).await?;
        fx.wait_materialized(ns, "db").await?;
        fx.wait_data(ns, "db", &[("password", b"first")]).await?;

        // A data change: neither is restarted; a Warning names both.
        merge_value(&fx, &file, &key, "password=second")?;
        fx.apply(&file).await?;
        fx.wait_data(ns, "db", &[("password", b"second")]).await?;
        wait_for("a Warning RestartRefused about db naming web and api", TIMEOUT, || async {
            let notes = event_notes(&fx, ns, "db").await?;
            let names_both =
                |n: &str| ["Deployment/web", "Deployment/api", "seal.dev/restart-on"].iter().all(|w| n.contains(w));
            let hit = notes.iter().any(|(t, r, n)| t == "Warning" && r == "RestartRefused" && names_both(n));
            if hit { Ok(Some(())) } else { Err(format!("Events so far: {notes:?}")) }
        })
        .await?;
        let first_refusals = restart_refusals(&fx, ns, "db").await?;
        fx.wait_materialized(ns, "db").await?;
        for d in ["web", "api"] {
            let now = deployments.get(d).await?;
            ensure(restarted_at(&now).is_none(), format!("{d} was restarted without opting in"))?;
        }

        // web opts in by name: the next data change restarts it, not api.
        let patch = json!({"metadata": {"annotations": {"seal.dev/restart-on": "db"}}});
        deployments.patch("web", &PatchParams::default(), &Patch::Merge(&patch)).await?;
        merge_value(&fx, &file, &key, "password=third")?;
        fx.apply(&file).await?;
        fx.wait_data(ns, "db", &[("password", b"third")]).await?;
        wait_for("web's restartedAt annotation", TIMEOUT, || async {
            let d = deployments.get("web").await.map_err(|e| e.to_string())?;
            Ok::<_, String>(restarted_at(&d))
        })
        .await?;
        // api is refused again. (Events with the same reason are folded into
        // one series that keeps its first note, so this shows as a higher
        // count, not as a new note.)
        wait_for("a second RestartRefused occurrence (api)", TIMEOUT, || async {
            let n = restart_refusals(&fx, ns, "db").await?;
            if n > first_refusals { Ok(Some(())) } else { Err(format!("{n} occurrence(s)")) }
        })
        .await?;
        let api = deployments.get("api").await?;
        ensure(restarted_at(&api).is_none(), "api, opted in for another SealedSecret only, was restarted")?;
        Ok(())
    })
}

/// A SealedSecret whose `sops` block carries about 1.4 MB: a tenant's
/// object that would cost every reader (the controller's cache, its
/// digest, every watch) that much; a few of them exhaust the controller's
/// memory at each start. The CRD schema must refuse it at admission,
/// whatever field carries the bulk: one huge wrapped key, many entries
/// each within the per-entry bound, or another SOPS back end's entry.
fn oversized_sops_block_is_refused_by_the_api_server() -> Result<(), Failed> {
    let fx = setup_with_other("adv-oversized-sops")?;
    env::block_on(async {
        let ctrl = fx.start(Opts::default()).await?;
        let ns = fx.app();
        let rfile = fx.recipients_file(&[]).await?;
        let recipient = fx.recipients().await?.first().cloned().ok_or("no recipient")?;
        // Each case is a genuine sealed file of its own name; only its sops block is padded.
        let sealed = |name: &str| -> R<serde_json::Value> {
            let f = fx.seal_literals(ns, name, &[("k", "v")], &rfile, &[])?;
            sealed_json(&fx.read(&f)?)
        };
        // Armored-looking text of about `n` bytes.
        let filler = |n: usize| {
            let mut s = String::from("-----BEGIN AGE ENCRYPTED FILE-----\n");
            while s.len() < n {
                s.push_str(&"A".repeat(64));
                s.push('\n');
            }
            s + "-----END AGE ENCRYPTED FILE-----\n"
        };
        let mut cases: Vec<(&str, serde_json::Value)> = Vec::new();
        let mut doc = sealed("huge-0")?;
        set_enc(&mut doc, &recipient, filler(1_400_000))?;
        cases.push(("one 1.4 MB sops.age[0].enc", doc));
        let mut doc = sealed("huge-1")?;
        let entries = |n: usize| -> Vec<serde_json::Value> {
            (0..n).map(|_| json!({"recipient": recipient, "enc": filler(16_000)})).collect()
        };
        doc["sops"]["age"] = json!(entries(64));
        doc["sops"]["key_groups"] = json!([{"age": entries(24)}]);
        cases.push(("88 age entries of 16 kB (64 in sops.age, 24 in sops.key_groups[0].age)", doc));
        let mut doc = sealed("huge-2")?;
        doc["sops"]["kms"] = json!([{"arn": filler(1_400_000)}]);
        cases.push(("one 1.4 MB sops.kms[0].arn (another back end's entry)", doc));

        let mut problems = Vec::new();
        for (i, (what, doc)) in cases.into_iter().enumerate() {
            let name = format!("huge-{i}");
            let size = serde_json::to_vec(&doc)?.len();
            match create(&fx, ns, doc).await {
                Err(kube::Error::Api(s)) if s.code == 422 && s.reason == "Invalid" => {
                    if !s.message.contains("sops") {
                        problems.push(format!("{what}: the refusal does not name the field: {}", s.message));
                    }
                }
                Err(e) => problems.push(format!("{what} ({size} bytes): refused, but not as 422 Invalid: {e}")),
                Ok(_) => {
                    // For the report: what the controller then made of it.
                    let seen = match wait_refused(&fx, ns, &name, Duration::from_secs(20)).await {
                        Ok((reason, message)) => format!("Ready=False {reason}: {message}"),
                        Err(e) => e,
                    };
                    problems.push(format!(
                        "{what}: the API server accepted the {size}-byte object (HTTP 201); the controller then \
                         reported {seen}"
                    ));
                }
            }
        }
        others_still_served(&fx, &ctrl, &rfile).await?;
        ensure(problems.is_empty(), problems.join("\n"))
    })
}

/// The controller's recipient entry carries an age file with 10,000
/// X25519 stanzas: each would cost an X25519 operation per controller key
/// before anything else is checked. Refused at admission (a schema size
/// limit) or by the controller at once; either way it keeps serving.
fn ten_thousand_age_stanzas_are_refused_quickly() -> Result<(), Failed> {
    let fx = setup_with_other("adv-age-stanzas")?;
    env::block_on(async {
        let ctrl = fx.start(Opts::default()).await?;
        let ns = fx.app();
        let rfile = fx.recipients_file(&[]).await?;
        let recipient = fx.recipients().await?.first().cloned().ok_or("no recipient")?;

        let f = fx.seal_literals(ns, "stanzas", &[("k", "v")], &rfile, &[])?;
        let mut doc = sealed_json(&fx.read(&f)?)?;
        let enc = age_file_with_stanzas(&recipient, 10_000)?;
        let enc_len = enc.len();
        set_enc(&mut doc, &recipient, enc)?;
        let created = Instant::now();
        match create(&fx, ns, doc).await {
            Err(kube::Error::Api(s)) if s.code == 422 => {
                // A schema limit refused it: it must say which field.
                ensure(s.message.contains("sops.age"), format!("the refusal must name the field: {}", s.message))?;
            }
            Err(e) => return Err(format!("creating the object ({enc_len}-byte enc) failed: {e}").into()),
            Ok(_) => {
                let (reason, message) = wait_refused(&fx, ns, "stanzas", TIMEOUT).await?;
                let took = created.elapsed();
                ensure(
                    reason == "NoMatchingKey" || reason == "InvalidDocument",
                    format!("expected NoMatchingKey or InvalidDocument, got {reason}: {message}"),
                )?;
                // 10,000 stanzas are ~1.3 MB: the size bound on a wrapped key
                // (a schema bound, or 16 KiB in the controller) or the stanza bound refuses it, and says so.
                ensure(
                    message.contains("stanzas") || message.contains("larger than"),
                    format!("the message must name the bound that refused the age file: {message:?}"),
                )?;
                ensure(took < Duration::from_secs(10), format!("the refusal took {took:?}"))?;
                ensure(fx.secret(ns, "stanzas").await?.is_none(), "a Secret was created")?;
            }
        }

        // Within the size bound, but more stanzas than any real file has:
        // refused by count, with a message that says so.
        let f = fx.seal_literals(ns, "stanzas-small", &[("k", "v")], &rfile, &[])?;
        let mut doc = sealed_json(&fx.read(&f)?)?;
        set_enc(&mut doc, &recipient, age_file_with_tiny_stanzas(&recipient, 40)?)?;
        let created = Instant::now();
        create(&fx, ns, doc).await?;
        let (reason, message) = wait_refused(&fx, ns, "stanzas-small", TIMEOUT).await?;
        let took = created.elapsed();
        ensure(
            (reason == "NoMatchingKey" || reason == "InvalidDocument") && message.contains("stanzas"),
            format!(
                "an age file with 40 extra stanzas: expected NoMatchingKey or InvalidDocument naming \"stanzas\", got {reason}: {message}"
            ),
        )?;
        ensure(took < Duration::from_secs(10), format!("the refusal took {took:?}"))?;

        others_still_served(&fx, &ctrl, &rfile).await
    })
}

/// The API server refuses the Secret as written (here: the materialized
/// Secret is immutable and the sealed value changed). The object says so,
/// the Secret stays, and the retries back off instead of decrypting in a
/// loop.
fn write_refused_by_the_api_server_surfaces_as_write_failed() -> Result<(), Failed> {
    let fx = setup_with_other("adv-write-refused")?;
    env::block_on(async {
        let ctrl = fx.start(Opts::default()).await?;
        let ns = fx.app();
        let (key, me) = age_keygen(fx.dir.path(), "team")?;
        let rfile = fx.recipients_file(&[&me]).await?;
        let sealed = fx.seal_literals(ns, "frozen", &[("password", CANARY_FROZEN_1)], &rfile, &[])?;
        let file = fx.write("frozen.sealed.yaml", insert_under(&fx.read(&sealed)?, "template:", "immutable: true")?)?;
        fx.apply(&file).await?;
        fx.wait_materialized(ns, "frozen").await?;
        let good = fx.wait_data(ns, "frozen", &[("password", CANARY_FROZEN_1.as_bytes())]).await?;
        ensure(good.immutable == Some(true), format!("the Secret must be immutable: {:?}", good.immutable))?;

        merge_value(&fx, &file, &key, &format!("password={CANARY_FROZEN_2}"))?;
        ensure(fx.read(&file)?.contains("immutable: true"), "--merge-into lost template.immutable")?;
        fx.apply(&file).await?;
        let ss = fx.wait_cond(ns, "frozen", "Ready", "False", "WriteFailed").await?;
        let (_, _, message) = cond(&ss, "Ready").unwrap_or_default();
        ensure(message.contains("immutable"), format!("the message must carry the API server's reason: {message:?}"))?;
        fx.wait_event(ns, "frozen", "WriteFailed").await?;
        unchanged(&fx, ns, "frozen", &good).await?;

        // Retried with backoff: over 10 s a few decrypts, not one per resync or per second.
        let decrypts = |m: &str| metric(m, "seal_decrypt_total", &[]);
        let m0 = ctrl.metrics().await?;
        tokio::time::sleep(Duration::from_secs(10)).await;
        let m1 = ctrl.metrics().await?;
        let n = decrypts(&m1) - decrypts(&m0);
        ensure(
            (1.0..=4.0).contains(&n),
            format!("expected 1 to 4 retries (backoff from 2 s) in 10 s, seal_decrypt_total went up by {n}"),
        )?;
        unchanged(&fx, ns, "frozen", &good).await?;
        ctrl.alive()?;
        assert_no_canary(&fx, &ctrl, &[CANARY_FROZEN_1, CANARY_FROZEN_2]).await
    })
}

/// An admin (another field manager) adds a key to a managed Secret.
/// Server-side apply does not remove fields another manager owns, so
/// without care the Secret would keep the key, and drift, forever.
fn drift_revert_removes_keys_someone_else_added() -> Result<(), Failed> {
    let fx = setup_with_other("adv-drift-intruder")?;
    env::block_on(async {
        let ctrl = fx.start(Opts { resync: Some("2s"), ..Opts::default() }).await?;
        let ns = fx.app();
        let rfile = fx.recipients_file(&[]).await?;
        let f = fx.seal_literals(ns, "db", &[("password", "sealed-pw"), ("user", "app")], &rfile, &[])?;
        fx.apply(&f).await?;
        fx.wait_materialized(ns, "db").await?;
        let sealed = fx.wait_data(ns, "db", &[("password", b"sealed-pw"), ("user", b"app")]).await?;
        let want = data_of(&sealed);

        fx.edit_secret(ns, "db", "intruder", CANARY_INTRUDER.as_bytes()).await?;
        let reverted = wait_for("the Secret's data to equal the sealed data again", TIMEOUT, || async {
            let s = fx.secret(ns, "db").await?.ok_or("the Secret is gone")?;
            if data_of(&s) == want {
                Ok(Some(s))
            } else {
                Err(format!("keys {:?}", data_of(&s).keys().collect::<Vec<_>>()))
            }
        })
        .await?;
        fx.wait_event(ns, "db", "DriftReverted").await?;
        ensure(reverted.uid() == sealed.uid(), "the Secret was recreated, not reverted in place")?;

        // Settled: resyncs every 2 s, no write over about three of them.
        let settled = wait_for("the Secret to stop changing", TIMEOUT, || async {
            let a = fx.secret(ns, "db").await?.ok_or("the Secret is gone")?;
            tokio::time::sleep(Duration::from_secs(2)).await;
            let b = fx.secret(ns, "db").await?.ok_or("the Secret is gone")?;
            if rv(&a) == rv(&b) { Ok(Some(b)) } else { Err(format!("resourceVersion {} -> {}", rv(&a), rv(&b))) }
        })
        .await?;
        let reconciles = |m: &str| metric(m, "seal_reconcile_total", &[("kind", "SealedSecret")]);
        let m0 = ctrl.metrics().await?;
        tokio::time::sleep(Duration::from_secs(7)).await;
        let m1 = ctrl.metrics().await?;
        ensure(
            reconciles(&m1) - reconciles(&m0) >= 2.0,
            format!("expected resyncs every 2 s: seal_reconcile_total {} -> {}", reconciles(&m0), reconciles(&m1)),
        )?;
        let now = fx.secret(ns, "db").await?.ok_or("the Secret is gone")?;
        ensure(
            rv(&now) == rv(&settled),
            format!("the reverted Secret is rewritten at resyncs: resourceVersion {} -> {}", rv(&settled), rv(&now)),
        )?;
        ensure(data_of(&now) == want, "the Secret's data changed after the revert")?;
        assert_no_canary(&fx, &ctrl, &[CANARY_INTRUDER]).await
    })
}
