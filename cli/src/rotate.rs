//! `seal rotate`: a new data key, every value re-encrypted.

use std::path::PathBuf;

use clap::Args;
use seal_format::sops::{self, DecryptOptions, Format, Recipient, recipients};

use crate::common::{OutputTarget, format_of, open, parse_recipients, read_input, reseal};
use crate::{Failure, IdentityArgs, exit, identity};

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
    let ids = identity::load(&a.ids.identity)?;
    let opts = DecryptOptions { verify_mac: !a.ignore_mac, ..DecryptOptions::default() };
    let (branches, mut metadata, _) = open(&a.file, &bytes, format, &ids, opts)?;
    if metadata.key_groups.iter().any(|g| !g.other.is_empty()) {
        return Err(Failure::unsupported(format!(
            "{}: the file also has non-age keys (kms, pgp, …) that seal cannot re-wrap; rotate it with sops",
            a.file
        )));
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
    let out = sops::emit_encrypted(&doc, out_format)?;
    target.write(&out)
}
