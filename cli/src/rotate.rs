//! `seal rotate`: a new data key, every value re-encrypted.

use std::path::Path;

use clap::Args;
use seal_format::sops::{self, DecryptOptions, Format, Recipient, recipients};

use crate::common::{format_of, open, parse_recipients, read_input, reseal, write_in_place, write_stdout};
use crate::{Failure, IdentityArgs, identity};

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
    /// Write the result back to the file (default: stdout).
    #[arg(short = 'i', long)]
    in_place: bool,
    /// The file.
    file: String,
}

/// `seal rotate`.
pub fn run(a: RotateArgs) -> Result<(), Failure> {
    let format = format_of(a.input_type.as_deref(), &a.file, Format::Yaml)?;
    let bytes = read_input(&a.file)?;
    let ids = identity::load(&a.ids.identity)?;
    let (branches, mut metadata, _) = open(&a.file, &bytes, format, &ids, DecryptOptions::default())?;
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
    let out = sops::emit_encrypted(&doc, format)?;
    if a.in_place && a.file != "-" { write_in_place(Path::new(&a.file), &out) } else { write_stdout(&out) }
}
