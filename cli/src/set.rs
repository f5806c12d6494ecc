//! `seal set FILE INDEX VALUE`: sops' `set`. The value is JSON (or read
//! from a file with `--value-file`, or from stdin with `--value-stdin`);
//! INDEX is sops' `["a"]["b"][0]` path, created where missing as sops
//! creates it. Unchanged values keep their ciphertext (sops re-encrypts
//! them all); the MAC and `lastmodified` are renewed.

use std::path::{Path, PathBuf};

use clap::Args;
use seal_format::sops::{self, DecryptOptions, Format, Map, tree_path};
use zeroize::Zeroizing;

use crate::common::{format_of, layout, open, read_input, reseal, write_in_place};
use crate::{Failure, IdentityArgs, IndentArgs, exit};

#[derive(Args)]
pub struct SetArgs {
    #[command(flatten)]
    ids: IdentityArgs,
    /// Input format (default: from the file name).
    #[arg(long, value_name = "TYPE")]
    input_type: Option<String>,
    /// Output format written back to the file (default: the input format).
    #[arg(long, value_name = "TYPE")]
    output_type: Option<String>,
    /// VALUE is a file to read the value from (keeps it out of process listings).
    #[arg(long)]
    value_file: bool,
    /// Read the value from standard input; VALUE is left out.
    #[arg(long)]
    value_stdin: bool,
    /// Do not write the file when INDEX already holds VALUE.
    #[arg(long)]
    idempotent: bool,
    /// Do not check the MAC before the edit.
    #[arg(long)]
    ignore_mac: bool,
    #[command(flatten)]
    indent: IndentArgs,
    /// The .sops.yaml whose `stores` section sets the indentation (default: SOPS_CONFIG, else the one found from here).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// FILE INDEX [VALUE]: the encrypted file, the path (e.g. '["a"]["b"][0]') and the JSON value.
    #[arg(value_name = "ARGS", num_args = 0..=3)]
    args: Vec<String>,
}

/// `seal set`.
pub fn run(a: SetArgs) -> Result<(), Failure> {
    if a.value_file && a.value_stdin {
        return Err(Failure::general("cannot use both --value-file and --value-stdin"));
    }
    let want = if a.value_stdin { 2 } else { 3 };
    let [file, index, rest @ ..] = a.args.as_slice() else {
        return Err(missing(want));
    };
    if a.args.len() != want {
        return Err(missing(want));
    }
    let path = tree_path::parse(index)
        .map_err(|e| Failure { code: exit::INVALID_SET_FORMAT, message: format!("invalid set index format: {e}") })?;
    let text: Zeroizing<Vec<u8>> = Zeroizing::new(match (a.value_stdin, a.value_file, rest.first()) {
        (true, _, _) => read_input("-")?,
        (false, true, Some(source)) => read_input(source)?,
        (false, false, Some(v)) => v.as_bytes().to_vec(),
        (false, _, None) => return Err(missing(want)),
    });
    let mut value = std::str::from_utf8(&text)
        .ok()
        .and_then(|t| sops::json::parse_value(t).ok())
        .ok_or_else(|| Failure { code: exit::INVALID_SET_FORMAT, message: "the value is not valid JSON".into() })?;
    drop(text);
    tree_path::numbers_as_floats(&mut value);
    let file_path = Path::new(file);
    let formats = Formats {
        input_type: a.input_type.as_deref(),
        output_type: a.output_type.as_deref(),
        layout: layout(&a.indent, a.config.as_deref())?,
    };
    let changed = rewrite(file_path, &a.ids, formats, a.ignore_mac, !a.idempotent, |root| {
        tree_path::set(root, &path, value).map_err(|e| Failure::input(e.to_string()))
    })?;
    if !changed {
        eprintln!("seal: {file}: not written: {index} already holds that value");
    }
    Ok(())
}

fn missing(want: usize) -> Failure {
    let message = if want == 2 {
        "give FILE and INDEX (the value comes from stdin with --value-stdin)"
    } else {
        "give FILE, INDEX and VALUE"
    };
    Failure { code: exit::NO_FILE_SPECIFIED, message: message.into() }
}

/// The formats a rewrite reads and writes, and the written layout.
pub struct Formats<'a> {
    /// `--input-type`.
    pub input_type: Option<&'a str>,
    /// `--output-type`.
    pub output_type: Option<&'a str>,
    /// `--indent` and `.sops.yaml`'s `stores`.
    pub layout: sops::Layout,
}

/// Opens `file`, applies `edit` to its first document, and writes it back
/// when `edit` changed it or `always` is set. Values left alone keep their
/// ciphertext. Returns whether the file was written.
pub fn rewrite(
    file: &Path,
    ids: &IdentityArgs,
    formats: Formats<'_>,
    ignore_mac: bool,
    always: bool,
    edit: impl FnOnce(&mut Map) -> Result<bool, Failure>,
) -> Result<bool, Failure> {
    let name = file.display().to_string();
    let Formats { input_type, output_type, layout } = formats;
    let format = format_of(input_type, &name, Format::Yaml)?;
    let out_format = match output_type {
        Some(t) => format_of(Some(t), &name, format)?,
        None => format,
    };
    let bytes = read_input(&name)?;
    let ids = ids.load()?;
    let (mut branches, metadata, cipher) =
        open(&name, &bytes, format, &ids, DecryptOptions { verify_mac: !ignore_mac, stash: true })?;
    let root = branches.first_mut().ok_or_else(|| Failure::input(format!("{name}: the file has no document")))?;
    let changed = edit(root).map_err(|f| f.in_file(&name))?;
    if !changed && !always {
        return Ok(false);
    }
    let doc = reseal(branches, metadata, &cipher).map_err(|f| f.in_file(&name))?;
    let out = sops::emit_encrypted_in(&doc, out_format, &layout).map_err(|e| Failure::from(e).in_file(&name))?;
    write_in_place(file, &out)?;
    Ok(true)
}
