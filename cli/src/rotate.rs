//! `seal rotate`: a new data key, every value re-encrypted.

use std::path::PathBuf;

use clap::Args;
use seal_format::sops::{self, DecryptOptions, Format, Recipient, Value, recipients};

use crate::common::{OutputTarget, format_of, layout, open, parse_recipients, read_input, reseal};
use crate::{Failure, IdentityArgs, IndentArgs, exit};

#[derive(Args)]
pub struct RotateArgs {
    #[command(flatten)]
    ids: IdentityArgs,
    /// Add these recipients while rotating.
    #[arg(long, value_name = "R,...", value_delimiter = ',')]
    add_age: Vec<String>,
    /// Remove these recipients while rotating.
    #[arg(long, value_name = "R,...", value_delimiter = ',')]
    rm_age: Vec<String>,
    /// Remove these PGP keys (fingerprints) while rotating.
    #[arg(long, value_name = "FP,...", value_delimiter = ',')]
    rm_pgp: Vec<String>,
    /// Remove these AWS KMS keys (ARNs) while rotating.
    #[arg(long, value_name = "ARN,...", value_delimiter = ',')]
    rm_kms: Vec<String>,
    /// Remove these GCP KMS keys (resource IDs) while rotating.
    #[arg(long, value_name = "ID,...", value_delimiter = ',')]
    rm_gcp_kms: Vec<String>,
    /// Remove these Azure Key Vault keys (`VAULT_URL/keys/NAME/VERSION`) while rotating.
    #[arg(long, value_name = "URL,...", value_delimiter = ',')]
    rm_azure_kv: Vec<String>,
    /// Remove these Vault transit keys (`ADDRESS/v1/ENGINE/keys/NAME`) while rotating.
    #[arg(long, value_name = "URI,...", value_delimiter = ',')]
    rm_hc_vault_transit: Vec<String>,
    /// Remove these HuaweiCloud KMS keys (`REGION:KEY_UUID`, sops 3.12's `hckms`) while rotating.
    #[arg(long, value_name = "ID,...", value_delimiter = ',')]
    rm_hckms: Vec<String>,
    /// Input format (default: from the file name).
    #[arg(long, value_name = "TYPE")]
    input_type: Option<String>,
    /// Output format (default: the input format).
    #[arg(long, value_name = "TYPE")]
    output_type: Option<String>,
    /// Do not check the MAC (values must still decrypt); the new file gets a new MAC.
    #[arg(long)]
    ignore_mac: bool,
    /// Take the formats from this name instead of the file's.
    #[arg(long, value_name = "PATH")]
    filename_override: Option<String>,
    /// Write the result back to the file (default: stdout).
    #[arg(short = 'i', long)]
    in_place: bool,
    /// Write the result to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    indent: IndentArgs,
    /// The .sops.yaml whose `stores` section sets the indentation (default: SOPS_CONFIG, else the one found from here).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The file.
    file: String,
}

/// `seal rotate`.
pub fn run(a: RotateArgs) -> Result<(), Failure> {
    let changes_keys = !a.add_age.is_empty() || !a.rm_age.is_empty();
    if changes_keys && !std::path::Path::new(&a.file).exists() {
        return Err(Failure::new(
            exit::CANNOT_CHANGE_KEYS_FROM_NON_EXISTENT_FILE,
            format!("Error: cannot add or remove keys on non-existent file {:?}", a.file),
        ));
    }
    let target = OutputTarget::new(a.in_place, a.output.as_deref(), &a.file)?;
    let name = a.filename_override.as_deref().unwrap_or(&a.file);
    let format = format_of(a.input_type.as_deref(), name, Format::Yaml)?;
    let out_format = match &a.output_type {
        Some(t) => format_of(Some(t), name, format)?,
        None => format,
    };
    let bytes = read_input(&a.file)?;
    let ids = a.ids.load()?;
    let opts = DecryptOptions { verify_mac: !a.ignore_mac, ..DecryptOptions::default() };
    let (branches, mut metadata, _) = open(&a.file, &bytes, format, &ids, opts)?;
    // A new data key cannot be wrapped for pgp, kms, … keys: they must be
    // removed by name, never dropped unasked.
    let removed = [
        ("pgp", &a.rm_pgp),
        ("kms", &a.rm_kms),
        ("gcp_kms", &a.rm_gcp_kms),
        ("azure_kv", &a.rm_azure_kv),
        ("hc_vault", &a.rm_hc_vault_transit),
        ("hckms", &a.rm_hckms),
    ];
    // A name that matches no key is a mistake to report, not to skip.
    for (kind, names) in removed {
        for n in names.iter().filter(|n| !n.trim().is_empty()) {
            let present = metadata.key_groups.iter().any(|g| {
                g.other.iter().any(|(k, v)| {
                    k == kind
                        && matches!(v, Value::List(l) if l.iter().any(|key| foreign_key_name(kind, key).as_deref() == Some(n.trim())))
                })
            });
            if !present {
                return Err(Failure::input(format!("{}: the file has no {kind} key {}", a.file, n.trim())));
            }
        }
    }
    for (i, g) in metadata.key_groups.iter_mut().enumerate() {
        for (kind, names) in removed {
            if let Some((_, Value::List(keys))) = g.other.iter_mut().find(|(k, _)| k == kind) {
                keys.retain(|k| !names.iter().any(|n| foreign_key_name(kind, k).as_deref() == Some(n.trim())));
            }
        }
        if let Some(kind) = g.foreign_types().next() {
            let flag = match kind {
                "pgp" => "--rm-pgp",
                "kms" => "--rm-kms",
                "gcp_kms" => "--rm-gcp-kms",
                "azure_kv" => "--rm-azure-kv",
                "hc_vault" => "--rm-hc-vault-transit",
                "hckms" => "--rm-hckms",
                _ => "",
            };
            let how =
                if flag.is_empty() { String::new() } else { format!("name them with {flag} to remove them, or ") };
            return Err(Failure::unsupported(format!(
                "{}: key group {i} has {kind} keys, which seal cannot wrap a new data key for; {how}rotate with sops",
                a.file
            )));
        }
        let left = g.age.iter().filter(|e| !a.rm_age.iter().any(|r| r.trim() == e.recipient)).count();
        if left == 0 && (i != 0 || a.add_age.is_empty()) {
            return Err(Failure::input(format!(
                "{}: key group {i} would have no key left; delete it with `seal groups delete` first",
                a.file
            )));
        }
    }
    let add = parse_recipients(&a.add_age)?;
    let mut groups: Vec<Vec<Recipient>> = metadata
        .key_groups
        .iter()
        .map(|g| {
            g.age
                .iter()
                .filter(|e| !a.rm_age.iter().any(|r| r.trim() == e.recipient))
                .map(|e| Recipient::parse(&e.recipient))
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<_, _>>()?;
    if groups.is_empty() {
        groups.push(Vec::new());
    }
    for r in add {
        if !groups[0].iter().any(|x| x.as_str() == r.as_str()) {
            groups[0].push(r);
        }
    }
    let new_key = sops::DataKey::generate().map_err(sops::Error::from)?;
    metadata.key_groups = recipients::wrap_groups(&new_key, &groups, metadata.shamir_threshold)?;
    let cipher = sops::Cipher::new(new_key);
    let doc = reseal(branches, metadata, &cipher)?;
    let out = sops::emit_encrypted_in(&doc, out_format, &layout(&a.indent, a.config.as_deref())?)?;
    target.write(&out)
}

/// The name a `--rm-…` flag gives a key of another type, as sops forms it
/// from the stanza (`pgp` fp, `kms` arn, `gcp_kms` resource_id, `azure_kv`
/// URL, `hc_vault` URI, `hckms` key_id).
fn foreign_key_name(kind: &str, key: &Value) -> Option<String> {
    let m = key.as_map()?;
    let f = |name: &str| m.get(name).and_then(Value::as_str).map(str::trim);
    Some(match kind {
        "pgp" => f("fp")?.to_owned(),
        "kms" => f("arn")?.to_owned(),
        "gcp_kms" => f("resource_id")?.to_owned(),
        "azure_kv" => format!("{}/keys/{}/{}", f("vault_url")?.trim_end_matches('/'), f("name")?, f("version")?),
        "hc_vault" => format!("{}/v1/{}/keys/{}", f("vault_address")?, f("engine_path")?, f("key_name")?),
        "hckms" => f("key_id")?.to_owned(),
        _ => return None,
    })
}
