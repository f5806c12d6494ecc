//! `seal updatekeys`: re-wrap the data key to the recipients the rules name
//! now; values are untouched.

use std::path::PathBuf;

use clap::Args;
use seal_format::sops::{self, Format, Recipient, recipients};

use crate::common::{config_failure, find_config, format_of, parse_recipients, read_input, write_in_place};
use crate::{Failure, IdentityArgs, config, identity};

#[derive(Args)]
pub struct UpdatekeysArgs {
    #[command(flatten)]
    ids: IdentityArgs,
    /// The new recipients, comma-separated (default: the .sops.yaml rule for the file).
    #[arg(long, value_name = "R,...", value_delimiter = ',')]
    age: Vec<String>,
    /// Use this .sops.yaml instead of searching from the current directory.
    #[arg(long, value_name = "FILE", env = "SOPS_CONFIG")]
    config: Option<PathBuf>,
    /// Input format (default: from the file name).
    #[arg(long, value_name = "TYPE")]
    input_type: Option<String>,
    /// Accepted for sops compatibility; seal does not prompt.
    #[arg(short = 'y', long)]
    yes: bool,
    /// The file (rewritten in place).
    file: PathBuf,
}

/// `seal updatekeys`.
pub fn run(a: UpdatekeysArgs) -> Result<(), Failure> {
    let _ = a.yes;
    let file = a.file.display().to_string();
    let format = format_of(a.input_type.as_deref(), &file, Format::Yaml)?;
    let bytes = read_input(&file)?;
    let mut doc = sops::parse_encrypted(&bytes, format).map_err(|e| Failure::from(e).in_file(&file))?;
    let groups: Vec<Vec<Recipient>> = if !a.age.is_empty() {
        vec![parse_recipients(&a.age)?]
    } else {
        let cfg = find_config(a.config.as_deref()).ok_or_else(|| {
            Failure::general("no .sops.yaml found and no --age given: which recipients should the file have?")
        })?;
        let rule = config::creation_rule(&cfg, &a.file)
            .map_err(config_failure)?
            .ok_or_else(|| Failure::general(format!("no creation rule in {} matches {file}", cfg.display())))?;
        rule.groups.iter().map(|g| parse_recipients(g)).collect::<Result<_, _>>()?
    };
    let ids = identity::load(&a.ids.identity)?;
    let key = recipients::recover(&doc.metadata, &ids).map_err(|e| Failure::from(e).in_file(&file))?;
    let before: Vec<String> = doc.metadata.recipients().map(str::to_owned).collect();
    if groups.len() <= 1 && doc.metadata.key_groups.len() <= 1 {
        let existing = doc.metadata.key_groups.first().cloned().unwrap_or_default();
        let rs = groups.first().cloned().unwrap_or_default();
        doc.metadata.key_groups = vec![recipients::rewrap_single(&key, &existing, &rs)?];
    } else {
        doc.metadata.key_groups = recipients::wrap_groups(&key, &groups, doc.metadata.shamir_threshold)?;
    }
    let after: Vec<String> = doc.metadata.recipients().map(str::to_owned).collect();
    if before == after {
        eprintln!("seal: {file}: recipients unchanged");
        return Ok(());
    }
    for r in after.iter().filter(|r| !before.contains(r)) {
        eprintln!("+ {r}");
    }
    for r in before.iter().filter(|r| !after.contains(r)) {
        eprintln!("- {r}");
    }
    let out = sops::emit_encrypted(&doc, format)?;
    write_in_place(&a.file, &out)
}
