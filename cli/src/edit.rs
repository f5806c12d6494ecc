//! `seal edit`: $EDITOR on a private copy of the plaintext; unchanged
//! values keep their ciphertext.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use seal_format::sops::{self, DecryptOptions, Format};

use crate::common::{format_of, layout, open, read_input, reseal, write_in_place};
use crate::{Failure, IdentityArgs, IndentArgs, exit, identity};

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
    /// The file to edit.
    file: PathBuf,
}

/// `seal edit`.
pub fn run(a: EditArgs) -> Result<(), Failure> {
    crate::guard::disable_core_dumps();
    let file = a.file.display().to_string();
    let format = format_of(a.input_type.as_deref(), &file, Format::Yaml)?;
    let layout = layout(&a.indent, a.config.as_deref())?;
    let bytes = read_input(&file)?;
    let ids = identity::load(&a.ids.identity)?;
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

    // Plaintext lives only in a private directory (0700) and file (0600),
    // both removed when `dir` is dropped, on every return path.
    let dir = tempfile::Builder::new()
        .prefix("seal-edit-")
        .tempdir()
        .map_err(|e| Failure::output(format!("cannot create a private temporary directory: {e}")))?;
    let guard = crate::guard::Guard::install(dir.path())
        .map_err(|e| Failure::general(format!("cannot install the signal handlers: {e}")))?;
    let name = a.file.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "secret".into());
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
            return Err(Failure::new(exit::FILE_HAS_NOT_BEEN_MODIFIED, format!("{file} has not changed")));
        }
        let parsed = if a.show_master_keys {
            values_beside_metadata(&edited, format, &metadata)
        } else {
            sops::parse_plain(&edited, format).map_err(Failure::from)
        };
        let parsed = parsed.and_then(|b| reseal(b, metadata.clone(), &cipher));
        match parsed {
            Ok(doc) => {
                let out = sops::emit_encrypted_in(&doc, format, &layout)?;
                return write_in_place(&a.file, &out);
            }
            Err(f) if std::io::stdin().is_terminal() => {
                eprintln!("seal: the edited file is not valid: {}", f.message);
                eprint!("Press Enter to edit again, or Ctrl-D to abandon the changes: ");
                let mut line = String::new();
                if std::io::stdin().read_line(&mut line).unwrap_or(0) == 0 {
                    return Err(Failure::general("edit abandoned; the file was not changed"));
                }
            }
            Err(f) => return Err(f.in_file(&format!("{file} (edited, not saved)"))),
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
