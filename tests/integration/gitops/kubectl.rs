//! docs/gitops.md's claim about `kubectl kustomize` and exec KRM functions,
//! checked against real kubectl binaries: the command in the docs' table is
//! run as written, and each kubectl must do what the table's row for its
//! version says (fail with the quoted error, or render the Secret); kubectl
//! 1.21 and newer must also pass the SealedSecret through without
//! `--enable-exec`, as the docs warn.

use std::path::{Path, PathBuf};

use libtest_mimic::Failed;

use super::{b64, documents, kustomize_app};
use crate::env;
use crate::support::{CANARY, Run, check, repo_root, sealed_fixture, tool};

/// What the docs say one range of kubectl versions does.
struct Row {
    /// Minor versions `first..=last` (`last` None: and newer).
    first: u32,
    last: Option<u32>,
    /// `Some(message)`: the command fails with it; None: it renders.
    fails_with: Option<String>,
}

/// The documented command (the table header's second cell, in backticks)
/// and the table's rows.
fn documented() -> Result<(Vec<String>, Vec<Row>), Failed> {
    let text = std::fs::read_to_string(repo_root().join("docs/gitops.md"))?;
    let mut lines = text.lines().skip_while(|l| !(l.starts_with("| kubectl") && l.contains("`kubectl kustomize")));
    let header = lines.next().ok_or("docs/gitops.md: no `| kubectl … | `kubectl kustomize …` |` table")?;
    let command = between(header.split('|').nth(2).unwrap_or_default(), '`', '`').ok_or("no command in backticks")?;
    let args: Vec<String> = command.split_whitespace().skip(1).map(str::to_owned).collect();
    let mut rows = Vec::new();
    for line in lines.skip(1).take_while(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (Some(versions), Some(outcome)) = (cells.get(1), cells.get(2)) else { continue };
        let minors: Vec<u32> = versions
            .split(|c: char| !c.is_ascii_digit() && c != '.')
            .filter_map(|v| v.strip_prefix("1.")?.parse().ok())
            .collect();
        let first = *minors.first().ok_or(format!("no kubectl version in the row {line:?}"))?;
        let last = if versions.contains("and newer") { None } else { Some(*minors.get(1).unwrap_or(&first)) };
        let fails_with = match outcome.strip_prefix("fails:") {
            Some(rest) => {
                Some(between(rest, '`', '`').ok_or(format!("no quoted error in the row {line:?}"))?.to_owned())
            }
            None if outcome.starts_with("renders") => None,
            None => return Err(format!("the row {line:?} says neither `fails: …` nor `renders`").into()),
        };
        rows.push(Row { first, last, fails_with });
    }
    check(!args.is_empty() && !rows.is_empty(), format!("the table has a command and rows: {header}"))?;
    Ok((args, rows))
}

fn between(s: &str, open: char, close: char) -> Option<&str> {
    let start = s.find(open)? + open.len_utf8();
    let len = s.get(start..)?.find(close)?;
    s.get(start..start + len)
}

/// kubectl's minor version, from `kubectl version --client`.
fn minor_version(kubectl: &Path) -> Result<u32, Failed> {
    let out = String::from_utf8(Run::new(kubectl, ["version", "--client"]).ok()?)?;
    let at = out.find("v1.").ok_or(format!("no version in: {out}"))?;
    let digits: String = out.get(at + 3..).unwrap_or_default().chars().take_while(char::is_ascii_digit).collect();
    Ok(digits.parse().map_err(|_| format!("no minor version in: {out}"))?)
}

/// The test environment's kubectl (v1.20.2, kustomize v2.0.3), and the
/// kubectl on PATH when there is one (a current release).
fn kubectls() -> Vec<PathBuf> {
    let mut all = vec![env::bin_dir().join("kubectl")];
    all.extend(tool("kubectl").ok());
    all
}

pub fn kubectl_kustomize_does_what_the_docs_say() -> Result<(), Failed> {
    let (args, rows) = documented()?;
    let f = sealed_fixture()?;
    let app = kustomize_app(f.dir.path())?;
    std::fs::copy(&f.file, app.join("db.sealed.yaml"))?;
    std::fs::write(
        app.join("kustomization.yaml"),
        "resources:\n- db.sealed.yaml\ntransformers:\n- seal-transformer.yaml\n",
    )?;
    for kubectl in kubectls() {
        let minor = minor_version(&kubectl)?;
        let row = rows
            .iter()
            .find(|r| r.first <= minor && r.last.is_none_or(|l| minor <= l))
            .ok_or(format!("docs/gitops.md's table has no row for kubectl 1.{minor}"))?;
        let out = Run::new(&kubectl, &args).dir(&app).env("SOPS_AGE_KEY_FILE", &f.key).output()?;
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let what = format!("kubectl 1.{minor} {}: {}\n{stderr}{stdout}", args.join(" "), out.status);
        match &row.fails_with {
            Some(message) => check(
                !out.status.success() && stderr.contains(message.as_str()) && !stdout.contains("kind:"),
                format!("the docs say it fails with `{message}`: {what}"),
            )?,
            None => {
                let docs = documents(&stdout);
                check(
                    out.status.success()
                        && docs.iter().any(|d| d.contains("kind: Secret") && d.contains(&b64(CANARY)))
                        && !stdout.contains("sops:"),
                    format!("the docs say it renders the Secret: {}", what.replace(&b64(CANARY), "CANARY")),
                )?
            }
        }
        if minor >= 21 {
            silently_skipped(&kubectl, minor, &app, &f.key)?;
        }
    }
    Ok(())
}

/// The docs' warning: without `--enable-exec`, kubectl 1.21 and newer run
/// no exec function and print the SealedSecret as it is, with exit 0.
fn silently_skipped(kubectl: &Path, minor: u32, app: &Path, key: &Path) -> Result<(), Failed> {
    let docs = std::fs::read_to_string(repo_root().join("docs/gitops.md"))?;
    check(
        docs.contains("`kubectl kustomize --enable-alpha-plugins .` succeeds"),
        "docs/gitops.md warns that kubectl without --enable-exec succeeds",
    )?;
    let out = Run::new(kubectl, ["kustomize", "--enable-alpha-plugins", "."])
        .dir(app)
        .env("SOPS_AGE_KEY_FILE", key)
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    check(
        out.status.success() && stdout.contains("kind: SealedSecret") && !stdout.contains(&b64(CANARY)),
        format!(
            "kubectl 1.{minor} kustomize --enable-alpha-plugins . passes the SealedSecret through unrendered: {}\n{}{stdout}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}
