//! The controller with post-quantum hybrid keys, against the real control
//! plane: a new cluster gets a hybrid key and materializes what is sealed
//! to it; a cluster renewing from X25519 to hybrid keeps decrypting its old
//! files.

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use libtest_mimic::{Failed, Trial};

use crate::env::{self, ensure, wait_for};
use crate::fixtures::world::setup_with_other;
use crate::fixtures::{Opts, TIMEOUT};
use crate::pq::seal_keygen_pq;
use crate::support::age_keygen;

pub fn trials() -> Vec<Trial> {
    vec![
        env::trial(
            "pq::a_sealed_secret_sealed_to_a_new_clusters_hybrid_key_materializes",
            sealed_to_hybrid_controller_key_materializes,
        ),
        env::trial(
            "pq::a_cluster_renewing_from_x25519_to_hybrid_keeps_decrypting_old_files",
            renewal_from_x25519_to_hybrid_keeps_old_files,
        ),
    ]
}

/// The identity lines of a key Secret.
fn identity_lines(s: &Secret) -> Vec<String> {
    let mut out = Vec::new();
    for v in s.data.clone().unwrap_or_default().values() {
        out.extend(
            String::from_utf8_lossy(&v.0).lines().filter(|l| l.starts_with("AGE-SECRET-KEY-")).map(str::to_owned),
        );
    }
    out
}

fn sealed_to_hybrid_controller_key_materializes() -> Result<(), Failed> {
    let fx = setup_with_other("pq-materialize")?;
    let (team_key, team_r) = seal_keygen_pq(fx.dir.path(), "team")?;
    let (_, classic_team) = age_keygen(fx.dir.path(), "classic")?;
    env::block_on(async {
        // No --key-type: the default, a hybrid key for a cluster without keys.
        let _ctrl = fx.start(Opts { key_type: Some(""), ..Opts::default() }).await?;
        let ns = fx.app();
        let published = fx.recipients().await?;
        ensure(
            published.len() == 1 && published[0].starts_with("age1pq1"),
            format!("published {:?}", published.iter().map(|r| &r[..12]).collect::<Vec<_>>()),
        )?;
        let keys = fx.keys().await?;
        ensure(
            keys.iter().flat_map(identity_lines).all(|l| l.starts_with("AGE-SECRET-KEY-PQ-1")),
            "the generated key Secret holds a hybrid identity",
        )?;
        // Sealed to the cluster and a hybrid team key.
        let rfile = fx.recipients_file(&[&team_r]).await?;
        let f = fx.seal_literals(ns, "db", &[("password", "pq-sealed-value")], &rfile, &[])?;
        let text = fx.read(&f)?;
        ensure(text.matches("recipient: age1pq1").count() == 2, "sealed to two hybrid recipients")?;
        fx.apply(&f).await?;
        fx.wait_materialized(ns, "db").await?;
        fx.wait_data(ns, "db", &[("password", b"pq-sealed-value")]).await?;
        // The team key opens the same file.
        let out = fx.seal(["decrypt", "--identity", &team_key.display().to_string(), &f.display().to_string()]).ok()?;
        ensure(String::from_utf8(out)?.contains("pq-sealed-value"), "the team key opens the file")?;
        // An X25519 team key beside the hybrid cluster key is refused, naming the fix.
        let mixed = fx.recipients_file(&[&classic_team]).await?;
        let (code, _, err) = fx
            .seal([
                "secret",
                "--name",
                "x",
                "--namespace",
                ns,
                "--from-literal",
                "a=b",
                "--recipients-file",
                &mixed.display().to_string(),
            ])
            .fails()?;
        ensure(
            code == 67 && err.contains("A hybrid cluster key needs hybrid team keys too"),
            format!("{code}: {err}"),
        )?;
        Ok(())
    })
}

fn renewal_from_x25519_to_hybrid_keeps_old_files() -> Result<(), Failed> {
    let fx = setup_with_other("pq-renewal")?;
    env::block_on(async {
        let ctrl = fx.start(Opts { key_type: Some("x25519"), ..Opts::default() }).await?;
        let ns = fx.app();
        let old = fx.recipients().await?;
        ensure(old.len() == 1 && !old[0].starts_with("age1pq1"), "an X25519 cluster key first")?;
        let old_file = fx.write("old.txt", format!("{}\n", old[0]))?;
        let f_old = fx.seal_literals(ns, "old", &[("v", "sealed-to-x25519")], &old_file, &[])?;
        fx.apply(&f_old).await?;
        fx.wait_materialized(ns, "old").await?;

        // The operator moves the cluster to hybrid keys: a restart with
        // --key-type pq renews at once (the renew period is 30 days).
        ctrl.stop();
        let _ctrl = fx.start(Opts { key_type: Some("pq"), ..Opts::default() }).await?;
        let (published, keys): (Vec<String>, Vec<Secret>) =
            wait_for("a hybrid key, published alone", TIMEOUT, || async {
                let keys = fx.keys().await.map_err(|e| e.to_string())?;
                let published = fx.recipients().await.map_err(|e| e.to_string())?;
                Ok::<_, String>(
                    (keys.len() == 2 && published.len() == 1 && published[0].starts_with("age1pq1"))
                        .then_some((published, keys)),
                )
            })
            .await?;
        ensure(!published.contains(&old[0]), "the X25519 key is retired, not published")?;
        let kinds: Vec<bool> =
            keys.iter().flat_map(identity_lines).map(|l| l.starts_with("AGE-SECRET-KEY-PQ-1")).collect();
        ensure(kinds.iter().filter(|pq| **pq).count() == 1 && kinds.len() == 2, "one key of each kind")?;
        ensure(keys.iter().all(|k| k.name_any().starts_with("seal-key-")), "both are seal's key Secrets")?;

        // Old files still decrypt: one applied before (re-checked after a
        // change) and one sealed to the retired key now.
        let f_old2 = fx.seal_literals(ns, "old", &[("v", "sealed-to-x25519-again")], &old_file, &[])?;
        fx.apply(&f_old2).await?;
        fx.wait_data(ns, "old", &[("v", b"sealed-to-x25519-again")]).await?;
        let f_late = fx.seal_literals(ns, "late", &[("v", "x25519-after-renewal")], &old_file, &[])?;
        fx.apply(&f_late).await?;
        fx.wait_materialized(ns, "late").await?;
        fx.wait_data(ns, "late", &[("v", b"x25519-after-renewal")]).await?;
        // And new files go to the hybrid key.
        let rfile = fx.recipients_file(&[]).await?;
        let f_new = fx.seal_literals(ns, "new", &[("v", "sealed-to-hybrid")], &rfile, &[])?;
        ensure(fx.read(&f_new)?.contains("recipient: age1pq1"), "sealed to the hybrid key")?;
        fx.apply(&f_new).await?;
        fx.wait_materialized(ns, "new").await?;
        fx.wait_data(ns, "new", &[("v", b"sealed-to-hybrid")]).await?;
        Ok::<(), Failed>(())
    })
}
