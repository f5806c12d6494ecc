//! sops' own functional test suite, ported: every test of getsops/sops
//! `functional-tests/src/lib.rs` (v3.13.2, commit 15e36f97a) that is about
//! files and keys seal implements, run against the real `sops` and against
//! `seal` in the same test run — `sops_functional::sops::NAME` proves the
//! port against the tool it copies, `sops_functional::seal::NAME` holds seal
//! to it. The case names, commands, inputs and assertions are sops'; the
//! code is ours.
//!
//! sops' suite wraps its data keys to a PGP test key. The port puts an age
//! key in each PGP key's role (`tests/data/sops-functional/`: `k1` for
//! FBC7…, `k2` for D722…, `k3` — whose identity the suite does not hold —
//! for B611…), in `.sops.yaml` and in the fixtures (re-keyed by `rekey.py`
//! there: same ciphertexts, MAC and layout, only the key entry changed).
//! `destination_rules` are left out of `.sops.yaml`: only `publish` reads
//! them.
//!
//! Out of scope, not registered ([`OUT_OF_SCOPE`]): the tests that need
//! AWS KMS, S3 or a Vault KV destination.

mod cases;

use std::path::{Path, PathBuf};
use std::process::Output;

use libtest_mimic::{Failed, Trial};
use serde_yaml::Value;

use crate::support::{Run, repo_root, seal_bin, tool};

/// sops' tests that are not about files and age-capable keys, with why.
pub const OUT_OF_SCOPE: &[(&str, &str)] = &[
    ("publish_json_file_s3", "`sops publish` to S3: a cloud service, not a file format (ignored in sops' own CI too)"),
    (
        "publish_json_file_vault",
        "`sops publish` to a Vault KV path: seal has no `publish`; PushSecret is its way to a store",
    ),
    ("publish_json_file_vault_version_1", "as publish_json_file_vault, KV version 1"),
    ("encrypt_json_file_kms", "AWS KMS master keys: seal implements age only (ignored in sops' own CI too)"),
    (
        "roundtrip_kms_encryption_context",
        "AWS KMS encryption context: seal implements age only (ignored in sops' own CI too)",
    ),
];

/// The binary a case runs.
#[derive(Clone, Copy)]
pub enum Tool {
    /// The real sops (3.11 on CI).
    Sops,
    /// The `seal` binary under test, called by its own name.
    Seal,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Sops => "sops",
            Tool::Seal => "seal",
        }
    }
}

/// The cases seal does not pass yet (docs/sops-compatibility.md says why).
/// Each runs as `sops_functional::seal_not_yet::NAME`, which fails as soon
/// as seal passes the case, so this list only shrinks and never hides a
/// regression of a case not on it.
pub const NOT_YET: &[&str] = &[];

/// Every ported case, registered once per tool.
pub fn trials() -> Vec<Trial> {
    let mut trials = Vec::new();
    for tool in [Tool::Sops, Tool::Seal] {
        for &(name, case) in cases::CASES {
            if matches!(tool, Tool::Seal) && NOT_YET.contains(&name) {
                trials.push(Trial::test(format!("sops_functional::seal_not_yet::{name}"), move || {
                    match case(&Suite::new(Tool::Seal)?) {
                        Ok(()) => Err(format!("seal passes {name} now: take it off NOT_YET").into()),
                        Err(_) => Ok(()),
                    }
                }));
                continue;
            }
            trials.push(Trial::test(format!("sops_functional::{}::{name}", tool.name()), move || {
                case(&Suite::new(tool)?)
            }));
        }
    }
    trials.push(Trial::test("sops_functional::all_of_sops_suite_is_accounted_for", all_of_sops_suite_is_accounted_for));
    trials
}

/// Every test of sops' suite is either a case here or out of scope.
pub fn all_of_sops_suite_is_accounted_for() -> Result<(), Failed> {
    let count = cases::CASES.len() + OUT_OF_SCOPE.len();
    ensure(count == 41, format!("sops v3.13.2's functional suite has 41 tests; ported + out of scope = {count}"))?;
    let unknown: Vec<_> = NOT_YET.iter().filter(|n| !cases::CASES.iter().any(|(c, _)| c == *n)).collect();
    ensure(unknown.is_empty(), format!("NOT_YET names cases that do not exist: {unknown:?}"))
}

/// What sops' suite has around each test: its working folder (with
/// `.sops.yaml` and `res/`), where temporary files go, and the identities
/// it holds.
pub struct Suite {
    tool: Tool,
    dir: tempfile::TempDir,
    keys: PathBuf,
}

fn data() -> PathBuf {
    repo_root().join("tests/data/sops-functional")
}

fn recipient(key: &str) -> Result<String, Failed> {
    let text = std::fs::read_to_string(data().join(format!("{key}.key")))?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .ok_or_else(|| format!("{key}.key has no public key line"))?
        .to_owned())
}

impl Suite {
    fn new(tool: Tool) -> Result<Suite, Failed> {
        let dir = tempfile::Builder::new().prefix("sops-functional-tests").tempdir()?;
        let res = dir.path().join("res");
        std::fs::create_dir(&res)?;
        for entry in std::fs::read_dir(data().join("res"))? {
            let entry = entry?;
            std::fs::copy(entry.path(), res.join(entry.file_name()))?;
        }
        let (k1, k2, k3) = (recipient("k1")?, recipient("k2")?, recipient("k3")?);
        // sops' functional-tests/.sops.yaml with age keys in the PGP keys' roles.
        let config = format!(
            "creation_rules:
    - path_regex: test_roundtrip_keygroups.yaml
      key_groups:
      - age:
        - {k1}
      - age:
        - {k2}
    - path_regex: test_roundtrip_keygroups_missing_decryption_key.yaml
      key_groups:
      - age:
        - {k1}
      - age:
        - {k3}
    - path_regex: test_no_keygroups.yaml
    - path_regex: test_zero_keygroups.yaml
      key_groups: []
    - path_regex: test_empty_keygroup.yaml
      key_groups:
        - {{}}
    - age: {k1}
"
        );
        std::fs::write(dir.path().join(".sops.yaml"), config)?;
        let keys = dir.path().join("keys.txt");
        let held = std::fs::read_to_string(data().join("k1.key"))? + &std::fs::read_to_string(data().join("k2.key"))?;
        std::fs::write(&keys, held)?;
        Ok(Suite { tool, dir, keys })
    }

    /// sops' `prepare_temp_file`: a file in the suite's folder, by path.
    fn prepare_temp_file(&self, name: &str, contents: &[u8]) -> Result<String, Failed> {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents)?;
        Ok(path.display().to_string())
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `sops ARGS` (or `seal ARGS`), run in the suite's folder.
    fn cmd<I, S>(&self, args: I) -> Result<Run, Failed>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let program = match self.tool {
            Tool::Sops => tool("sops")?,
            Tool::Seal => seal_bin(),
        };
        Ok(Run::new(program, args).dir(self.dir.path()).env("SOPS_AGE_KEY_FILE", &self.keys))
    }

    /// Runs; the output whatever the exit status.
    fn run<I, S>(&self, args: I) -> Result<Output, Failed>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd(args)?.output()
    }

    /// Runs, requiring success (sops' `assert!(output.status.success())`).
    fn ok<I, S>(&self, args: I) -> Result<Output, Failed>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let out = self.run(args)?;
        success(&out, "didn't exit successfully")?;
        Ok(out)
    }
}

fn success(out: &Output, what: &str) -> Result<(), Failed> {
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what} ({}); stdout: {}, stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
    .into())
}

fn fails(out: &Output, what: &str) -> Result<(), Failed> {
    if out.status.success() { Err(what.to_owned().into()) } else { Ok(()) }
}

fn ensure(cond: bool, what: impl std::fmt::Display) -> Result<(), Failed> {
    if cond { Ok(()) } else { Err(what.to_string().into()) }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn read(path: impl AsRef<Path>) -> Result<String, Failed> {
    Ok(std::fs::read_to_string(path)?)
}

/// sops' `serde_json::from_str` into a `serde_yaml::Value`.
fn json(text: &str) -> Result<Value, Failed> {
    serde_json::from_str(text).map_err(|e| format!("Error parsing JSON output: {e}\n{text}").into())
}

fn yaml(text: &str) -> Result<Value, Failed> {
    serde_yaml::from_str(text).map_err(|e| format!("Error parsing YAML output: {e}\n{text}").into())
}

/// sops' `assert_encrypted!`: the key is there and its value an `ENC[…]` string.
fn assert_encrypted(map: &Value, key: &str) -> Result<(), Failed> {
    match map.get(key) {
        Some(Value::String(s)) if s.starts_with("ENC[") => Ok(()),
        Some(Value::String(_)) => Err(format!("Value under {key} is not encrypted").into()),
        Some(_) => Err(format!("Value under {key} was not a string").into()),
        None => Err(format!("{key} not found").into()),
    }
}

/// The top-level checks of sops' encrypt tests: a `sops` branch, `foo` and
/// `bar` encrypted.
fn assert_foo_bar_encrypted(data: &Value) -> Result<(), Failed> {
    ensure(data.is_mapping(), "sops's output is not a mapping")?;
    ensure(data.get("sops").is_some(), "sops metadata branch not found")?;
    assert_encrypted(data, "foo")?;
    assert_encrypted(data, "bar")
}
