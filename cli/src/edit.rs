//! `seal edit`: $EDITOR on a private copy of the plaintext; unchanged
//! values keep their ciphertext. A file that does not exist is created
//! from sops' example document, as `sops new.yaml` does.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use seal_format::sops::{self, DecryptOptions, Format};

use crate::common::{format_of, layout, open, read_input, reseal, write_in_place};
use crate::{Failure, IdentityArgs, IndentArgs, exit};

#[derive(Args)]
pub struct EditArgs {
    #[command(flatten)]
    ids: IdentityArgs,
    /// Input format (default: from the file name).
    #[arg(long, value_name = "TYPE")]
    input_type: Option<String>,
    /// Do not check the MAC when opening (values must still decrypt); the saved file gets a new MAC.
    #[arg(long)]
    ignore_mac: bool,
    /// Show the file's `sops` metadata (its recipients and their wrapped
    /// data keys) below the values in the editor, as sops' `-s` does. It is
    /// there to be read: values may be edited, the metadata may not (sops
    /// 3.11 drops every change made with `-s`; seal keeps the value changes
    /// and refuses a changed metadata block, as recipients change with
    /// `updatekeys` and `rotate`).
    #[arg(short = 's', long)]
    show_master_keys: bool,
    #[command(flatten)]
    indent: IndentArgs,
    /// The .sops.yaml whose `stores` section sets the indentation (default: SOPS_CONFIG, else the one found from here).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Recipients and rule of a new file (as `seal encrypt`'s; an existing
    /// file keeps its own).
    #[command(flatten)]
    keys: crate::encrypt::KeyArgs,
    /// The file to edit; one that does not exist is created from sops'
    /// example document.
    file: PathBuf,
}

/// `seal edit`.
pub fn run(a: EditArgs) -> Result<(), Failure> {
    crate::guard::disable_core_dumps();
    let file = a.file.display().to_string();
    let format = format_of(a.input_type.as_deref(), &file, Format::Yaml)?;
    let layout = layout(&a.indent, a.config.as_deref())?;
    if !a.file.exists() {
        return new_file(&a, format, &layout);
    }
    if let Some(flag) = new_file_flag(&a.keys) {
        return Err(Failure::new(
            exit::USAGE,
            format!(
                "{flag} applies to a new file only: {file} exists and keeps its recipients and rule; change them \
             with `seal updatekeys` or `seal rotate --add-age/--rm-age`"
            ),
        ));
    }
    let bytes = read_input(&file)?;
    let ids = a.ids.load()?;
    let (branches, metadata, cipher) =
        open(&file, &bytes, format, &ids, DecryptOptions { verify_mac: !a.ignore_mac, stash: true })?;
    let plain = if a.show_master_keys {
        // The layout of an encrypted file, with the values in clear.
        let shown = sops::EncryptedDocument { branches, metadata: metadata.clone() };
        sops::emit_encrypted_in(&shown, format, &layout)?
    } else {
        let plain = sops::emit_plain_in(&branches, format, &layout)?;
        drop(branches);
        plain
    };
    in_editor(&a.file, plain, |edited| {
        let branches = if a.show_master_keys {
            values_beside_metadata(edited, format, &metadata)?
        } else {
            sops::parse_plain(edited, format)?
        };
        let doc = reseal(branches, metadata.clone(), &cipher)?;
        Ok(sops::emit_encrypted_in(&doc, format, &layout)?)
    })
}

/// The edit of a file that does not exist, as sops does it: the editor
/// opens on sops' example document of the file's format, and what is
/// saved is encrypted as `seal encrypt` would (the flags over the
/// `.sops.yaml` creation rule). An example saved unchanged writes nothing
/// (sops' exit 200).
fn new_file(a: &EditArgs, format: Format, layout: &sops::Layout) -> Result<(), Failure> {
    if a.show_master_keys {
        return Err(Failure::unsupported(
            "-s/--show-master-keys on a new file: not yet; create the file first, then edit it with -s",
        ));
    }
    let opts = crate::encrypt::options(&a.keys, a.config.as_deref(), &a.file, format)?;
    in_editor(&a.file, example(format, layout)?, |edited| {
        let branches = sops::parse_plain(edited, format)?;
        let doc = sops::encrypt_document(branches, &opts)?;
        Ok(sops::emit_encrypted_in(&doc, format, layout)?)
    })
}

/// sops' example document for `format` (its stores' `EmitExample`).
fn example(format: Format, layout: &sops::Layout) -> Result<Vec<u8>, Failure> {
    const HELLO: &str = "Welcome to SOPS! Edit this file as you please!";
    Ok(match format {
        Format::Binary => HELLO.as_bytes().to_vec(),
        Format::Dotenv => format!(
            "# This is an example file.\nhello={HELLO}\nexample_key=example_value\nexample_multiline=foo\\nbar\\nbaz\n"
        )
        .into_bytes(),
        Format::Ini => {
            format!("; This is an example file.\n[Welcome!]\nhello       = {HELLO}\nexample_key = example_value\n")
                .into_bytes()
        }
        Format::Yaml | Format::Json => {
            let text = format!(
                "hello: {HELLO}\nexample_key: example_value\n# Example comment\nexample_array:\n    - example_value1\n    - example_value2\nexample_number: 1234.56789\nexample_booleans:\n    - true\n    - false\n"
            );
            let branches = sops::parse_plain(text.as_bytes(), Format::Yaml)?;
            sops::emit_plain_in(&branches, format, layout)?
        }
    })
}

/// The first flag of `keys` given that only a new file takes. `--age`
/// from SOPS_AGE_RECIPIENTS does not count: the environment is there for
/// every command.
fn new_file_flag(keys: &crate::encrypt::KeyArgs) -> Option<&'static str> {
    let from_env: Vec<String> =
        std::env::var("SOPS_AGE_RECIPIENTS").map(|v| v.split(',').map(str::to_owned).collect()).unwrap_or_default();
    let r = &keys.rule;
    [
        ("--age", !keys.age.is_empty() && keys.age != from_env),
        ("--mac-only-encrypted", keys.mac_only_encrypted),
        ("--shamir-secret-sharing-threshold", keys.shamir_secret_sharing_threshold.is_some()),
        ("--encrypted-regex", r.encrypted_regex.is_some()),
        ("--unencrypted-regex", r.unencrypted_regex.is_some()),
        ("--encrypted-suffix", r.encrypted_suffix.is_some()),
        ("--unencrypted-suffix", r.unencrypted_suffix.is_some()),
        ("--encrypted-comment-regex", r.encrypted_comment_regex.is_some()),
        ("--unencrypted-comment-regex", r.unencrypted_comment_regex.is_some()),
    ]
    .into_iter()
    .find_map(|(flag, given)| given.then_some(flag))
}

/// Opens the editor on `plain` in a private copy and writes what `save`
/// makes of the edited text to `file`. Unchanged: sops' exit 200. Invalid:
/// at a terminal, the editor opens again; otherwise nothing is written.
fn in_editor(file: &Path, plain: Vec<u8>, save: impl Fn(&[u8]) -> Result<Vec<u8>, Failure>) -> Result<(), Failure> {
    let shown = file.display().to_string();
    // Plaintext lives only in a private directory (0700) and file (0600),
    // both removed when `dir` is dropped, on every return path.
    let dir = tempfile::Builder::new()
        .prefix("seal-edit-")
        .tempdir()
        .map_err(|e| Failure::output(format!("cannot create a private temporary directory: {e}")))?;
    let guard = crate::guard::Guard::install(dir.path())
        .map_err(|e| Failure::general(format!("cannot install the signal handlers: {e}")))?;
    let name = file.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "secret".into());
    let tmp = dir.path().join(name);
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| Failure::output(format!("cannot create the temporary file: {e}")))?;
        f.write_all(&plain).map_err(|e| Failure::output(format!("cannot write the temporary file: {e}")))?;
    }
    let plain = zeroize::Zeroizing::new(plain);
    loop {
        run_editor(&tmp, &guard)?;
        let edited = zeroize::Zeroizing::new(
            std::fs::read(&tmp).map_err(|e| Failure::input(format!("cannot read the edited file: {e}")))?,
        );
        if *edited == *plain {
            // sops exits 200 here, and scripts test for it.
            return Err(Failure::new(exit::FILE_HAS_NOT_BEEN_MODIFIED, format!("{shown} has not changed")));
        }
        match save(&edited) {
            Ok(out) => return write_in_place(file, &out),
            Err(f) if std::io::stdin().is_terminal() => {
                eprintln!("seal: the edited file is not valid: {}", f.message);
                eprint!("Press Enter to edit again, or Ctrl-D to abandon the changes: ");
                let mut line = String::new();
                if std::io::stdin().read_line(&mut line).unwrap_or(0) == 0 {
                    return Err(Failure::general("edit abandoned; the file was not changed"));
                }
            }
            Err(f) => return Err(f.in_file(&format!("{shown} (edited, not saved)"))),
        }
    }
}

/// The values of a file edited with `-s`: its metadata block must be the
/// one shown, unchanged.
fn values_beside_metadata(edited: &[u8], format: Format, shown: &sops::Metadata) -> Result<Vec<sops::Map>, Failure> {
    let doc = sops::parse_encrypted(edited, format).map_err(Failure::from)?;
    // Compared as written: the same keys, entries and values in one layout.
    let written = |metadata: &sops::Metadata| {
        let empty = sops::EncryptedDocument { branches: vec![sops::Map::new()], metadata: metadata.clone() };
        sops::emit_encrypted(&empty, Format::Json)
    };
    if written(&doc.metadata)? != written(shown)? {
        return Err(Failure::unsupported(
            "the `sops` metadata was changed in the editor: with -s/--show-master-keys seal saves changes to the \
             values only. Put the metadata back as it was shown; change recipients with `seal updatekeys` or \
             `seal rotate --add-age/--rm-age`",
        ));
    }
    Ok(doc.branches)
}

fn run_editor(path: &Path, guard: &crate::guard::Guard) -> Result<(), Failure> {
    let editor = ["SOPS_EDITOR", "VISUAL", "EDITOR"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|e| !e.trim().is_empty()))
        .unwrap_or_else(|| "vi".to_owned());
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        // `exec`: the editor is seal's own child, so the signals seal passes
        // on reach it, not an intermediate shell.
        .arg(format!("exec {editor} \"$1\""))
        .arg("sh")
        .arg(path)
        .spawn()
        .map_err(|e| Failure::new(exit::NO_EDITOR_FOUND, format!("cannot start the editor {editor:?}: {e}")))?;
    guard.editor(Some(child.id()));
    let status = child.wait();
    guard.editor(None);
    let status =
        status.map_err(|e| Failure::new(exit::NO_EDITOR_FOUND, format!("waiting for the editor {editor:?}: {e}")))?;
    if !status.success() {
        return Err(Failure::new(
            exit::NO_EDITOR_FOUND,
            format!("the editor {editor:?} exited with {status}; the file was not changed"),
        ));
    }
    Ok(())
}
