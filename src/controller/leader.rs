//! Leader election on a `coordination.k8s.io` Lease (kube-lease-manager):
//! replicas wait; the leader runs the controllers; a lost Lease stops the
//! process's writes; a clean shutdown releases the Lease so a standby takes
//! over at once instead of after the Lease expires.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder};
use tracing::{error, info};

use super::runtime::Shutdown;

/// The Lease held by this process.
pub struct Leadership {
    manager: Arc<LeaseManager>,
    lost: Arc<AtomicBool>,
}

/// Waits until this process holds the Lease, or until shutdown (`None`).
pub async fn acquire(
    client: &Client,
    namespace: &str,
    lease_name: &str,
    duration_secs: u64,
    shutdown: &Shutdown,
) -> Result<Option<Leadership>, Box<dyn std::error::Error + Send + Sync>> {
    let identity = format!(
        "{}-{}",
        std::env::var("POD_NAME").or_else(|_| std::env::var("HOSTNAME")).unwrap_or_else(|_| "seal-controller".into()),
        std::process::id()
    );
    let grace = (duration_secs / 3).max(1);
    let build = || {
        LeaseManagerBuilder::new(client.clone(), lease_name)
            .with_namespace(namespace)
            .with_identity(identity.clone())
            .with_duration(duration_secs)
            .with_grace(grace)
            .with_field_manager(crate::key_registry::FIELD_MANAGER)
            .build()
    };
    // kube-lease-manager sleeps until a held Lease expires; a leader that
    // shuts down cleanly releases it, so the standby also polls the Lease
    // and starts over with fresh state as soon as it has no holder.
    let leases: Api<Lease> = Api::namespaced(client.clone(), namespace);
    info!(lease = %lease_name, identity = %identity, "waiting to become the leader");
    let mut stop = std::pin::pin!(shutdown.wait());
    loop {
        let manager = Arc::new(build().await?);
        let released = async {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if let Ok(Some(l)) = leases.get_opt(lease_name).await
                    && l.spec.and_then(|s| s.holder_identity).is_none_or(|h| h.is_empty())
                {
                    return;
                }
            }
        };
        tokio::select! {
            r = manager.changed() => {
                if r? {
                    info!(lease = %lease_name, "became the leader");
                    return Ok(Some(Leadership { manager, lost: Arc::new(AtomicBool::new(false)) }));
                }
            }
            _ = released => info!(lease = %lease_name, "the Lease was released; taking it"),
            _ = &mut stop => return Ok(None),
        }
    }
}

impl Leadership {
    /// Keeps the Lease renewed; on loss, marks it and starts the shutdown.
    pub fn on_loss(&self, shutdown: Shutdown) {
        let (manager, lost) = (self.manager.clone(), self.lost.clone());
        tokio::spawn(async move {
            let mut stop = std::pin::pin!(shutdown.wait());
            loop {
                tokio::select! {
                    r = manager.changed() => match r {
                        Ok(true) => {}
                        Ok(false) | Err(_) => {
                            error!("lost the leader Lease; stopping");
                            lost.store(true, Ordering::Relaxed);
                            shutdown.trigger();
                            return;
                        }
                    },
                    _ = &mut stop => return,
                }
            }
        });
    }

    /// True when the Lease was lost (not released).
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }

    /// Gives the Lease up so a standby takes over at once.
    pub async fn release(self) {
        match self.manager.release().await {
            Ok(()) => info!("released the leader Lease"),
            Err(e) => error!(error = %e, "could not release the leader Lease"),
        }
    }
}
