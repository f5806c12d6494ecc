//! `seal edit` and signals: Ctrl-C and Ctrl-\ belong to the editor, a
//! terminating signal removes the plaintext, and the process holding
//! plaintext cannot dump core.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use libtest_mimic::{Failed, Trial};

use crate::support::{CANARY, Sealed, sealed_fixture};
use crate::support::{Run, check, seal_bin};

/// The signal tests.
pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test("edit_signals::sigint_and_sigquit_go_to_the_editor_not_seal", sigint_and_sigquit_go_to_the_editor),
        Trial::test("edit_signals::sigterm_removes_the_plaintext_and_stops_the_editor", || {
            terminated_edit_leaves_nothing("TERM", 15)
        }),
        Trial::test("edit_signals::sighup_removes_the_plaintext_and_stops_the_editor", || {
            terminated_edit_leaves_nothing("HUP", 1)
        }),
    ]
}

struct Editing {
    dir: tempfile::TempDir,
    key: PathBuf,
    file: PathBuf,
    tmp: PathBuf,
    seal: Child,
}

impl Drop for Editing {
    fn drop(&mut self) {
        let _ = self.seal.kill();
        let _ = self.seal.wait();
        // A failed test must not leave its editor running.
        if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("pid")) {
            let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
        }
    }
}

impl Editing {
    /// Takes the CLI tests' SealedSecret (it holds the canary) and starts
    /// `seal edit` on it, in its own process group as a terminal's
    /// foreground job is, with an editor that records the signals it gets
    /// and waits for `go`.
    fn start() -> Result<Editing, Failed> {
        let Sealed { dir, key, file, .. } = sealed_fixture()?;
        let d = dir.path().display().to_string();
        let script = dir.path().join("editor.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\n\
                 trap 'echo INT >> {d}/got' INT\n\
                 trap 'echo QUIT >> {d}/got' QUIT\n\
                 echo $$ > {d}/pid\n\
                 echo \"$1\" > {d}/path.tmp && mv {d}/path.tmp {d}/path\n\
                 while [ ! -e {d}/go ]; do sleep 0.05; done\n\
                 sed -i 's/username: admin/username: operator/' \"$1\"\n"
            ),
        )?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
        }
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp)?;
        let seal = {
            use std::os::unix::process::CommandExt;
            Command::new(seal_bin())
                .args(["edit", &file.display().to_string()])
                .env("SOPS_AGE_KEY_FILE", &key)
                .env("EDITOR", &script)
                .env("TMPDIR", &tmp)
                .stdin(std::process::Stdio::null())
                .process_group(0)
                .spawn()?
        };
        let e = Editing { dir, key, file, tmp, seal };
        e.wait_for(|| e.dir.path().join("path").exists(), "the editor to start")?;
        Ok(e)
    }

    fn wait_for(&self, cond: impl Fn() -> bool, what: &str) -> Result<(), Failed> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cond() {
            if Instant::now() > deadline {
                return Err(format!("timed out waiting for {what}").into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn plaintext_path(&self) -> Result<PathBuf, Failed> {
        Ok(PathBuf::from(std::fs::read_to_string(self.dir.path().join("path"))?.trim()))
    }

    fn signal(&self, sig: &str, target: &str) -> Result<(), Failed> {
        let st = Command::new("kill").args([&format!("-{sig}"), "--", target]).status()?;
        check(st.success(), format!("kill -{sig} {target} failed"))
    }

    fn wait_exit(&mut self) -> Result<std::process::ExitStatus, Failed> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = self.seal.try_wait()? {
                return Ok(st);
            }
            if Instant::now() > deadline {
                return Err("seal edit did not exit".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Every file under `dir`, recursively, searched for the canary.
fn canary_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p).is_ok_and(|b| b.windows(CANARY.len()).any(|w| w == CANARY.as_bytes())) {
                found.push(p);
            }
        }
    }
    found
}

fn sigint_and_sigquit_go_to_the_editor() -> Result<(), Failed> {
    let mut e = Editing::start()?;
    let pid = e.seal.id();
    // No core dumps for the process holding plaintext.
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits"))?;
    let core = limits.lines().find(|l| l.starts_with("Max core file size")).unwrap_or_default();
    check(core.split_whitespace().nth(4) == Some("0"), format!("core dumps must be off: {core:?}"))?;
    // Ctrl-C and Ctrl-\ reach the whole foreground process group.
    e.signal("INT", &format!("-{pid}"))?;
    e.signal("QUIT", &format!("-{pid}"))?;
    let got = e.dir.path().join("got");
    e.wait_for(
        || std::fs::read_to_string(&got).is_ok_and(|g| g.contains("INT") && g.contains("QUIT")),
        "the editor to get SIGINT and SIGQUIT",
    )?;
    std::thread::sleep(Duration::from_millis(200));
    check(e.seal.try_wait()?.is_none(), "seal must keep running while the editor handles SIGINT/SIGQUIT")?;
    check(e.plaintext_path()?.exists(), "the plaintext file must still be there for the editor")?;
    std::fs::write(e.dir.path().join("go"), "")?;
    let st = e.wait_exit()?;
    check(st.success(), format!("seal edit must finish normally after the editor does, got {st}"))?;
    check(canary_files(&e.tmp).is_empty(), "no plaintext may remain in the temporary directory")?;
    let out = Run::seal(["decrypt", &e.file.display().to_string()]).env("SOPS_AGE_KEY_FILE", &e.key).ok()?;
    check(String::from_utf8(out)?.contains("username: operator"), "the edit must be saved")
}

fn terminated_edit_leaves_nothing(sig: &str, number: i32) -> Result<(), Failed> {
    let mut e = Editing::start()?;
    let before = std::fs::read(&e.file)?;
    let plaintext = e.plaintext_path()?;
    check(!canary_files(&e.tmp).is_empty(), "the editor's file holds the plaintext (the test sees it)")?;
    let editor_pid = std::fs::read_to_string(e.dir.path().join("pid"))?.trim().to_owned();
    e.signal(sig, &e.seal.id().to_string())?;
    let st = e.wait_exit()?;
    check(st.code() == Some(128 + number), format!("seal must exit with {} after SIG{sig}, got {st}", 128 + number))?;
    check(!plaintext.exists(), "the plaintext file must be removed")?;
    let left = canary_files(&e.tmp);
    check(left.is_empty(), format!("plaintext remains on disk: {left:?}"))?;
    check(std::fs::read(&e.file)? == before, "the sealed file must be unchanged")?;
    // The editor was told to stop too (it is gone or a zombie awaiting reaping).
    e.wait_for(
        || {
            std::fs::read_to_string(format!("/proc/{editor_pid}/stat"))
                .map_or(true, |s| s.rsplit(')').next().is_some_and(|r| r.trim_start().starts_with('Z')))
        },
        "the editor to stop",
    )
}
