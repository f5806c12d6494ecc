//! `templateFrom` ConfigMaps are read from a watch per named object,
//! shared by every ExternalSecret naming it: no GET per reconcile, and a
//! changed, deleted or late ConfigMap is seen through the watch; one over
//! the size the cache keeps is read with a GET.

use std::time::Duration;

use kube::api::{Patch, PatchParams};
use libtest_mimic::{Failed, Trial};
use serde_json::json;

use crate::env::{self, ensure};
use crate::eso_templates::{apply, world};
use crate::fixtures::metrics::metric;
use crate::fixtures::objects::{ready_of, wait_data, wait_ready};
use crate::fixtures::setup;

/// ExternalSecrets sharing the template ConfigMap.
const OBJECTS: usize = 20;

pub fn trials() -> Vec<Trial> {
    vec![env::trial(
        "eso_template_cache::template_configmaps_are_watched_once_for_all_objects_not_read_per_reconcile",
        watched_once,
    )]
}

/// ExternalSecret `name` writing Secret `target`, rendered from the
/// ConfigMap `config_map`'s key `tpl` (KeysAndValues).
fn templated(name: &str, target: &str, config_map: &str) -> String {
    format!(
        "---\napiVersion: seal.dev/v1alpha1\nkind: ExternalSecret\nmetadata: {{name: {name}, namespace: \"{{NS}}\"}}\n\
         spec:\n  refreshInterval: 1h\n  secretStoreRef: {{name: vault-backend, kind: SecretStore}}\n  \
         target:\n    name: {target}\n    template:\n      templateFrom:\n      \
         - configMap: {{name: {config_map}, items: [{{key: tpl, templateAs: KeysAndValues}}]}}\n  \
         data:\n  - {{secretKey: targetProperty, remoteRef: {{key: app/es, property: value}}}}\n"
    )
}

fn config_map(name: &str, tpl: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: \"{{NS}}\"}}\ndata:\n  tpl: {}\n",
        serde_json::Value::String(tpl.to_owned())
    )
}

fn watched_once() -> Result<(), Failed> {
    let fx = setup("esot-cache")?;
    env::block_on(async {
        let ctrl = world(&fx, &[("unused", "x")]).await?;
        let mut yaml = config_map("shape", "dsn: \"{{ .targetProperty }}@db\"");
        for i in 0..OBJECTS {
            yaml.push_str(&templated(&format!("es-{i}"), &format!("t-{i}"), "shape"));
        }
        // One names a ConfigMap that is created only later.
        yaml.push_str(&templated("es-late", "t-late", "late"));
        apply(&fx, &yaml).await?;
        for i in 0..OBJECTS {
            wait_ready(&fx.es(), &format!("es-{i}"), "True", "Materialized").await?;
            wait_data(&fx.secrets(), &format!("t-{i}"), &[("dsn", "someValue@db")]).await?;
        }
        let late = wait_ready(&fx.es(), "es-late", "False", "TemplateFailed").await?;
        let message = ready_of(&late).1.map(|c| c.2).unwrap_or_default();
        ensure(message.contains("ConfigMap") && message.contains("/late does not exist"), format!("{message:?}"))?;

        let m = ctrl.metrics().await?;
        let count = |verb| metric(&m, "seal_api_requests_total", &[("verb", verb), ("resource", "configmaps")]);
        ensure(count("get") == 0.0, format!("{} GETs of ConfigMaps", count("get")))?;
        // One list and one watch per named ConfigMap (`shape` and `late`);
        // a relist after a dropped watch is allowed, not one per object.
        ensure((2.0..=4.0).contains(&count("list")), format!("{} lists of ConfigMaps", count("list")))?;
        ensure(count("watch") >= 2.0, format!("{} watches of ConfigMaps", count("watch")))?;

        // The late ConfigMap arrives through its watch: the object's next
        // try renders it.
        apply(&fx, &config_map("late", "dsn: \"late-{{ .targetProperty }}\"")).await?;
        wait_data(&fx.secrets(), "t-late", &[("dsn", "late-someValue")]).await?;

        // A changed template is what the next refresh renders.
        apply(&fx, &config_map("shape", "dsn: \"v2-{{ .targetProperty }}\"")).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let bump = json!({"metadata": {"annotations": {"force-sync": "2"}}});
        fx.es().patch("es-0", &PatchParams::default(), &Patch::Merge(bump)).await?;
        wait_data(&fx.secrets(), "t-0", &[("dsn", "v2-someValue")]).await?;

        // A deleted one is missing at the next refresh; the Secret stays.
        crate::fixtures::kubectl(fx.kubeconfig(), &["-n", fx.ns(), "delete", "configmap", "shape"]).ok()?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let bump = json!({"metadata": {"annotations": {"force-sync": "3"}}});
        fx.es().patch("es-1", &PatchParams::default(), &Patch::Merge(bump)).await?;
        wait_ready(&fx.es(), "es-1", "False", "TemplateFailed").await?;
        wait_data(&fx.secrets(), "t-1", &[("dsn", "someValue@db")]).await?;

        let m = ctrl.metrics().await?;
        let gets = metric(&m, "seal_api_requests_total", &[("verb", "get"), ("resource", "configmaps")]);
        ensure(gets == 0.0, format!("{gets} GETs of ConfigMaps in all"))?;

        // One over the size the cache keeps (64 KiB) still renders, read
        // with a GET instead of held in the controller's memory.
        let pad = "x".repeat(70 * 1024);
        let big = format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: big, namespace: \"{{NS}}\"}}\ndata:\n  \
             tpl: \"dsn: big-{{{{ .targetProperty }}}}\"\n  pad: {pad}\n"
        );
        apply(&fx, &format!("{big}{}", templated("es-big", "t-big", "big"))).await?;
        wait_data(&fx.secrets(), "t-big", &[("dsn", "big-someValue")]).await?;
        let m = ctrl.metrics().await?;
        let gets = metric(&m, "seal_api_requests_total", &[("verb", "get"), ("resource", "configmaps")]);
        ensure(gets >= 1.0, "the large ConfigMap is read with a GET")?;
        Ok(())
    })
}
