//! The custom resources of seal (group `seal.dev`, version `v1alpha1`).
//! Types only: no client calls, no decisions.

pub mod annotations;
pub mod cluster_external_secret;
pub mod common;
pub mod duration;
pub mod external_secret;
pub mod generator;
pub mod push_secret;
pub mod reason;
pub mod sealed_secret;
pub mod secret_store;
pub mod unknown;

pub use common::{Condition, DriftPolicy, Ownership, RolloutTarget, SecretTemplate, TemplateMetadata};
pub use external_secret::{ExternalSecret, ExternalSecretSpec, ExternalSecretStatus};
pub use reason::Reason;
pub use sealed_secret::{SealedSecret, SealedSecretSpec, SealedSecretStatus};
pub use secret_store::{ClusterSecretStore, SecretStore, SecretStoreSpec, SecretStoreStatus};

/// API group of seal's resources.
pub const GROUP: &str = "seal.dev";
/// API version of seal's resources.
pub const VERSION: &str = "v1alpha1";

/// Every CRD of the project and the file `crdgen` writes it to in `crds/`.
pub fn crds()
-> Vec<(&'static str, k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition)> {
    use kube::CustomResourceExt;
    vec![
        ("sealedsecrets.yaml", sealed_secret::crd()),
        ("externalsecrets.yaml", unknown::preserve_unknown_fields(ExternalSecret::crd())),
        ("secretstores.yaml", unknown::preserve_unknown_fields(SecretStore::crd())),
        ("clustersecretstores.yaml", unknown::preserve_unknown_fields(ClusterSecretStore::crd())),
        ("passwords.yaml", unknown::preserve_unknown_fields(generator::Password::crd())),
        ("uuids.yaml", generator::uuid_crd()),
        ("sshkeys.yaml", unknown::preserve_unknown_fields(generator::SshKey::crd())),
        ("vaultdynamicsecrets.yaml", unknown::preserve_unknown_fields(generator::VaultDynamicSecret::crd())),
        (
            "clusterexternalsecrets.yaml",
            unknown::preserve_unknown_fields(cluster_external_secret::ClusterExternalSecret::crd()),
        ),
        ("pushsecrets.yaml", unknown::preserve_unknown_fields(push_secret::PushSecret::crd())),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn sealed_secret_resource_names() {
        use kube::Resource;
        type S = super::SealedSecret;
        assert_eq!(S::group(&()), "seal.dev");
        assert_eq!(S::version(&()), "v1alpha1");
        assert_eq!(S::api_version(&()), "seal.dev/v1alpha1");
        assert_eq!(S::plural(&()), "sealedsecrets");
        assert_eq!(S::url_path(&(), Some("prod")), "/apis/seal.dev/v1alpha1/namespaces/prod/sealedsecrets");
    }
}
