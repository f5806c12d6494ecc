//! `seal encrypt`: the `sops -e` equivalent, honouring `.sops.yaml` creation rules.

use std::path::{Path, PathBuf};

use clap::Args;
use seal_format::sops::{self, EncryptOptions, Format, Recipient, Rule};

use crate::common::{find_config, format_of, parse_recipients, read_input, write_in_place, write_stdout};
use crate::{Failure, RuleArgs, config};

#[derive(Args)]
pub struct EncryptArgs {
    /// Age recipients, comma-separated (overrides .sops.yaml).
    #[arg(long, value_name = "R,...", env = "SOPS_AGE_RECIPIENTS", value_delimiter = ',')]
    age: Vec<String>,
    #[command(flatten)]
    rule: RuleArgs,
    /// Compute the MAC over encrypted values only.
    #[arg(long)]
    mac_only_encrypted: bool,
    /// Shamir threshold when .sops.yaml gives several key groups.
    #[arg(long, value_name = "N")]
    shamir_secret_sharing_threshold: Option<usize>,
    /// Input format: yaml, json, dotenv, binary (default: from the file name).
    #[arg(long, value_name = "TYPE")]
    input_type: Option<String>,
    /// Output format (default: the input format).
    #[arg(long, value_name = "TYPE")]
    output_type: Option<String>,
    /// Use this .sops.yaml instead of searching from the current directory.
    #[arg(long, value_name = "FILE", env = "SOPS_CONFIG")]
    config: Option<PathBuf>,
    /// Path used to match .sops.yaml rules when reading stdin.
    #[arg(long, value_name = "PATH")]
    filename_override: Option<PathBuf>,
    /// Write the result back to the file.
    #[arg(short = 'i', long)]
    in_place: bool,
    /// The file, or - for stdin.
    file: String,
}

fn rule_from_args(a: &RuleArgs) -> Result<Option<Rule>, Failure> {
    let pairs = [
        ("encrypted_regex", &a.encrypted_regex),
        ("unencrypted_regex", &a.unencrypted_regex),
        ("encrypted_suffix", &a.encrypted_suffix),
        ("unencrypted_suffix", &a.unencrypted_suffix),
        ("encrypted_comment_regex", &a.encrypted_comment_regex),
        ("unencrypted_comment_regex", &a.unencrypted_comment_regex),
    ];
    for (name, v) in pairs {
        // An empty value counts as not given, as in sops (Go's flag
        // default): `--unencrypted-suffix ''` keeps the default rule rather
        // than writing a file with every value in clear.
        if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
            return Rule::from_field(name, v).map(Some).map_err(|e| Failure::input(e.to_string()));
        }
    }
    Ok(None)
}

/// `seal encrypt`.
pub fn run(a: EncryptArgs) -> Result<(), Failure> {
    let input_format = format_of(a.input_type.as_deref(), &a.file, Format::Yaml)?;
    let output_format = match &a.output_type {
        Some(_) => format_of(a.output_type.as_deref(), &a.file, input_format)?,
        None => input_format,
    };
    let bytes = read_input(&a.file)?;
    let branches = sops::parse_plain(&bytes, input_format).map_err(|e| Failure::from(e).in_file(&a.file))?;

    let match_path = a.filename_override.clone().unwrap_or_else(|| PathBuf::from(&a.file));
    let rule_cfg = match find_config(a.config.as_deref()) {
        Some(cfg) => config::creation_rule(&cfg, &match_path).map_err(|e| match e == config::EMPTY_KEY_GROUP {
            true => Failure::general(e),
            false => Failure::input(e),
        })?,
        None => None,
    };
    let rule_matched = rule_cfg.is_some();
    let (groups, threshold, cfg_rule, cfg_mac_only) = match rule_cfg {
        Some(r) => (r.groups, r.shamir_threshold, r.rule, r.mac_only_encrypted),
        None => (Vec::new(), 0, None, false),
    };
    let groups: Vec<Vec<Recipient>> = if !a.age.is_empty() {
        vec![parse_recipients(&a.age)?]
    } else {
        groups.iter().map(|g| parse_recipients(g)).collect::<Result<_, _>>()?
    };
    if groups.iter().all(Vec::is_empty) && rule_matched && a.age.is_empty() {
        return Err(Failure::general(config::EMPTY_KEY_GROUP));
    }
    if groups.iter().all(Vec::is_empty) {
        return Err(Failure::input(
            "no recipients: pass --age age1…, set SOPS_AGE_RECIPIENTS, or add a creation rule to .sops.yaml",
        ));
    }
    let rule = rule_from_args(&a.rule)?.or(cfg_rule).unwrap_or_default();
    let opts = EncryptOptions {
        groups,
        shamir_threshold: a.shamir_secret_sharing_threshold.unwrap_or(threshold),
        rule,
        mac_only_encrypted: a.mac_only_encrypted || cfg_mac_only,
    };
    let doc = sops::encrypt_document(branches, &opts).map_err(|e| Failure::from(e).in_file(&a.file))?;
    let out = sops::emit_encrypted(&doc, output_format)?;
    if a.in_place && a.file != "-" { write_in_place(Path::new(&a.file), &out) } else { write_stdout(&out) }
}
