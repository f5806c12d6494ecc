//! Command-line flags of `seal-controller` (each with an environment name).

use std::time::Duration;

use crate::api::duration;

/// Command-line flags of `seal-controller`.
#[derive(clap::Parser, Debug, Clone)]
#[command(
    name = "seal-controller",
    version,
    about = "Materializes SealedSecrets and ExternalSecrets into Kubernetes Secrets"
)]
pub struct Args {
    /// The controller's own namespace (keys, recipients ConfigMap). Default:
    /// the pod's namespace (POD_NAMESPACE), else seal-system.
    #[arg(long, env = "SEAL_NAMESPACE")]
    pub namespace: Option<String>,
    /// Generate a new age key when the newest is older than this (Go
    /// duration such as 720h, or whole days such as 30d).
    #[arg(long, env = "SEAL_KEY_RENEW_PERIOD", default_value = "30d", value_parser = parse_period)]
    pub key_renew_period: Duration,
    /// The kind of age key generated at first start and at each renewal:
    /// `pq` (hybrid ML-KEM-768 + X25519, `age1pq1…`) or `x25519` (`age1…`).
    /// A change renews at once; older keys of either kind keep decrypting.
    /// Unset: `pq` for a cluster without keys, else the newest key's kind.
    #[arg(long, env = "SEAL_KEY_TYPE", value_enum)]
    pub key_type: Option<crate::key_registry::KeyType>,
    /// How many objects are reconciled at once. A reconcile mostly waits
    /// on the API server (a read, the apply, the status write), so this is
    /// what bounds the throughput on a large backlog; see docs/scale.md.
    #[arg(long, env = "SEAL_CONCURRENCY", default_value_t = 32)]
    pub concurrency: u16,
    /// Address of the metrics, health and recipients HTTP port.
    #[arg(long, env = "SEAL_METRICS_ADDRESS", default_value = "0.0.0.0:8080")]
    pub metrics_address: String,
    /// Log format: text or json.
    #[arg(long, env = "SEAL_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Re-check every object this often, even without events (Go duration or whole days).
    #[arg(long, env = "SEAL_RESYNC_PERIOD", default_value = "10m", value_parser = parse_period)]
    pub resync_period: Duration,
    /// Only reconcile objects in these namespaces (comma-separated; default all).
    #[arg(long, env = "SEAL_WATCH_NAMESPACE", value_delimiter = ',')]
    pub watch_namespace: Vec<String>,
    /// Only reconcile SealedSecrets and ExternalSecrets matching this label
    /// selector (to split a large cluster between controller instances).
    #[arg(long, env = "SEAL_SHARD_SELECTOR")]
    pub shard_selector: Option<String>,
    /// Elect a leader among replicas through a coordination.k8s.io Lease;
    /// only the leader writes.
    #[arg(long, env = "SEAL_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// Name of the Lease (in the controller's namespace).
    #[arg(long, env = "SEAL_LEASE_NAME", default_value = "seal-controller")]
    pub lease_name: String,
    /// How long a leader's Lease lasts without renewal, in seconds.
    #[arg(long, env = "SEAL_LEASE_DURATION", default_value_t = 15)]
    pub lease_duration: u64,
    /// Annotation prefixes refused in Secret templates (comma-separated):
    /// Secret replicators that would copy a Secret into other namespaces.
    #[arg(
        long,
        env = "SEAL_REFUSED_ANNOTATION_PREFIXES",
        value_delimiter = ',',
        default_value = "replicator.v1.mittwald.de/,reflector.v1.k8s.emberstack.com/,kubed.appscode.com/,kubernetes-replicator/"
    )]
    pub refused_annotation_prefixes: Vec<String>,
    /// Vault servers stores may name (comma-separated URLs such as
    /// https://vault.example.com:8200; a store's server must equal one, or
    /// start with one followed by '/'). Empty: any server.
    #[arg(long, env = "SEAL_ALLOWED_VAULT_SERVERS", value_delimiter = ',')]
    pub allowed_vault_servers: Vec<String>,
    /// Serve ClusterExternalSecrets: `auto` (only when serving every
    /// namespace), `true` (with --watch-namespace: into those namespaces
    /// only; needs list and watch on namespaces and ClusterExternalSecrets),
    /// or `false`.
    #[arg(long, env = "SEAL_CLUSTER_EXTERNAL_SECRETS", default_value = "auto", value_parser = ["auto", "true", "false"])]
    pub cluster_external_secrets: String,
}

/// Longest period a flag accepts (timers further out are refused).
const MAX_PERIOD: Duration = Duration::from_secs(8760 * 3600);

/// A positive period: a Go duration (`90s`, `12h`, `1h30m`) or whole days
/// (`30d`, which Go does not have), at most a year.
pub fn parse_period(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let d = match s.strip_suffix('d').filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) {
        Some(days) => days
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(86_400))
            .map(Duration::from_secs)
            .ok_or_else(|| format!("{s:?} is too long"))?,
        None => duration::parse(s).map_err(|e| e.to_string())?,
    };
    if d.is_zero() {
        return Err("the duration must be positive".into());
    }
    if d > MAX_PERIOD {
        return Err(format!("{s:?} is longer than a year"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_take_go_durations_and_whole_days() {
        assert_eq!(parse_period("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_period("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_period("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_period("250ms"), Ok(Duration::from_millis(250)));
        for bad in ["0", "0d", "d", "-1s", "1.5d", "366d", "18446744073709551615d", "x"] {
            assert!(parse_period(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn the_default_refused_prefixes_are_the_library_defaults() {
        use clap::Parser;
        let a = Args::try_parse_from(["seal-controller"]).expect("defaults parse");
        let want: Vec<String> =
            crate::materialize::DEFAULT_REFUSED_ANNOTATION_PREFIXES.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(a.refused_annotation_prefixes, want);
        assert!(a.allowed_vault_servers.is_empty());
    }

    #[test]
    fn the_flag_definitions_are_consistent() {
        use clap::CommandFactory;
        Args::command().debug_assert();
        for a in Args::command().get_arguments() {
            if a.get_id() != "help" && a.get_id() != "version" {
                assert!(a.get_env().is_some(), "--{} has no environment name", a.get_id());
            }
        }
    }
}
