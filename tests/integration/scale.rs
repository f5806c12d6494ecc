//! The regression guard for scale (docs/scale.md): N SealedSecrets, counted
//! rather than timed. Creating them costs a fixed number of API requests
//! and one decryption per object; a restart (a full resync of every object
//! from a fresh list) and a periodic resync of unchanged objects write
//! nothing, decrypt nothing, and read no Secret (the watch cache answers).
//! The timed comparison at 1,000 to 10,000 objects is `bench/scale.py`.

use std::time::Duration;

use futures::StreamExt;
use kube::api::{ListParams, PostParams};
use libtest_mimic::{Failed, Trial};
use seal::api::SealedSecret;

use crate::env::{self, ensure, wait_for};
use crate::fixtures::metrics::metric;
use crate::fixtures::world::setup_with_other;
use crate::fixtures::{Fx, Opts, R, TIMEOUT, fmsg};

/// Objects in the guard: enough that a per-object request stands out from
/// the fixed cost of starting (lists, watches, keys, the Lease).
const N: usize = 200;
/// Requests (of any verb) per new object: a GET of its Secret (absent),
/// the apply, the Event, the status write.
const REQUESTS_PER_NEW_OBJECT: f64 = 4.5;
/// Writes (to Secrets, SealedSecrets and Events) a first start makes
/// whatever the number of objects: its age key and HMAC key Secrets.
const FIXED_WRITES: f64 = 4.0;
/// Secret GETs of a start (the controller's keys), whatever the number of objects.
const FIXED_SECRET_GETS: f64 = 5.0;
/// Requests a controller makes whatever the number of objects (start-up:
/// keys, recipients, the Lease and its renewals, a list and a watch per
/// kind and scope, re-watches).
const FIXED_REQUESTS: f64 = 120.0;

/// Every scale test.
pub fn trials() -> Vec<Trial> {
    vec![env::trial(
        "scale::unchanged_resync_of_many_objects_writes_nothing_and_requests_stay_bounded",
        unchanged_resync_of_many_objects_writes_nothing_and_requests_stay_bounded,
    )]
}

/// The API requests in a metrics text: (total, writes, reads and writes on
/// Secrets other than list/watch) for SealedSecrets, their Secrets and Events.
fn requests(m: &str) -> (f64, f64, f64) {
    let all = metric(m, "seal_api_requests_total", &[]);
    let mut writes = 0.0;
    for verb in ["create", "update", "patch", "delete", "deletecollection"] {
        for resource in ["secrets", "sealedsecrets", "events"] {
            writes += metric(m, "seal_api_requests_total", &[("verb", verb), ("resource", resource)]);
        }
    }
    let secret_gets = metric(m, "seal_api_requests_total", &[("verb", "get"), ("resource", "secrets")]);
    (all, writes, secret_gets)
}

fn counter(m: &str, name: &str) -> f64 {
    metric(m, name, &[])
}

fn reconciles(m: &str) -> f64 {
    metric(m, "seal_reconcile_total", &[("kind", "SealedSecret")])
}

/// Waits until the controller reconciled SealedSecrets at least
/// `at_least` times and, if `quiet`, then stopped (two equal samples half a
/// second apart); returns its metrics. Counted, not timed: the deadline
/// only bounds a hung run.
async fn reconciled(ctrl: &crate::process::ControllerProcess, at_least: f64, quiet: bool) -> R<String> {
    let deadline = std::time::Instant::now() + TIMEOUT * 2;
    let mut prev = -1.0;
    loop {
        ctrl.alive()?;
        let m = ctrl.metrics().await?;
        let now = reconciles(&m);
        if now >= at_least && (!quiet || now == prev) {
            return Ok(m);
        }
        if std::time::Instant::now() >= deadline {
            return Err(format!("{now} SealedSecret reconciles, waiting for {at_least}"));
        }
        prev = now;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Creates N copies of one cluster-scoped sealed document and waits until
/// every one is Ready.
async fn create_many(fx: &Fx) -> R<()> {
    let ns = fx.app();
    let rfile = fx.recipients_file(&[]).await?;
    let f = fx.seal_literals(ns, "tpl", &[("password", "scale-guard-value")], &rfile, &["--scope", "cluster"])?;
    let tpl: SealedSecret = serde_yaml::from_str(&fx.read(&f)?).map_err(|e| format!("the sealed file: {e}"))?;
    let api = fx.sealed_secrets(ns);
    let results: Vec<R<()>> = futures::stream::iter(0..N)
        .map(|i| {
            let mut obj = tpl.clone();
            obj.metadata = kube::api::ObjectMeta { name: Some(format!("s{i}")), ..Default::default() };
            let api = api.clone();
            async move { api.create(&PostParams::default(), &obj).await.map(drop).map_err(|e| e.to_string()) }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    results.into_iter().collect::<R<Vec<()>>>()?;
    wait_for(&format!("{N} SealedSecrets to be Ready"), TIMEOUT * 2, || async {
        let list = api.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
        let ready = list
            .items
            .iter()
            .filter(|s| {
                let st = s.status.clone().unwrap_or_default();
                st.observed_generation.is_some()
                    && st.observed_generation == s.metadata.generation
                    && st.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
            })
            .count();
        if ready == N { Ok(Some(())) } else { Err(format!("{ready} of {N} Ready")) }
    })
    .await
    .map_err(fmsg)
}

fn unchanged_resync_of_many_objects_writes_nothing_and_requests_stay_bounded() -> Result<(), Failed> {
    let fx = setup_with_other("scale-guard")?;
    env::block_on(async {
        let n = N as f64;
        let ctrl = fx.start(Opts::default()).await?;
        create_many(&fx).await?;
        let m = reconciled(&ctrl, n, true).await?;
        let (all, writes, _) = requests(&m);
        ensure(
            all <= FIXED_REQUESTS + REQUESTS_PER_NEW_OBJECT * n,
            format!(
                "{all} API requests for {N} new SealedSecrets: more than {REQUESTS_PER_NEW_OBJECT} per object plus {FIXED_REQUESTS}"
            ),
        )?;
        // The first start also creates the controller's key and HMAC key Secrets.
        ensure(
            writes <= 3.0 * n + FIXED_WRITES,
            format!("{writes} writes for {N} new SealedSecrets: more than 3 per object plus {FIXED_WRITES}"),
        )?;
        let decrypts = counter(&m, "seal_decrypt_total");
        ensure(decrypts == n, format!("{decrypts} decryptions for {N} new SealedSecrets: one each expected"))?;
        ctrl.stop();
        drop(ctrl);

        // A new process with nothing changed: it lists every object and
        // reconciles each (a full resync), then resyncs each again every 2 s.
        let ctrl = fx.start(Opts { resync: Some("2s"), ..Opts::default() }).await?;
        let m = reconciled(&ctrl, 3.0 * n, false).await?;
        let (all, writes, secret_gets) = requests(&m);
        ensure(writes == 0.0, format!("{writes} writes while resyncing {N} unchanged SealedSecrets"))?;
        let decrypts = counter(&m, "seal_decrypt_total");
        ensure(decrypts == 0.0, format!("{decrypts} decryptions while resyncing {N} unchanged SealedSecrets"))?;
        // The start reads the HMAC key's Secret; any Secret read per object
        // would be at least N.
        ensure(
            secret_gets <= FIXED_SECRET_GETS,
            format!(
                "{secret_gets} GETs of Secrets while resyncing {N} objects (bound {FIXED_SECRET_GETS}): the watch cache should answer them"
            ),
        )?;
        ensure(
            all <= FIXED_REQUESTS,
            format!("{all} API requests for three resyncs of {N} unchanged SealedSecrets (bound {FIXED_REQUESTS})"),
        )
    })
}
