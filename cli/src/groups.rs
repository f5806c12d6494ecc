//! `seal groups add` and `seal groups delete`: sops' `groups`. A key group
//! is added or removed, and the data key (unchanged) is wrapped again for
//! every group: split with Shamir when there are several, whole for one.
//!
//! Every entry is re-wrapped, so a file whose remaining groups hold keys
//! seal cannot wrap (pgp, kms, …) is refused, naming the group and the key
//! type, rather than written with entries that no longer open it. The key
//! flags of those types are refused by name too.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use seal_format::sops::{self, Format, Recipient, metadata::KeyGroup, recipients};

use crate::common::{format_of, layout, parse_recipients, read_input, write_in_place, write_stdout};
use crate::{Failure, IdentityArgs, IndentArgs};

#[derive(Subcommand)]
pub enum GroupsCommand {
    /// Add a key group of age recipients.
    Add(AddArgs),
    /// Delete the key group at INDEX (0-based).
    Delete(DeleteArgs),
}

/// What `add` and `delete` share.
#[derive(Args)]
pub struct FileArgs {
    #[command(flatten)]
    ids: IdentityArgs,
    /// The encrypted file.
    #[arg(short, long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// Write the result back to the file (default: stdout).
    #[arg(short = 'i', long)]
    in_place: bool,
    /// Groups needed to recover the data key (default: the file's, else every group).
    #[arg(long, value_name = "N")]
    shamir_secret_sharing_threshold: Option<i64>,
    #[command(flatten)]
    indent: IndentArgs,
    /// The .sops.yaml whose `stores` section sets the indentation (default: SOPS_CONFIG, else the one found from here).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Args)]
pub struct AddArgs {
    #[command(flatten)]
    common: FileArgs,
    /// An age recipient of the new group (repeatable, or comma-separated).
    #[arg(long, value_name = "R")]
    age: Vec<String>,
    /// Refused: seal wraps data keys for age recipients only.
    #[arg(long, value_name = "FP", hide = true)]
    pgp: Vec<String>,
    /// Refused: seal wraps data keys for age recipients only.
    #[arg(long, value_name = "ARN", hide = true)]
    kms: Vec<String>,
    /// Refused: seal wraps data keys for age recipients only.
    #[arg(long, value_name = "ID", hide = true)]
    gcp_kms: Vec<String>,
    /// Refused: seal wraps data keys for age recipients only.
    #[arg(long, value_name = "URL", hide = true)]
    azure_kv: Vec<String>,
    /// Refused: seal wraps data keys for age recipients only.
    #[arg(long, value_name = "URI", hide = true)]
    hc_vault_transit: Vec<String>,
    /// Refused: seal has no KMS keys.
    #[arg(long, value_name = "PROFILE", hide = true)]
    aws_profile: Option<String>,
    /// Refused: seal has no KMS keys.
    #[arg(long, value_name = "CTX", hide = true)]
    encryption_context: Option<String>,
    /// No positional argument is taken (sops refuses them).
    #[arg(hide = true)]
    extra: Vec<String>,
}

#[derive(Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    common: FileArgs,
    /// The 0-based index of the group to delete.
    index: Option<String>,
}

/// `seal groups`.
pub fn run(cmd: GroupsCommand) -> Result<(), Failure> {
    match cmd {
        GroupsCommand::Add(a) => add(a),
        GroupsCommand::Delete(a) => delete(a),
    }
}

fn add(a: AddArgs) -> Result<(), Failure> {
    let foreign = [
        ("--pgp", !a.pgp.is_empty()),
        ("--kms", !a.kms.is_empty()),
        ("--gcp-kms", !a.gcp_kms.is_empty()),
        ("--azure-kv", !a.azure_kv.is_empty()),
        ("--hc-vault-transit", !a.hc_vault_transit.is_empty()),
        ("--aws-profile", a.aws_profile.is_some()),
        ("--encryption-context", a.encryption_context.is_some()),
    ];
    if let Some((flag, _)) = foreign.iter().find(|(_, set)| *set) {
        return Err(Failure::general(format!(
            "groups add {flag}: seal wraps data keys for age recipients only; use --age, or sops for this key type"
        )));
    }
    if !a.extra.is_empty() {
        return Err(Failure::general("groups add takes no positional arguments (the file is given with --file)"));
    }
    let split: Vec<String> = a.age.iter().flat_map(|r| r.split(',')).map(str::to_owned).collect();
    let group = parse_recipients(&split)?;
    if group.is_empty() {
        return Err(Failure::general("groups add: the new group is empty; give it at least one --age recipient"));
    }
    change(&a.common, Op::Add(group))
}

fn delete(a: DeleteArgs) -> Result<(), Failure> {
    let Some(index) = a.index.as_deref() else {
        return Err(Failure::general("groups delete: exactly one positional argument (index) is required"));
    };
    let i: usize =
        index.parse().map_err(|_| Failure::general("groups delete: the index must be a group number, 0 or more"))?;
    change(&a.common, Op::Delete(i))
}

/// The change to the file's key groups.
enum Op {
    Add(Vec<Recipient>),
    Delete(usize),
}

/// Recovers the data key, changes the groups and wraps the key again for
/// all of them.
fn change(a: &FileArgs, op: Op) -> Result<(), Failure> {
    let Some(path) = &a.file else {
        return Err(Failure::general("give the file with --file"));
    };
    let file = path.display().to_string();
    let format = format_of(None, &file, Format::Yaml)?;
    let bytes = read_input(&file)?;
    let mut doc = sops::parse_encrypted(&bytes, format).map_err(|e| Failure::from(e).in_file(&file))?;
    let mut kept: Vec<KeyGroup> = doc.metadata.key_groups.clone();
    match &op {
        Op::Add(_) => kept.push(KeyGroup::default()),
        Op::Delete(i) if *i < kept.len() => drop(kept.remove(*i)),
        Op::Delete(i) => {
            return Err(Failure::input(format!(
                "{file}: the file has {} key group(s); there is no group {i}",
                kept.len()
            )));
        }
    }
    if kept.is_empty() {
        return Err(Failure::input(format!(
            "{file}: deleting the last key group would leave no key that opens the file"
        )));
    }
    if let Some((i, g)) = kept.iter().enumerate().find(|(_, g)| g.foreign_types().next().is_some()) {
        let types: Vec<&str> = g.foreign_types().collect();
        return Err(Failure::input(format!(
            "{file}: key group {i} would have {} keys, which seal cannot wrap again for the changed groups; \
             change the groups with sops, or delete that group first",
            types.join(", ")
        )));
    }
    let mut groups: Vec<Vec<Recipient>> = kept
        .iter()
        .map(|g| g.age.iter().map(|e| Recipient::parse(&e.recipient)).collect::<Result<_, _>>())
        .collect::<Result<_, _>>()
        .map_err(|e| Failure::from(e).in_file(&file))?;
    if let (Op::Add(new), Some(last)) = (op, groups.last_mut()) {
        *last = new;
    }
    let ids = a.ids.load()?;
    let key = recipients::recover(&doc.metadata, &ids).map_err(|e| Failure::from(e).in_file(&file))?;
    let threshold = threshold(a.shamir_secret_sharing_threshold, doc.metadata.shamir_threshold, groups.len())
        .map_err(|f| f.in_file(&file))?;
    doc.metadata.key_groups = recipients::wrap_groups(&key, &groups, threshold)?;
    doc.metadata.shamir_threshold = threshold;
    let out = sops::emit_encrypted_in(&doc, format, &layout(&a.indent, a.config.as_deref())?)?;
    if a.in_place { write_in_place(Path::new(&file), &out) } else { write_stdout(&out) }
}

/// The quorum after the change: the flag, else the file's, else every
/// group; 1 to the number of groups (sops' own check for delete, and a
/// bound Shamir needs).
fn threshold(flag: Option<i64>, file: usize, groups: usize) -> Result<usize, Failure> {
    let t = match flag {
        Some(0) | None if groups > 1 && file == 0 => groups,
        Some(0) | None => file,
        Some(t) => usize::try_from(t)
            .ok()
            .filter(|t| *t >= 1)
            .ok_or_else(|| Failure::input("--shamir-secret-sharing-threshold must be at least 1"))?,
    };
    if t > groups {
        return Err(Failure::input(format!(
            "the Shamir threshold is {t}, but the file would have only {groups} key group(s)"
        )));
    }
    Ok(if groups > 1 { t } else { 0 })
}
