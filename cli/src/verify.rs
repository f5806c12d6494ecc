//! `seal verify`: structure, recipients and the selection rule; with a key
//! also the MAC and a SealedSecret's scope, with the controller's checks.

use clap::Args;
use seal_format::document as sealed;
use seal_format::sops::{self, DecryptOptions, Format, Identities, Recipient, Value, recipients};

use crate::common::{read_input, sealed_failure};
use crate::{Failure, IdentityArgs, exit};

#[derive(Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    ids: IdentityArgs,
    /// Only check structure and recipients, even when a key is available.
    #[arg(long)]
    no_decrypt: bool,
    /// The files to check.
    #[arg(required = true)]
    files: Vec<String>,
}

/// `seal verify`: one line per file; non-zero exit if any file fails.
pub fn run(a: VerifyArgs) -> Result<(), Failure> {
    let ids = a.ids.load()?;
    let mut failed = 0;
    for file in &a.files {
        match verify_one(file, &ids, a.no_decrypt) {
            Ok(note) => println!("ok    {file}{note}"),
            Err(f) => {
                failed += 1;
                println!("FAIL  {file}: {}", f.message);
            }
        }
    }
    if failed > 0 {
        return Err(Failure {
            code: exit::VERIFY_FAILED,
            message: format!("{failed} of {} file(s) failed verification", a.files.len()),
        });
    }
    Ok(())
}

fn verify_one(file: &str, ids: &Identities, no_decrypt: bool) -> Result<String, Failure> {
    let format = Format::from_path(file);
    let bytes = read_input(file)?;
    let doc = sops::parse_encrypted(&bytes, format)?;
    let md = &doc.metadata;
    let recipients: Vec<&str> = md.recipients().collect();
    if recipients.is_empty() {
        return Err(Failure::input("the file has no age recipients"));
    }
    for g in &md.key_groups {
        for e in &g.age {
            Recipient::parse(&e.recipient)?;
            let enc = e.enc.trim();
            if !enc.starts_with("-----BEGIN AGE ENCRYPTED FILE-----")
                || !enc.ends_with("-----END AGE ENCRYPTED FILE-----")
            {
                return Err(Failure::input(format!(
                    "the age entry for {} is not a complete armored age file (truncated or edited)",
                    e.recipient
                )));
            }
        }
    }
    if md.version.trim_start_matches('v').split('.').count() != 3 {
        return Err(Failure::input(format!(
            "sops.version {:?} is not MAJOR.MINOR.PATCH; sops would refuse the file",
            md.version
        )));
    }
    let sealed_doc = doc.branches.first().filter(|b| sealed::is_sealed_secret(b)).cloned();
    if let Some(ss) = &sealed_doc {
        sealed::check_encrypted(ss, md).map_err(sealed_failure)?;
    }
    if no_decrypt || ids.is_empty() {
        return Ok(format!(
            " (structure only: no key to check the MAC{})",
            if sealed_doc.is_some() { " and scope" } else { "" }
        ));
    }
    let no_key = || {
        format!(
            " (structure only: none of the loaded identities is a recipient; recipients: {})",
            recipients.join(", ")
        )
    };
    if let Some(ss) = &sealed_doc {
        // The controller's own checks, from the same library code.
        let (ns, name) = sealed::object_ref(ss);
        let spec = ss.get("spec").and_then(Value::as_map).cloned().unwrap_or_default();
        return match sealed::open(ns.unwrap_or(""), name.unwrap_or(""), &spec, md.clone(), ids) {
            Ok(opened) => Ok(format!(" (MAC verified, scope {})", opened.scope)),
            Err(sealed::SealedError::NoMatchingKey(_)) => Ok(no_key()),
            Err(e) => Err(sealed_failure(e)),
        };
    }
    let key = match recipients::recover(md, ids) {
        Ok(k) => k,
        Err(sops::Error::NoMatchingKey(_)) => return Ok(no_key()),
        Err(e) => return Err(e.into()),
    };
    sops::decrypt_with_key(doc, key, DecryptOptions::default())?;
    Ok(" (MAC verified)".to_owned())
}
