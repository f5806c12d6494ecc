//! The cluster side of the CLI: reading the controller's published
//! recipients through the Kubernetes API (kubeconfig, like kubectl).

use k8s_openapi::api::core::v1::ConfigMap;
use kube::config::KubeConfigOptions;
use kube::{Api, Client, Config};
use seal_format::document::{RECIPIENTS_CONFIGMAP, RECIPIENTS_KEY};

use crate::Failure;

/// Fetches the controller's recipients, newest first.
pub fn recipients(context: Option<&str>, namespace: &str) -> Result<Vec<String>, Failure> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::general(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let opts = KubeConfigOptions { context: context.map(str::to_owned), ..Default::default() };
        let config = Config::from_kubeconfig(&opts)
            .await
            .map_err(|e| Failure::general(format!("cannot load the kubeconfig: {e}")))?;
        let client = Client::try_from(config).map_err(|e| Failure::general(format!("cannot create a client: {e}")))?;
        let api: Api<ConfigMap> = Api::namespaced(client, namespace);
        let cm = api.get_opt(RECIPIENTS_CONFIGMAP).await.map_err(|e| {
            Failure::general(format!("cannot read ConfigMap {namespace}/{RECIPIENTS_CONFIGMAP}: {e}"))
        })?;
        let cm = cm.ok_or_else(|| {
            Failure::general(format!(
                "no ConfigMap {namespace}/{RECIPIENTS_CONFIGMAP}: is seal-controller running there? (--controller-namespace)"
            ))
        })?;
        let text = cm.data.and_then(|mut d| d.remove(RECIPIENTS_KEY)).unwrap_or_default();
        let list: Vec<String> = text.lines().map(str::trim).filter(|l| l.starts_with("age1")).map(str::to_owned).collect();
        if list.is_empty() {
            return Err(Failure::general(format!("{namespace}/{RECIPIENTS_CONFIGMAP} lists no recipients")));
        }
        Ok(list)
    })
}
