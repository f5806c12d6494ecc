//! `seal encrypt`: the `sops -e` equivalent, honouring `.sops.yaml` creation rules.

use std::path::PathBuf;

use clap::Args;
use seal_format::sops::{self, EncryptOptions, Format, Recipient, Rule};

use crate::common::{OutputTarget, config_failure, find_config, format_of, layout, parse_recipients, read_input};
use crate::{Failure, IndentArgs, RuleArgs, config, exit};

/// Who a new file is encrypted for and how: the flags `encrypt` and the
/// edit of a new file share, over the `.sops.yaml` creation rule.
#[derive(Args, Clone, Default)]
pub struct KeyArgs {
    /// Age recipients, comma-separated (overrides .sops.yaml).
    #[arg(long, value_name = "R,...", env = "SOPS_AGE_RECIPIENTS", value_delimiter = ',')]
    pub age: Vec<String>,
    #[command(flatten)]
    pub rule: RuleArgs,
    /// Compute the MAC over encrypted values only.
    #[arg(long)]
    pub mac_only_encrypted: bool,
    /// Shamir threshold when .sops.yaml gives several key groups.
    #[arg(long, value_name = "N")]
    pub shamir_secret_sharing_threshold: Option<usize>,
}

#[derive(Args)]
pub struct EncryptArgs {
    #[command(flatten)]
    keys: KeyArgs,
    /// Input format: yaml, json, dotenv, ini, binary (default: from the file name).
    #[arg(long, value_name = "TYPE")]
    input_type: Option<String>,
    /// Output format (default: the input format).
    #[arg(long, value_name = "TYPE")]
    output_type: Option<String>,
    /// Use this .sops.yaml instead of searching from the current directory.
    #[arg(long, value_name = "FILE", env = "SOPS_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    indent: IndentArgs,
    /// Path used to match .sops.yaml rules when reading stdin.
    #[arg(long, value_name = "PATH")]
    filename_override: Option<PathBuf>,
    /// Write the result back to the file.
    #[arg(short = 'i', long)]
    in_place: bool,
    /// Write the result to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// The file, or - for stdin; left out, stdin is read and --filename-override is required, as in sops.
    file: Option<String>,
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
    // An empty value counts as not given, as in sops (Go's flag default):
    // `--unencrypted-suffix ''` keeps the default rule rather than writing a
    // file with every value in clear.
    let mut given = pairs.into_iter().filter_map(|(name, v)| v.as_ref().filter(|v| !v.is_empty()).map(|v| (name, v)));
    let Some((name, v)) = given.next() else { return Ok(None) };
    if given.next().is_some() {
        return Err(Failure::new(
            exit::CONFLICTING_PARAMETERS,
            "Error: cannot use more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, or unencrypted_comment_regex in the same file",
        ));
    }
    Rule::from_field(name, v).map(Some).map_err(|e| Failure::general(e.to_string()))
}

/// The recipients, quorum and selection rule a new file of `format` at
/// `match_path` gets: the flags over the matching `.sops.yaml` creation
/// rule (`config`, else the one found from the current directory).
pub fn options(
    keys: &KeyArgs,
    config: Option<&std::path::Path>,
    match_path: &std::path::Path,
    input_format: Format,
) -> Result<EncryptOptions, Failure> {
    let rule_cfg = match find_config(config) {
        Some(cfg) => config::creation_rule(&cfg, match_path).map_err(config_failure)?,
        None => None,
    };
    let rule_matched = rule_cfg.is_some();
    let (groups, threshold, cfg_rule, cfg_mac_only) = match rule_cfg {
        Some(r) => (r.groups, r.shamir_threshold, r.rule, r.mac_only_encrypted),
        None => (Vec::new(), 0, None, false),
    };
    let groups: Vec<Vec<Recipient>> = if !keys.age.is_empty() {
        vec![parse_recipients(&keys.age)?]
    } else {
        groups.iter().map(|g| parse_recipients(g)).collect::<Result<_, _>>()?
    };
    if groups.iter().all(Vec::is_empty) && rule_matched && keys.age.is_empty() {
        return Err(Failure::general(config::EMPTY_KEY_GROUP));
    }
    if groups.iter().all(Vec::is_empty) {
        return Err(Failure::general(
            "no recipients: pass --age age1…, set SOPS_AGE_RECIPIENTS, or add a creation rule to .sops.yaml",
        ));
    }
    let rule = rule_from_args(&keys.rule)?.or(cfg_rule);
    let mut mac_only_encrypted = keys.mac_only_encrypted || cfg_mac_only;
    let rule = if input_format == Format::Binary {
        // One value, always encrypted, as sops' binary store does: a
        // selection rule that left `data` out would have written the file
        // in clear. Ignored with sops' warning, and no rule is written.
        if let Some((field, _)) = rule.as_ref().and_then(Rule::field) {
            eprintln!(
                "seal: {field} does not apply to a binary file (its one value is always encrypted); ignored, as sops ignores it"
            );
        }
        mac_only_encrypted = false;
        Rule::Everything
    } else {
        rule.unwrap_or_default()
    };
    Ok(EncryptOptions {
        groups,
        shamir_threshold: keys.shamir_secret_sharing_threshold.unwrap_or(threshold),
        rule,
        mac_only_encrypted,
    })
}

/// sops' code for a plaintext input it refuses: already encrypted (203),
/// no document (92), a key that is not a string (23, when sops encrypts
/// the tree); other parse failures are 2. The format crate tells these
/// apart only by message, which the exit-code tests pin.
fn plain_input_failure(e: sops::Error) -> Failure {
    let code = match &e {
        sops::Error::Structure(m) if m.contains("already encrypted") || m.contains("reserved for the metadata") => {
            exit::FILE_ALREADY_ENCRYPTED
        }
        sops::Error::Structure(m) if m.contains("at least one document") => exit::NEED_AT_LEAST_ONE_DOCUMENT,
        sops::Error::Structure(m) if m.contains("only string keys") => exit::ERROR_ENCRYPTING_TREE,
        _ => return Failure::from(e),
    };
    Failure::new(code, e.to_string())
}

/// `seal encrypt`.
pub fn run(mut a: EncryptArgs) -> Result<(), Failure> {
    if a.file.is_none() && a.filename_override.is_none() {
        return Err(Failure::new(
            exit::CONFLICTING_PARAMETERS,
            "Error: must specify --filename-override when reading from stdin",
        ));
    }
    let file = a.file.take().unwrap_or_else(|| "-".to_owned());
    if file != "-" && !std::path::Path::new(&file).exists() {
        read_input(&file)?;
    }
    let target = OutputTarget::new(a.in_place, a.output.as_deref(), &file)?;
    let name = a.filename_override.as_ref().and_then(|p| p.to_str()).unwrap_or(&file).to_owned();
    let input_format = format_of(a.input_type.as_deref(), &name, Format::Yaml)?;
    let output_format = match &a.output_type {
        Some(_) => format_of(a.output_type.as_deref(), &name, input_format)?,
        None => input_format,
    };
    let match_path = a.filename_override.clone().unwrap_or_else(|| PathBuf::from(&file));
    let opts = options(&a.keys, a.config.as_deref(), &match_path, input_format)?;
    // Read after the keys and the rule are settled, in sops' order, so the
    // same mistake gets the same exit code.
    let bytes = read_input(&file)?;
    let branches = sops::parse_plain(&bytes, input_format).map_err(|e| plain_input_failure(e).in_file(&file))?;
    let doc = sops::encrypt_document(branches, &opts).map_err(|e| Failure::from(e).in_file(&file))?;
    let out = sops::emit_encrypted_in(&doc, output_format, &layout(&a.indent, a.config.as_deref())?)?;
    target.write(&out)
}
