//! `seal exec-file FILE COMMAND`: sops' `exec-file`. The decrypted file is
//! offered to `/bin/sh -c COMMAND` as a FIFO (or, with `--no-fifo`, a 0600
//! file) in a private temporary directory; `{}` in COMMAND is its path.
//! seal exits with the command's status, as sops does.
//!
//! Unlike sops, a signal that stops seal (SIGTERM, SIGHUP) still removes the
//! directory, and Ctrl-C goes to the command alone while it runs (the
//! handling `seal edit` has); `--filename` may not leave the directory.

use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Args;
use seal_format::sops::{self, DecryptOptions, Format};
use zeroize::Zeroizing;

use crate::common::{format_of, layout, open, read_input};
use crate::exec_env::{RunAs, run_command};
use crate::{Failure, IdentityArgs, IndentArgs};

/// sops' name for the file when `--filename` is not given.
const FALLBACK_FILENAME: &str = "tmp-file";

#[derive(Args)]
pub struct ExecFileArgs {
    #[command(flatten)]
    ids: IdentityArgs,
    /// Not supported: sops removes the file as soon as the command starts (see docs/sops-compatibility.md).
    #[arg(long)]
    background: bool,
    /// Use a regular file (0600) instead of a FIFO.
    #[arg(long)]
    no_fifo: bool,
    /// Run the command as this user (seal must be allowed to switch to it).
    #[arg(long, value_name = "USER")]
    user: Option<String>,
    /// Input format (default: from the file name).
    #[arg(long, value_name = "TYPE")]
    input_type: Option<String>,
    /// Format of the plaintext the command reads (default: the input format).
    #[arg(long, value_name = "TYPE")]
    output_type: Option<String>,
    /// Name of the temporary file inside the private directory (default: tmp-file).
    #[arg(long, value_name = "NAME")]
    filename: Option<String>,
    #[command(flatten)]
    indent: IndentArgs,
    /// The .sops.yaml whose `stores` section sets the indentation (default: SOPS_CONFIG, else the one found from here).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// FILE COMMAND: the encrypted file and the shell command to run (`{}` is the temporary file).
    #[arg(value_name = "ARGS", num_args = 0..=2)]
    args: Vec<String>,
}

/// `seal exec-file`.
pub fn run(a: ExecFileArgs) -> Result<(), Failure> {
    let [file, command] = a.args.as_slice() else {
        return Err(Failure::general("give FILE and COMMAND"));
    };
    if a.background {
        return Err(Failure::general(
            "exec-file --background is not supported: the decrypted file is removed when seal exits, before a \
             background command could read it; run the command in the foreground",
        ));
    }
    let name = match a.filename.as_deref().filter(|n| !n.is_empty()) {
        Some(n) if n.contains('/') || n == "." || n == ".." || n.contains('\0') => {
            return Err(Failure::general("--filename must be a plain file name, without '/'"));
        }
        other => other,
    };
    let user = a.user.as_deref().map(RunAs::lookup).transpose()?;
    crate::guard::disable_core_dumps();
    let format = format_of(a.input_type.as_deref(), file, Format::Yaml)?;
    let out_format = match &a.output_type {
        Some(t) => format_of(Some(t), file, format)?,
        None => format,
    };
    let bytes = read_input(file)?;
    let ids = a.ids.load()?;
    let (branches, _, _) = open(file, &bytes, format, &ids, DecryptOptions::default())?;
    let plain = Zeroizing::new(sops::emit_plain_in(&branches, out_format, &layout(&a.indent, a.config.as_deref())?)?);
    drop(branches);

    let dir = tempfile::Builder::new()
        .prefix(".sops")
        .tempdir()
        .map_err(|e| Failure::general(format!("cannot create a private temporary directory: {e}")))?;
    let guard = crate::guard::Guard::install(dir.path())
        .map_err(|e| Failure::general(format!("cannot install the signal handlers: {e}")))?;
    let path = if a.no_fifo {
        write_file(dir.path(), name, &plain)?
    } else {
        let path = dir.path().join(name.unwrap_or(FALLBACK_FILENAME));
        make_fifo(&path)?;
        path
    };
    if let Some(u) = &user {
        for p in [dir.path(), path.as_path()] {
            std::os::unix::fs::chown(p, Some(u.uid), Some(u.gid))
                .map_err(|e| Failure::general(format!("--user: cannot give {} to the user: {e}", p.display())))?;
        }
    }
    if !a.no_fifo {
        // Opening a FIFO for writing waits for a reader: a thread feeds it,
        // and is left behind if the command never reads.
        let (fifo, plain) = (path.clone(), plain.clone());
        std::thread::Builder::new()
            .name("seal-fifo".into())
            .spawn(move || {
                if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&fifo) {
                    let _ = f.write_all(&plain);
                }
            })
            .map_err(|e| Failure::general(format!("cannot start the FIFO writer: {e}")))?;
    }
    drop(plain);

    let shown = path.to_string_lossy();
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg(command.replace("{}", &shown));
    if let Some(u) = &user {
        u.apply(&mut cmd);
    }
    let result = run_command(cmd, false, Some(&guard));
    drop(guard);
    drop(dir);
    result
}

/// Writes the plaintext to a new 0600 file in `dir`: `name`, or sops'
/// fallback name with a random suffix.
fn write_file(dir: &Path, name: Option<&str>, plain: &[u8]) -> Result<PathBuf, Failure> {
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |e: std::io::Error| Failure::general(format!("cannot write the temporary file: {e}"));
    let (mut f, path) = match name {
        Some(n) => {
            let path = dir.join(n);
            let f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(fail)?;
            (f, path)
        }
        None => tempfile::Builder::new()
            .prefix(FALLBACK_FILENAME)
            .tempfile_in(dir)
            .map_err(fail)?
            .keep()
            .map_err(|e| fail(e.error))?,
    };
    f.write_all(plain).and_then(|_| f.flush()).map_err(fail)?;
    Ok(path)
}

fn make_fifo(path: &Path) -> Result<(), Failure> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Failure::general("the temporary path holds a NUL byte"))?;
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    if rc != 0 {
        return Err(Failure::general(format!("cannot create the FIFO: {}", std::io::Error::last_os_error())));
    }
    Ok(())
}
