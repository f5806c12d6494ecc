//! The `seal` CLI against the real `sops` 3.11 and `age` binaries: both
//! directions of interoperability on generated documents, the shared
//! vectors, SealedSecrets, editing, and tampering.

use std::path::Path;

use libtest_mimic::{Failed, Trial};

use crate::support::{CANARY, Run, Sealed, age_keygen, assert_absent, check, seal_bin, sealed_fixture, tool, vectors};

mod shamir;

/// Every CLI test.
pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test("cli::vectors_decrypt_to_their_sops_twins", vectors_decrypt_to_their_sops_twins),
        Trial::test("cli::seal_encrypts_sops_decrypts_generated_documents", seal_encrypts_sops_decrypts),
        Trial::test("cli::sops_encrypts_seal_decrypts_generated_documents", sops_encrypts_seal_decrypts),
        Trial::test("cli::age_binary_opens_the_data_key_seal_wrapped", age_binary_opens_data_key),
        Trial::test("cli::sealed_secret_decrypts_with_sops", sealed_secret_decrypts_with_sops),
        Trial::test("cli::sealed_secret_changed_by_sops_set_still_verifies", sealed_secret_sops_set_verifies),
        Trial::test("cli::sealed_secret_changed_by_sops_edit_still_verifies", sealed_secret_sops_edit_verifies),
        Trial::test("cli::edit_changes_only_the_edited_value_and_removes_plaintext", edit_changes_only_edited_value),
        Trial::test("cli::merge_into_keeps_unchanged_ciphertexts", merge_into_keeps_unchanged_ciphertexts),
        Trial::test("cli::verify_rejects_scope_and_order_problems", verify_rejects_scope_and_order),
        Trial::test("cli::updatekeys_adds_a_recipient_without_touching_values", updatekeys_adds_recipient),
        Trial::test("cli::rotate_changes_the_data_key_and_keeps_values", rotate_changes_data_key),
        Trial::test("cli::tamper_flipped_ciphertext_byte", tamper_flipped_byte),
        Trial::test("cli::tamper_swapped_values", tamper_swapped_values),
        Trial::test("cli::tamper_edited_mac", tamper_edited_mac),
        Trial::test("cli::tamper_changed_lastmodified", tamper_changed_lastmodified),
        Trial::test("cli::tamper_wrong_key", tamper_wrong_key),
        Trial::test("cli::tamper_truncated_armor", tamper_truncated_armor),
        Trial::test("cli::tamper_malformed_yaml", tamper_malformed_yaml),
        Trial::test("cli::sops_yaml_creation_rules_are_honoured", sops_yaml_rules),
        Trial::test(
            "cli::sops_yaml_shamir_threshold_out_of_range_is_refused_with_exit_3",
            shamir::shamir_threshold_out_of_range_is_refused,
        ),
        Trial::test(
            "cli::sops_yaml_key_groups_seal_cannot_fill_are_refused",
            shamir::key_groups_seal_cannot_fill_are_refused,
        ),
        Trial::test("cli::keygen_writes_a_private_identity_file", keygen_private_file),
        Trial::test("cli::flux_style_sops_secret_converts_to_a_sealed_secret", flux_secret_converts),
        Trial::test("cli::hostile_files_are_refused_with_exit_3_and_the_limit", hostile_files_refused),
    ]
}

// ---------------------------------------------------------------------------
// Generated documents

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
    fn key(&mut self, taken: &mut Vec<String>) -> String {
        loop {
            let stems =
                ["user", "password", "db", "api", "token", "host", "port", "tls.crt", "app-name", "x_y", "Ключ", "鍵"];
            let k = format!("{}{}", self.pick(&stems), self.below(1000));
            if !taken.contains(&k) {
                taken.push(k.clone());
                return k;
            }
        }
    }
    fn text(&mut self) -> String {
        let pieces = [
            "alpha",
            "s3cr3t",
            "héllo",
            "wörld ✓",
            "日本語",
            "🔐",
            "a=b",
            "x:y",
            "#hash",
            "quote\"d",
            "back\\slash",
            "tab\there",
            " ",
        ];
        let n = 1 + self.below(4);
        (0..n).map(|_| self.pick(&pieces)).collect::<Vec<_>>().join("")
    }
    fn float(&mut self) -> f64 {
        let whole = self.below(100_000) as f64;
        let frac = (1 + self.below(999)) as f64 / 1000.0;
        if self.below(2) == 0 { whole + frac } else { -(whole + frac) }
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn yaml_scalar(g: &mut Gen, indent: usize) -> String {
    match g.below(9) {
        0 => (g.next() as i64 >> 12).to_string(),
        1 => format!("{}", g.float()),
        2 => g.pick(&["true", "false"]).to_owned(),
        3 => g.pick(&["null", "~"]).to_owned(),
        4 => "\"\"".to_owned(),
        5 => {
            let pad = " ".repeat(indent + 2);
            format!("|\n{pad}{}\n{pad}{}", g.text().trim(), g.pick(&["second line", "x y z"]))
        }
        _ => json_string(&g.text()),
    }
}

fn yaml_map(g: &mut Gen, indent: usize, depth: usize, out: &mut String) {
    let mut taken = Vec::new();
    let pad = " ".repeat(indent);
    for _ in 0..(1 + g.below(5)) {
        if g.below(6) == 0 {
            out.push_str(&format!("{pad}# comment {}\n", g.below(100)));
        }
        let k = g.key(&mut taken);
        match (g.below(6), depth < 3) {
            (0, true) => {
                out.push_str(&format!("{pad}{k}:\n"));
                yaml_map(g, indent + 2, depth + 1, out);
            }
            (1, true) => {
                out.push_str(&format!("{pad}{k}:\n"));
                for _ in 0..(1 + g.below(3)) {
                    if g.below(3) == 0 {
                        out.push_str(&format!("{pad}  - nested: {}\n", json_string(&g.text())));
                    } else {
                        out.push_str(&format!("{pad}  - {}\n", yaml_scalar(g, indent + 2)));
                    }
                }
            }
            _ => out.push_str(&format!("{pad}{k}: {}\n", yaml_scalar(g, indent))),
        }
    }
}

fn gen_yaml(seed: u64) -> String {
    let mut g = Gen(seed);
    let mut out = String::new();
    yaml_map(&mut g, 0, 0, &mut out);
    out
}

fn json_value(g: &mut Gen, depth: usize) -> serde_json::Value {
    use serde_json::Value as J;
    match (g.below(8), depth < 3) {
        (0, true) => {
            let mut m = serde_json::Map::new();
            let mut taken = Vec::new();
            for _ in 0..(1 + g.below(4)) {
                m.insert(g.key(&mut taken), json_value(g, depth + 1));
            }
            J::Object(m)
        }
        (1, true) => J::Array((0..g.below(4)).map(|_| json_value(g, depth + 1)).collect()),
        (2, _) => J::from((g.next() >> 12) as i64 % 9_007_199_254_740_000),
        (3, _) => J::from(g.float()),
        (4, _) => J::Bool(g.below(2) == 0),
        (5, _) => J::Null,
        (6, _) => J::String(String::new()),
        _ => J::String(g.text() + if g.below(3) == 0 { "\nline two" } else { "" }),
    }
}

fn gen_json(seed: u64) -> String {
    let mut g = Gen(seed);
    let mut m = serde_json::Map::new();
    let mut taken = Vec::new();
    for _ in 0..(1 + g.below(6)) {
        m.insert(g.key(&mut taken), json_value(&mut g, 1));
    }
    serde_json::to_string_pretty(&serde_json::Value::Object(m)).unwrap_or_default() + "\n"
}

fn gen_dotenv(seed: u64) -> String {
    let mut g = Gen(seed);
    let mut out = String::new();
    for i in 0..(1 + g.below(8)) {
        if g.below(4) == 0 {
            out.push_str(&format!("# note {i}\n"));
        }
        let v = match g.below(4) {
            0 => String::new(),
            1 => format!("{}\\n{}", g.text(), g.text()),
            _ => g.text(),
        };
        out.push_str(&format!("KEY_{i}_{}={}\n", g.below(100), v.replace('\n', "")));
    }
    out
}

fn gen_binary(seed: u64) -> String {
    let mut g = Gen(seed);
    (0..(1 + g.below(6))).map(|_| g.text()).collect::<Vec<_>>().join("\n")
}

const SEEDS: std::ops::Range<u64> = 1..13;

fn generated(dir: &Path) -> Result<Vec<std::path::PathBuf>, Failed> {
    let mut files = Vec::new();
    for seed in SEEDS {
        let s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        for (ext, text) in
            [("yaml", gen_yaml(s)), ("json", gen_json(s)), ("env", gen_dotenv(s)), ("bin", gen_binary(s))]
        {
            let p = dir.join(format!("doc{seed}.{ext}"));
            std::fs::write(&p, text)?;
            files.push(p);
        }
    }
    Ok(files)
}

fn sops_cmd<I, S>(args: I) -> Result<Run, Failed>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Ok(Run::new(tool("sops")?, args))
}

fn seal_encrypts_sops_decrypts() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let (key, recipient) = age_keygen(dir.path(), "k")?;
    for plain in generated(dir.path())? {
        let p = plain.display().to_string();
        let ext = p.rsplit('.').next().unwrap_or_default().to_owned();
        let sealed = Run::seal(["encrypt", "--age", &recipient, &p]).ok()?;
        let sealed_path = dir.path().join(format!("seal-enc.{ext}"));
        std::fs::write(&sealed_path, &sealed)?;
        let by_sops = sops_cmd(["-d", &sealed_path.display().to_string()])?.env("SOPS_AGE_KEY_FILE", &key).ok()?;
        // The reference: the same plaintext through sops both ways.
        let sops_enc = sops_cmd(["-e", "--age", &recipient, &p])?.ok()?;
        let sops_path = dir.path().join(format!("sops-enc.{ext}"));
        std::fs::write(&sops_path, &sops_enc)?;
        let reference = sops_cmd(["-d", &sops_path.display().to_string()])?.env("SOPS_AGE_KEY_FILE", &key).ok()?;
        check(
            by_sops == reference,
            format!(
                "{p}: sops -d of seal's file differs from sops' own round trip:\n--- seal→sops\n{}\n--- sops→sops\n{}",
                String::from_utf8_lossy(&by_sops),
                String::from_utf8_lossy(&reference)
            ),
        )?;
    }
    Ok(())
}

fn sops_encrypts_seal_decrypts() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let (key, recipient) = age_keygen(dir.path(), "k")?;
    for plain in generated(dir.path())? {
        let p = plain.display().to_string();
        let ext = p.rsplit('.').next().unwrap_or_default().to_owned();
        let enc = sops_cmd(["-e", "--age", &recipient, &p])?.ok()?;
        let enc_path = dir.path().join(format!("enc.{ext}"));
        std::fs::write(&enc_path, &enc)?;
        let e = enc_path.display().to_string();
        let by_seal = Run::seal(["decrypt", &e]).env("SOPS_AGE_KEY_FILE", &key).ok()?;
        let by_sops = sops_cmd(["-d", &e])?.env("SOPS_AGE_KEY_FILE", &key).ok()?;
        check(
            by_seal == by_sops,
            format!(
                "{p}: seal decrypt differs from sops -d:\n--- seal\n{}\n--- sops\n{}",
                String::from_utf8_lossy(&by_seal),
                String::from_utf8_lossy(&by_sops)
            ),
        )?;
    }
    Ok(())
}

fn vectors_decrypt_to_their_sops_twins() -> Result<(), Failed> {
    let v = vectors();
    let key = v.join("keys/age1.txt");
    let key2 = v.join("keys/age2.txt");
    let mut n = 0;
    for entry in std::fs::read_dir(v.join("enc"))? {
        let path = entry?.path();
        let name = path.file_name().ok_or("no name")?.to_owned();
        let expected = std::fs::read(v.join("dec").join(&name))?;
        let got = Run::seal([path.as_os_str()]).output();
        drop(got);
        let got = Run::new(seal_bin(), ["decrypt".as_ref(), path.as_os_str()]).env("SOPS_AGE_KEY_FILE", &key).ok()?;
        check(got == expected, format!("{}: output differs from dec/ twin", path.display()))?;
        n += 1;
        if name.to_string_lossy().contains("2recipients") {
            let got2 =
                Run::new(seal_bin(), ["decrypt".as_ref(), path.as_os_str()]).env("SOPS_AGE_KEY_FILE", &key2).ok()?;
            check(got2 == expected, "the second recipient's key must decrypt too")?;
        }
    }
    check(n >= 11, format!("expected at least 11 vectors, found {n}"))
}

fn age_binary_opens_data_key() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let (key, recipient) = age_keygen(dir.path(), "k")?;
    let plain = dir.path().join("p.yaml");
    std::fs::write(&plain, "a: b\n")?;
    let enc = String::from_utf8(Run::seal(["encrypt", "--age", &recipient, &plain.display().to_string()]).ok()?)?;
    let start = enc.find("-----BEGIN AGE ENCRYPTED FILE-----").ok_or("no armor")?;
    let end =
        enc.find("-----END AGE ENCRYPTED FILE-----").ok_or("no armor end")? + "-----END AGE ENCRYPTED FILE-----".len();
    let armor: String = enc[start..end].lines().map(|l| l.trim().to_owned() + "\n").collect();
    let out = Run::new(tool("age")?, ["-d".as_ref(), "-i".as_ref(), key.as_os_str()]).stdin(armor).ok()?;
    check(out.len() == 32, format!("age -d gave {} bytes, expected the 32-byte data key", out.len()))
}

// ---------------------------------------------------------------------------
// SealedSecrets

fn sealed_secret_decrypts_with_sops() -> Result<(), Failed> {
    let s = sealed_fixture()?;
    let text = std::fs::read_to_string(&s.file)?;
    assert_absent(text.as_bytes(), CANARY, "the sealed file")?;
    for needle in ["encrypted_regex: ^(data|stringData|scope)$", "mac_only_encrypted: true", "kind: SealedSecret"] {
        check(text.contains(needle), format!("the SealedSecret lacks {needle:?}"))?;
    }
    let out = sops_cmd(["-d", &s.file.display().to_string()])?.env("SOPS_AGE_KEY_FILE", &s.key).ok()?;
    let out = String::from_utf8(out)?;
    check(out.contains(&format!("password: {CANARY}")), "sops -d must show the password")?;
    check(out.contains("scope: prod/db"), "sops -d must show the strict scope")?;
    let host = out.find("host:").ok_or("no host")?;
    let pw = out.find("password:").ok_or("no password")?;
    let user = out.find("username:").ok_or("no username")?;
    check(host < pw && pw < user, "stringData keys must be in sorted order")
}

fn verify_ok(s: &Sealed) -> Result<String, Failed> {
    let out = Run::seal(["verify", &s.file.display().to_string()]).env("SOPS_AGE_KEY_FILE", &s.key).ok()?;
    let out = String::from_utf8(out)?;
    check(out.contains("MAC verified") && out.contains("scope prod/db"), format!("verify said: {out}"))?;
    Ok(out)
}

fn sealed_secret_sops_set_verifies() -> Result<(), Failed> {
    let s = sealed_fixture()?;
    sops_cmd(["set", &s.file.display().to_string(), "[\"spec\"][\"stringData\"][\"username\"]", "\"root\""])?
        .env("SOPS_AGE_KEY_FILE", &s.key)
        .ok()?;
    verify_ok(&s)?;
    let out =
        Run::seal(["decrypt", "--extract", "[\"spec\"][\"stringData\"][\"username\"]", &s.file.display().to_string()])
            .env("SOPS_AGE_KEY_FILE", &s.key)
            .ok()?;
    check(out == b"root", format!("extract gave {:?}", String::from_utf8_lossy(&out)))
}

fn sealed_secret_sops_edit_verifies() -> Result<(), Failed> {
    let s = sealed_fixture()?;
    let script = s.dir.path().join("ed.sh");
    std::fs::write(&script, "#!/bin/sh\nsed -i 's/username: admin/username: operator/' \"$1\"\n")?;
    make_executable(&script)?;
    sops_cmd(["edit", &s.file.display().to_string()])?.env("SOPS_AGE_KEY_FILE", &s.key).env("EDITOR", &script).ok()?;
    verify_ok(&s)?;
    let out = Run::seal(["decrypt", &s.file.display().to_string()]).env("SOPS_AGE_KEY_FILE", &s.key).ok()?;
    check(String::from_utf8(out)?.contains("username: operator"), "the sops edit must be visible to seal")
}

fn make_executable(p: &Path) -> Result<(), Failed> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// Lines that differ between two texts (same line count assumed).
fn changed_lines(a: &str, b: &str) -> Vec<String> {
    let (la, lb): (Vec<_>, Vec<_>) = (a.lines().collect(), b.lines().collect());
    let mut out: Vec<String> =
        la.iter().zip(lb.iter()).filter(|(x, y)| x != y).map(|(_, y)| y.trim().to_owned()).collect();
    if la.len() != lb.len() {
        out.push(format!("line count {} -> {}", la.len(), lb.len()));
    }
    out
}

/// The changed lines are the edited value and the MAC, plus `lastmodified`
/// when the clock moved on to another second.
fn only_changed(changed: &[String], value: &str) -> bool {
    changed.iter().any(|l| l.starts_with(value))
        && changed.iter().any(|l| l.starts_with("mac: ENC["))
        && changed.iter().all(|l| l.starts_with(value) || l.starts_with("mac: ENC[") || l.starts_with("lastmodified:"))
}

fn edit_changes_only_edited_value() -> Result<(), Failed> {
    let s = sealed_fixture()?;
    let before = std::fs::read_to_string(&s.file)?;
    let script = s.dir.path().join("ed.sh");
    let seen = s.dir.path().join("seen");
    // The editor records the file's mode and location, then changes one value.
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nstat -c %a \"$1\" > {seen}\ndirname \"$1\" >> {seen}\nsed -i 's/username: admin/username: operator/' \"$1\"\n",
            seen = seen.display()
        ),
    )?;
    make_executable(&script)?;
    let tmp = s.dir.path().join("tmp");
    std::fs::create_dir(&tmp)?;
    let out = Run::seal(["edit", &s.file.display().to_string()])
        .env("SOPS_AGE_KEY_FILE", &s.key)
        .env("EDITOR", &script)
        .env("TMPDIR", &tmp)
        .output()?;
    check(out.status.success(), format!("seal edit failed: {}", String::from_utf8_lossy(&out.stderr)))?;
    assert_absent(&out.stdout, CANARY, "seal edit's stdout")?;
    assert_absent(&out.stderr, CANARY, "seal edit's stderr")?;
    let seen = std::fs::read_to_string(&seen)?;
    check(seen.starts_with("600\n"), format!("the plaintext file must be mode 0600, editor saw {seen:?}"))?;
    check(std::fs::read_dir(&tmp)?.next().is_none(), "the private temporary directory must be removed")?;
    let after = std::fs::read_to_string(&s.file)?;
    let changed = changed_lines(&before, &after);
    check(
        only_changed(&changed, "username: ENC["),
        format!("expected only the value, lastmodified and mac to change, got {changed:?}"),
    )?;
    verify_ok(&s)?;
    // An editor that changes nothing leaves the file byte for byte.
    let noop = s.dir.path().join("noop.sh");
    std::fs::write(&noop, "#!/bin/sh\nexit 0\n")?;
    make_executable(&noop)?;
    Run::seal(["edit", &s.file.display().to_string()]).env("SOPS_AGE_KEY_FILE", &s.key).env("EDITOR", &noop).ok()?;
    check(std::fs::read_to_string(&s.file)? == after, "an unchanged edit must not rewrite the file")
}

fn merge_into_keeps_unchanged_ciphertexts() -> Result<(), Failed> {
    let s = sealed_fixture()?;
    let before = std::fs::read_to_string(&s.file)?;
    Run::seal(["secret", "--from-literal", "host=db2.prod.svc", "--merge-into", &s.file.display().to_string()])
        .env("SOPS_AGE_KEY_FILE", &s.key)
        .ok()?;
    let after = std::fs::read_to_string(&s.file)?;
    let changed = changed_lines(&before, &after);
    check(
        only_changed(&changed, "host: ENC["),
        format!("expected only host, lastmodified and mac to change, got {changed:?}"),
    )?;
    verify_ok(&s)?;
    // Without a key, merging is refused with advice, and the file is untouched.
    let (code, _, err) =
        Run::seal(["secret", "--from-literal", "host=x", "--merge-into", &s.file.display().to_string()]).fails()?;
    check(code == 4 && err.contains("without --merge-into"), format!("exit {code}: {err}"))?;
    check(std::fs::read_to_string(&s.file)? == after, "a refused merge must not change the file")
}

fn verify_rejects_scope_and_order() -> Result<(), Failed> {
    let s = sealed_fixture()?;
    verify_ok(&s)?;
    let text = std::fs::read_to_string(&s.file)?;
    // Copied into another namespace: the encrypted scope no longer matches.
    let moved = s.dir.path().join("moved.yaml");
    std::fs::write(&moved, text.replace("namespace: prod", "namespace: staging"))?;
    let (code, out, _) =
        Run::seal(["verify", &moved.display().to_string()]).env("SOPS_AGE_KEY_FILE", &s.key).fails()?;
    check(code == 6 && out.contains("scope mismatch") && out.contains("prod/db"), format!("exit {code}: {out}"))?;
    // The same copy renamed (kind and apiVersion are clear text outside the
    // MAC): still checked as a SealedSecret, still refused.
    for head in ["apiVersion: v1\nkind: ConfigMap\n", "apiVersion: example.com/v1\nkind: Whatever\n"] {
        let renamed = s.dir.path().join("renamed.yaml");
        let text = text.replacen("apiVersion: seal.dev/v1alpha1\nkind: SealedSecret\n", head, 1);
        std::fs::write(&renamed, text.replace("namespace: prod", "namespace: staging"))?;
        let (code, out, _) =
            Run::seal(["verify", &renamed.display().to_string()]).env("SOPS_AGE_KEY_FILE", &s.key).fails()?;
        check(code == 6 && out.contains("scope mismatch"), format!("renamed to {head:?}: exit {code}: {out}"))?;
    }
    // stringData keys out of order: the MAC would fail after the API server sorts them.
    let lines: Vec<&str> = text.lines().collect();
    let host = lines.iter().position(|l| l.trim_start().starts_with("host:")).ok_or("no host")?;
    let pw = lines.iter().position(|l| l.trim_start().starts_with("password:")).ok_or("no pw")?;
    let mut swapped = lines.clone();
    swapped.swap(host, pw);
    let unsorted = s.dir.path().join("unsorted.yaml");
    std::fs::write(&unsorted, swapped.join("\n") + "\n")?;
    let (code, out, _) = Run::seal(["verify", &unsorted.display().to_string()]).fails()?;
    check(code == 6 && out.contains("sorted order"), format!("exit {code}: {out}"))?;
    let _ = s.recipient;
    Ok(())
}

fn updatekeys_adds_recipient() -> Result<(), Failed> {
    let s = sealed_fixture()?;
    let (key2, r2) = age_keygen(s.dir.path(), "k2")?;
    let before = std::fs::read_to_string(&s.file)?;
    Run::seal(["updatekeys", "-y", "--age", &format!("{},{r2}", s.recipient), &s.file.display().to_string()])
        .env("SOPS_AGE_KEY_FILE", &s.key)
        .ok()?;
    let after = std::fs::read_to_string(&s.file)?;
    let spec = |t: &str| t.split("sops:").next().unwrap_or_default().to_owned();
    check(spec(&before) == spec(&after), "updatekeys must not change any value")?;
    check(after.contains(&r2), "the new recipient must be listed")?;
    let out = sops_cmd(["-d", &s.file.display().to_string()])?.env("SOPS_AGE_KEY_FILE", &key2).ok()?;
    check(String::from_utf8(out)?.contains(CANARY), "the new recipient's key must decrypt with sops")
}

fn rotate_changes_data_key() -> Result<(), Failed> {
    let s = sealed_fixture()?;
    let before = std::fs::read_to_string(&s.file)?;
    Run::seal(["rotate", "-i", &s.file.display().to_string()]).env("SOPS_AGE_KEY_FILE", &s.key).ok()?;
    let after = std::fs::read_to_string(&s.file)?;
    let enc_lines = |t: &str| t.lines().filter(|l| l.contains("ENC[")).map(str::to_owned).collect::<Vec<_>>();
    let (b, a) = (enc_lines(&before), enc_lines(&after));
    check(b.len() == a.len() && b.iter().zip(&a).all(|(x, y)| x != y), "every ciphertext must change")?;
    verify_ok(&s)?;
    let out = sops_cmd(["-d", &s.file.display().to_string()])?.env("SOPS_AGE_KEY_FILE", &s.key).ok()?;
    check(String::from_utf8(out)?.contains(CANARY), "values must survive rotation")
}

// ---------------------------------------------------------------------------
// Tampering: each case fails with a precise reason and never prints plaintext.

fn tampered(edit: impl FnOnce(&str) -> String) -> Result<(Sealed, std::path::PathBuf), Failed> {
    let s = sealed_fixture()?;
    let text = std::fs::read_to_string(&s.file)?;
    let bad = s.dir.path().join("bad.yaml");
    std::fs::write(&bad, edit(&text))?;
    Ok((s, bad))
}

fn expect_failure(s: &Sealed, bad: &Path, code: i32, needles: &[&str]) -> Result<(), Failed> {
    for args in [vec!["decrypt", "--identity"], vec!["verify", "--identity"]] {
        let mut a: Vec<String> = args.iter().map(|x| x.to_string()).collect();
        a.push(s.key.display().to_string());
        a.push(bad.display().to_string());
        let out = Run::seal(&a).output()?;
        check(!out.status.success(), format!("seal {} accepted a tampered file", args[0]))?;
        assert_absent(&out.stdout, CANARY, "stdout")?;
        assert_absent(&out.stderr, CANARY, "stderr")?;
        let all = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        for n in needles {
            check(all.contains(n), format!("seal {}: expected {n:?} in the message, got: {all}", args[0]))?;
        }
        if args[0] == "decrypt" {
            check(
                out.status.code() == Some(code),
                format!("decrypt: expected exit {code}, got {:?}: {all}", out.status),
            )?;
        }
    }
    Ok(())
}

fn replace_in_line(text: &str, starts: &str, f: impl Fn(&str) -> String) -> String {
    text.lines()
        .map(|l| if l.trim_start().starts_with(starts) { f(l) } else { l.to_owned() })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn tamper_flipped_byte() -> Result<(), Failed> {
    let (s, bad) = tampered(|t| {
        replace_in_line(t, "password:", |l| {
            let i = l.find("data:").unwrap_or(0) + 5;
            let mut b = l.as_bytes().to_vec();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            String::from_utf8(b).unwrap_or_default()
        })
    })?;
    expect_failure(&s, &bad, 5, &["[\"spec\"][\"stringData\"][\"password\"]", "authentication failed"])
}

fn tamper_swapped_values() -> Result<(), Failed> {
    let (s, bad) = tampered(|t| {
        let val = |name: &str| {
            t.lines()
                .find(|l| l.trim_start().starts_with(name))
                .and_then(|l| l.split_once(": "))
                .map(|x| x.1.to_owned())
        };
        let (h, p) = (val("host:").unwrap_or_default(), val("password:").unwrap_or_default());
        let t = replace_in_line(t, "host:", |l| l.replace(&h, &p));
        replace_in_line(&t, "password:", |l| l.replace(&p, &h))
    })?;
    expect_failure(&s, &bad, 5, &["[\"spec\"][\"stringData\"]", "authentication failed"])
}

fn tamper_edited_mac() -> Result<(), Failed> {
    let (s, bad) = tampered(|t| {
        replace_in_line(t, "mac: ENC", |l| {
            let i = l.find("data:").unwrap_or(0) + 6;
            let mut b = l.as_bytes().to_vec();
            b[i] = if b[i] == b'z' { b'y' } else { b'z' };
            String::from_utf8(b).unwrap_or_default()
        })
    })?;
    expect_failure(&s, &bad, 5, &["MAC", "`mac` or `lastmodified` field was changed"])
}

fn tamper_changed_lastmodified() -> Result<(), Failed> {
    let (s, bad) =
        tampered(|t| replace_in_line(t, "lastmodified:", |_| "    lastmodified: \"2020-01-01T00:00:00Z\"".into()))?;
    expect_failure(&s, &bad, 5, &["MAC", "lastmodified"])
}

fn tamper_wrong_key() -> Result<(), Failed> {
    let s = sealed_fixture()?;
    let (other, other_r) = age_keygen(s.dir.path(), "other")?;
    let out =
        Run::seal(["decrypt", "--identity", &other.display().to_string(), &s.file.display().to_string()]).output()?;
    check(out.status.code() == Some(4), format!("expected exit 4, got {:?}", out.status))?;
    assert_absent(&out.stderr, CANARY, "stderr")?;
    let err = String::from_utf8_lossy(&out.stderr);
    check(
        err.contains(&s.recipient) && err.contains(&other_r) && err.contains("match none"),
        format!("the message must name the file's recipients and the loaded key: {err}"),
    )
}

fn tamper_truncated_armor() -> Result<(), Failed> {
    let (s, bad) = tampered(|t| {
        let mut out = Vec::new();
        let mut dropped = false;
        for l in t.lines() {
            if !dropped && l.trim_start().starts_with("-----END AGE") {
                dropped = true;
                out.pop();
                continue;
            }
            out.push(l);
        }
        out.join("\n") + "\n"
    })?;
    expect_failure(&s, &bad, 4, &["age"])
}

fn tamper_malformed_yaml() -> Result<(), Failed> {
    let (s, bad) = tampered(|t| t.replacen("spec:\n", "spec:\n  - [unclosed\n", 1))?;
    expect_failure(&s, &bad, 3, &["invalid YAML", "line"])
}

// ---------------------------------------------------------------------------

fn sops_yaml_rules() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let (key, r) = age_keygen(dir.path(), "k")?;
    std::fs::write(
        dir.path().join(".sops.yaml"),
        format!(
            "creation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    age: {r}\n    encrypted_regex: ^(data|stringData)$\n    mac_only_encrypted: true\n"
        ),
    )?;
    std::fs::create_dir(dir.path().join("secrets"))?;
    std::fs::write(dir.path().join("secrets/s.yaml"), "kind: Secret\nstringData:\n  token: abc\n")?;
    let out = String::from_utf8(Run::seal(["encrypt", "secrets/s.yaml"]).dir(dir.path()).ok()?)?;
    check(out.contains("kind: Secret"), "kind must stay clear under the rule")?;
    check(out.contains("token: ENC["), "stringData must be encrypted")?;
    check(out.contains("mac_only_encrypted: true") && out.contains(&r), "rule settings must be applied")?;
    std::fs::write(dir.path().join("secrets/s.enc.yaml"), &out)?;
    let dec = sops_cmd(["-d", "secrets/s.enc.yaml"])?.dir(dir.path()).env("SOPS_AGE_KEY_FILE", &key).ok()?;
    check(String::from_utf8(dec)?.contains("token: abc"), "sops must decrypt it")
}

fn keygen_private_file() -> Result<(), Failed> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir()?;
    let p = dir.path().join("key.txt");
    let out = String::from_utf8(Run::seal(["keygen", "-o", &p.display().to_string()]).ok()?)?;
    let mode = std::fs::metadata(&p)?.permissions().mode() & 0o777;
    check(mode == 0o600, format!("identity file mode is {mode:o}, expected 600"))?;
    let text = std::fs::read_to_string(&p)?;
    check(out.trim().starts_with("age1") && text.contains(out.trim()), "the printed recipient must match the file")?;
    // The real age binary accepts the identity.
    let plain = dir.path().join("m");
    std::fs::write(&plain, "hello")?;
    let enc = Run::new(
        tool("age")?,
        ["-r", out.trim(), "-o", &dir.path().join("m.age").display().to_string(), &plain.display().to_string()],
    )
    .ok();
    enc?;
    let dec =
        Run::new(tool("age")?, ["-d", "-i", &p.display().to_string(), &dir.path().join("m.age").display().to_string()])
            .ok()?;
    check(dec == b"hello", "age must decrypt with the generated identity")
}

fn flux_secret_converts() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let (flux_key, flux_r) = age_keygen(dir.path(), "flux")?;
    let (_, cluster_r) = age_keygen(dir.path(), "cluster")?;
    let (team_key, team_r) = age_keygen(dir.path(), "team")?;
    let plain = dir.path().join("secret.yaml");
    std::fs::write(
        &plain,
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: api\n  namespace: prod\n  labels:\n    app: api\ntype: Opaque\nstringData:\n  token: {CANARY}\ndata:\n  cert: aGVsbG8=\n"
        ),
    )?;
    // The Flux way: sops with the Kubernetes rule, a full MAC.
    let flux =
        sops_cmd(["-e", "--age", &flux_r, "--encrypted-regex", "^(data|stringData)$", &plain.display().to_string()])?
            .ok()?;
    let flux_file = dir.path().join("secret.enc.yaml");
    std::fs::write(&flux_file, &flux)?;
    let out = dir.path().join("api.sealed.yaml");
    Run::seal([
        "secret",
        &flux_file.display().to_string(),
        "--age",
        &format!("{cluster_r},{team_r}"),
        "-o",
        &out.display().to_string(),
    ])
    .env("SOPS_AGE_KEY_FILE", &flux_key)
    .ok()?;
    let text = std::fs::read_to_string(&out)?;
    assert_absent(text.as_bytes(), CANARY, "the converted file")?;
    check(
        text.contains("kind: SealedSecret") && text.contains("mac_only_encrypted: true"),
        "a SealedSecret must come out",
    )?;
    check(!text.contains(&flux_r), "the Flux key is not a recipient of the SealedSecret")?;
    let dec =
        String::from_utf8(sops_cmd(["-d", &out.display().to_string()])?.env("SOPS_AGE_KEY_FILE", &team_key).ok()?)?;
    for want in
        [format!("token: {CANARY}"), "cert: aGVsbG8=".to_owned(), "scope: prod/api".to_owned(), "app: api".to_owned()]
    {
        check(dec.contains(&want), format!("the converted SealedSecret lacks {want:?}:\n{dec}"))?;
    }
    Ok(())
}

/// Files built to exhaust the readers: 200,000 nested lists (a stack
/// overflow before the limits), a billion-laughs alias bomb (memory), deep
/// JSON, and a dotenv metadata index of 10^11. Each is refused by every
/// command that reads it, with exit 3 and the limit, never a crash.
fn hostile_files_refused() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let (key, recipient) = age_keygen(dir.path(), "k")?;
    let mut laughs = String::from("a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n");
    let mut prev = 'a';
    for c in "bcdefgh".chars() {
        laughs.push_str(&format!("{c}: &{c} [{}]\n", vec![format!("*{prev}"); 9].join(",")));
        prev = c;
    }
    let files = [
        ("deep.yaml", format!("k:\n{}x\n", "- ".repeat(200_000)), "nested more than 128 levels"),
        ("laughs.yaml", laughs, "once its aliases are expanded"),
        ("deep.json", format!("{{\"k\": {}{}}}", "[".repeat(200_000), "]".repeat(200_000)), "nested more than 128 levels"),
        (
            "meta.env",
            "A=ENC[AES256_GCM,data:eA==,iv:eA==,tag:eA==,type:str]\nsops_age__list_99999999999__map_enc=x\nsops_version=3.11.0\n"
                .to_owned(),
            "list index",
        ),
    ];
    for (name, text, reason) in files {
        let path = dir.path().join(name);
        std::fs::write(&path, text)?;
        let p = path.display().to_string();
        let commands: Vec<Vec<&str>> = if name.ends_with(".env") {
            vec![vec!["decrypt", &p], vec!["verify", &p]]
        } else {
            vec![vec!["encrypt", "--age", &recipient, &p], vec!["decrypt", &p], vec!["verify", &p]]
        };
        for args in commands {
            let out = Run::seal(&args).env("SOPS_AGE_KEY_FILE", &key).output()?;
            let err = String::from_utf8_lossy(&out.stderr);
            let expected_code = if args[0] == "verify" { None } else { Some(3) };
            match expected_code {
                Some(code) => check(
                    out.status.code() == Some(code),
                    format!("seal {args:?}: exit {:?}, expected {code}: {err}", out.status.code()),
                )?,
                None => check(
                    !out.status.success() && out.status.code().is_some(),
                    format!("seal {args:?} must fail cleanly: {:?} {err}", out.status),
                )?,
            }
            let said = format!("{err}{}", String::from_utf8_lossy(&out.stdout));
            check(
                said.contains(reason) && said.contains(name),
                format!("seal {args:?} must name the file and the limit ({reason:?}): {said}"),
            )?;
        }
    }
    Ok(())
}
