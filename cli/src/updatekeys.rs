//! `seal updatekeys`: re-wrap the data key to the recipients the rules name
//! now; values are untouched.

use std::path::PathBuf;

use clap::Args;
use seal_format::sops::{self, Format, Identities, Metadata, Recipient, recipients};

use crate::common::{config_failure, find_config, format_of, layout, parse_recipients, read_input, write_in_place};
use crate::{Failure, IdentityArgs, IndentArgs, config};

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
    #[command(flatten)]
    indent: IndentArgs,
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
    let ids = a.ids.load()?;
    let before: Vec<String> = doc.metadata.recipients().map(str::to_owned).collect();
    if doc.metadata.key_groups.iter().any(|g| g.foreign_types().next().is_some()) {
        keep_foreign(&mut doc.metadata, &groups, &ids).map_err(|f| f.in_file(&file))?;
    } else if groups.len() <= 1 && doc.metadata.key_groups.len() <= 1 {
        let key = recipients::recover(&doc.metadata, &ids).map_err(|e| Failure::from(e).in_file(&file))?;
        let existing = doc.metadata.key_groups.first().cloned().unwrap_or_default();
        let rs = groups.first().cloned().unwrap_or_default();
        doc.metadata.key_groups = vec![recipients::rewrap_single(&key, &existing, &rs)?];
    } else {
        let key = recipients::recover(&doc.metadata, &ids).map_err(|e| Failure::from(e).in_file(&file))?;
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
    let out = sops::emit_encrypted_in(&doc, format, &layout(&a.indent, a.config.as_deref())?)?;
    write_in_place(&a.file, &out)
}

/// Updates the age entries of a file that also holds keys seal cannot wrap
/// (pgp, kms, …). Those keys are kept byte for byte, so the data key and
/// each group's Shamir share must stay as they are: every group with age
/// recipients gets the recipients of the matching group of the rule (in
/// order), recipients already present keep their entry, and new ones get
/// the group's share (the whole key for a single group), recovered from an
/// entry of that group. Groups with only other keys are left alone.
fn keep_foreign(md: &mut Metadata, want: &[Vec<Recipient>], ids: &Identities) -> Result<(), Failure> {
    recipients::check_not_mixed(want.iter().flatten())?;
    let age_groups: Vec<usize> =
        (0..md.key_groups.len()).filter(|&i| md.key_groups.get(i).is_some_and(|g| !g.age.is_empty())).collect();
    if age_groups.len() != want.len() {
        let foreign: Vec<String> = md
            .key_groups
            .iter()
            .enumerate()
            .flat_map(|(i, g)| g.foreign_types().map(move |t| format!("{t} in key group {i}")))
            .collect();
        return Err(Failure::input(format!(
            "the file has {} key group(s) with age recipients and the new keys make {} group(s); the file also \
             holds {}, which seal keeps only while the age groups line up with the file's; change the groups \
             with sops, or `seal groups` once the other keys are gone",
            age_groups.len(),
            want.len(),
            foreign.join(", ")
        )));
    }
    let single = md.key_groups.len() == 1;
    for (gi, rs) in age_groups.into_iter().zip(want) {
        let Some(group) = md.key_groups.get_mut(gi) else { continue };
        let same = group.age.len() == rs.len() && group.age.iter().zip(rs).all(|(e, r)| e.recipient == r.as_str());
        if same {
            continue;
        }
        let share = if single {
            None
        } else {
            Some(group.age.iter().find_map(|e| recipients::unwrap(&e.enc, ids).ok()).ok_or_else(|| {
                Failure::from(sops::Error::NoMatchingKey(format!(
                    "no loaded identity opens key group {gi}, whose recipients change"
                )))
            })?)
        };
        let secret = match share {
            Some(s) => s,
            None => {
                let key =
                    recipients::recover(&Metadata { key_groups: vec![group.clone()], ..Metadata::default() }, ids)?;
                zeroize::Zeroizing::new(key.as_bytes().to_vec())
            }
        };
        let mut age = Vec::with_capacity(rs.len());
        for r in rs {
            match group.age.iter().find(|e| e.recipient == r.as_str()) {
                Some(e) => age.push(e.clone()),
                None => age.push(sops::metadata::AgeEntry {
                    recipient: r.as_str().to_owned(),
                    enc: recipients::wrap(&secret, r)?,
                }),
            }
        }
        group.age = age;
    }
    Ok(())
}
