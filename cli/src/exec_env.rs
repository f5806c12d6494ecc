//! `seal exec-env FILE COMMAND`: sops' `exec-env`. The top-level values of
//! the decrypted file become environment variables of `/bin/sh -c COMMAND`;
//! seal exits with the command's status, as sops does. Nothing is written
//! to disk. Also what `exec-file` shares: the user to run as, and the
//! command's exit status as seal's.

use std::os::unix::process::CommandExt;
use std::process::Command;

use clap::Args;
use seal_format::sops::{DecryptOptions, Format, Value, cipher::go_format_g};
use zeroize::Zeroizing;

use crate::common::{format_of, open, read_input};
use crate::{Failure, IdentityArgs, exit};

#[derive(Args)]
pub struct ExecEnvArgs {
    #[command(flatten)]
    ids: IdentityArgs,
    /// Start the command and exit without waiting for it (deprecated in sops).
    #[arg(long)]
    background: bool,
    /// Give the command only the decrypted values, not seal's own environment.
    #[arg(long)]
    pristine: bool,
    /// Run the command as this user (seal must be allowed to switch to it).
    #[arg(long, value_name = "USER")]
    user: Option<String>,
    /// Replace seal with the command instead of running it as a child.
    #[arg(long)]
    same_process: bool,
    /// FILE COMMAND: the encrypted file and the shell command to run.
    #[arg(value_name = "ARGS", num_args = 0..=2)]
    args: Vec<String>,
}

/// `seal exec-env`.
pub fn run(a: ExecEnvArgs) -> Result<(), Failure> {
    let [file, command] = a.args.as_slice() else {
        return Err(Failure::general("give FILE and COMMAND"));
    };
    if a.background {
        eprintln!("seal: exec-env's --background is deprecated in sops and will be removed there");
        if a.same_process {
            return Err(Failure {
                code: exit::CONFLICTING_PARAMETERS,
                message: "--same-process cannot be used with --background".into(),
            });
        }
    }
    let user = a.user.as_deref().map(RunAs::lookup).transpose()?;
    crate::guard::disable_core_dumps();
    let format = format_of(None, file, Format::Yaml)?;
    let bytes = read_input(file)?;
    let ids = a.ids.load()?;
    let (branches, _, _) = open(file, &bytes, format, &ids, DecryptOptions::default())?;
    let root = branches.first().ok_or_else(|| Failure::input(format!("{file}: the file has no document")))?;
    let mut env: Vec<(String, Zeroizing<String>)> = Vec::new();
    for (key, value) in root.pairs() {
        if matches!(value, Value::Map(_) | Value::List(_)) {
            return Err(Failure::general(format!(
                "{file}: cannot use complex value in environment; offending key {key}"
            )));
        }
        if key.contains('=') || key.contains('\0') {
            return Err(Failure::general(format!("{file}: cannot use keys with '=' in environment: {key}")));
        }
        let text = env_text(value);
        if text.contains('\0') {
            return Err(Failure::general(format!("{file}: the value of {key} holds a NUL byte")));
        }
        env.push((key.to_owned(), text));
    }
    drop(branches);

    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg(command);
    if a.pristine {
        cmd.env_clear();
    }
    for (k, v) in &env {
        cmd.env(k, v.as_str());
    }
    if let Some(u) = &user {
        u.apply(&mut cmd);
    }
    if a.same_process {
        // Returns only when exec failed.
        let e = cmd.exec();
        return Err(Failure::general(format!("cannot run /bin/sh: {e}")));
    }
    run_command(cmd, a.background, None)
}

/// A top-level value as sops puts it in the environment (`ValToString`).
fn env_text(v: &Value) -> Zeroizing<String> {
    Zeroizing::new(match v {
        Value::Str(s) => s.as_str().to_owned(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) if f.is_finite() => {
            let g = go_format_g(*f).to_uppercase();
            if g.contains('.') || g.contains('E') { g } else { format!("{g}.0") }
        }
        Value::Float(f) => go_format_g(*f),
        Value::Bool(b) => b.to_string(),
        Value::Time(t) => t.0.clone(),
        // Go's `%v` of nil.
        Value::Null => "<nil>".to_owned(),
        Value::Comment(c) => c.as_str().to_owned(),
        Value::Map(_) | Value::List(_) => String::new(),
    })
}

/// Runs `cmd` with the terminal's stdin, stdout and stderr; seal exits with
/// its status (255 when a signal ended it, as sops does). `guard` learns the
/// child's id, so a signal to seal reaches the command too.
pub fn run_command(mut cmd: Command, background: bool, guard: Option<&crate::guard::Guard>) -> Result<(), Failure> {
    let mut child = cmd.spawn().map_err(|e| Failure::general(format!("cannot run /bin/sh: {e}")))?;
    if background {
        return Ok(());
    }
    if let Some(g) = guard {
        g.editor(Some(child.id()));
    }
    let status = child.wait();
    if let Some(g) = guard {
        g.editor(None);
    }
    let status = status.map_err(|e| Failure::general(format!("waiting for the command: {e}")))?;
    match status.code() {
        Some(0) => Ok(()),
        Some(code) => Err(Failure {
            code: u8::try_from(code).unwrap_or(u8::MAX),
            message: format!("the command exited with status {code}"),
        }),
        None => Err(Failure { code: u8::MAX, message: format!("the command was stopped: {status}") }),
    }
}

/// The user `--user` names, as sops finds it: its entry in /etc/passwd.
pub struct RunAs {
    /// The user id.
    pub uid: u32,
    /// The user's primary group.
    pub gid: u32,
}

impl RunAs {
    /// Looks `name` up (a user name, or a numeric id as Go's `user.Lookup` does not take).
    pub fn lookup(name: &str) -> Result<RunAs, Failure> {
        let passwd = std::fs::read_to_string("/etc/passwd")
            .map_err(|e| Failure::general(format!("--user: cannot read /etc/passwd: {e}")))?;
        passwd
            .lines()
            .filter_map(|l| {
                let mut f = l.split(':');
                let (n, _, uid, gid) = (f.next()?, f.next()?, f.next()?, f.next()?);
                (n == name).then(|| Some(RunAs { uid: uid.parse().ok()?, gid: gid.parse().ok()? })).flatten()
            })
            .next()
            .ok_or_else(|| Failure::general(format!("--user: unknown user {name}")))
    }

    /// Makes `cmd` run as this user and its primary group (sops sets the
    /// group id to the user id). Started by root, the command keeps no
    /// supplementary group: std drops them when the uid changes.
    pub fn apply(&self, cmd: &mut Command) {
        cmd.gid(self.gid).uid(self.uid);
    }
}
