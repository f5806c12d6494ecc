//! Post-quantum hybrid recipients (`age1pq1…`, stanza `mlkem768x25519`)
//! through the CLI, and interoperation both ways with typage, age's
//! reference TypeScript implementation (npm `age-encryption` 0.3.1, run
//! under Node.js; tests/run installs it with its sha512 checked).

use std::path::{Path, PathBuf};

use libtest_mimic::{Failed, Trial};
use seal_format::sops::{self, Format};

use crate::support::{CANARY, Run, age_keygen, check, repo_root, tool};

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test("pq::keygen_pq_writes_a_hybrid_identity_every_command_accepts", keygen_pq_every_command),
        Trial::test("pq::a_creation_rule_naming_a_hybrid_recipient_seals_to_it", creation_rule_hybrid),
        Trial::test(
            "pq::a_hybrid_cluster_key_with_an_x25519_team_key_is_refused_naming_the_fix",
            mixed_recipients_refused,
        ),
        Trial::test(
            "pq::every_command_that_wraps_a_data_key_refuses_a_hybrid_x25519_mix_with_exit_67",
            every_command_refuses_a_mix,
        ),
        Trial::test("pq::sops_3_11_and_seal_read_each_others_hybrid_files", sops_3_11_reads_and_writes_hybrid),
        Trial::test("pq::typage_opens_what_seal_seals_and_seal_opens_what_typage_seals", typage_file_both_ways),
        Trial::test(
            "pq::typage_opens_a_sealed_secrets_enc_and_seal_opens_one_typage_wrapped",
            typage_sealed_secret_both_ways,
        ),
    ]
}

/// `seal keygen --pq -o FILE`: (identity file, recipient).
pub fn seal_keygen_pq(dir: &Path, name: &str) -> Result<(PathBuf, String), Failed> {
    let p = dir.join(format!("{name}.txt"));
    let out = String::from_utf8(Run::seal(["keygen", "--pq", "-o", &p.display().to_string()]).ok()?)?;
    Ok((p, out.trim().to_owned()))
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn keygen_pq_every_command() -> Result<(), Failed> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir()?;
    let (key, r) = seal_keygen_pq(dir.path(), "pq")?;
    let text = std::fs::read_to_string(&key)?;
    check(std::fs::metadata(&key)?.permissions().mode() & 0o777 == 0o600, "identity file mode must be 600")?;
    check(r.starts_with("age1pq1") && r.len() > 1900, format!("recipient {r:.20}… is not a hybrid one"))?;
    check(text.contains(&format!("# public key: {r}")), "the file must name its recipient")?;
    check(text.lines().any(|l| l.starts_with("AGE-SECRET-KEY-PQ-1")), "the file must hold a hybrid identity")?;
    // An identity file holding both kinds.
    let (x_key, _) = age_keygen(dir.path(), "x")?;
    let both = dir.path().join("both.txt");
    std::fs::write(&both, format!("{}\n{text}", std::fs::read_to_string(&x_key)?))?;
    let (key2, r2) = seal_keygen_pq(dir.path(), "pq2")?;
    // secret, verify, decrypt, render.
    let sealed = dir.path().join("db.sealed.yaml");
    Run::seal([
        "secret",
        "--name",
        "db",
        "--namespace",
        "prod",
        "--from-literal",
        &format!("password={CANARY}"),
        "--age",
        &r,
        "-o",
        &s(&sealed),
    ])
    .ok()?;
    let yaml = std::fs::read_to_string(&sealed)?;
    check(
        yaml.contains("recipient: age1pq1") && yaml.contains("BEGIN AGE ENCRYPTED FILE"),
        "sealed to the hybrid key",
    )?;
    Run::seal(["verify", "--identity", &s(&both), &s(&sealed)]).ok()?;
    let out = Run::seal(["decrypt", "--identity", &s(&both), &s(&sealed)]).ok()?;
    check(String::from_utf8(out)?.contains(CANARY), "decrypt with an identity file of both kinds")?;
    let rendered = Run::seal(["render", "--identity", &s(&key), &s(&sealed)]).ok()?;
    check(String::from_utf8(rendered)?.contains("kind: Secret"), "render with the hybrid identity")?;
    // encrypt, updatekeys (.sops.yaml now names a second hybrid key), rotate, diff.
    let env_file = dir.path().join("app.env");
    std::fs::write(&env_file, format!("TOKEN={CANARY}\n"))?;
    let enc = Run::seal(["encrypt", "--age", &r, &s(&env_file)]).ok()?;
    let enc_file = dir.path().join("app.enc.env");
    std::fs::write(&enc_file, &enc)?;
    std::fs::write(dir.path().join(".sops.yaml"), format!("creation_rules:\n  - age: {r},{r2}\n"))?;
    Run::seal(["updatekeys", "-y", "--identity", &s(&key), &s(&enc_file)]).dir(dir.path()).ok()?;
    let out = Run::seal(["decrypt", "--identity", &s(&key2), &s(&enc_file)]).ok()?;
    check(String::from_utf8(out)? == format!("TOKEN={CANARY}\n"), "updatekeys added the second hybrid key")?;
    let before = std::fs::read(&enc_file)?;
    Run::seal(["rotate", "-i", "--identity", &s(&key2), &s(&enc_file)]).ok()?;
    check(std::fs::read(&enc_file)? != before, "rotate rewrote the file")?;
    let out = Run::seal(["decrypt", "--identity", &s(&key), &s(&enc_file)]).ok()?;
    check(String::from_utf8(out)? == format!("TOKEN={CANARY}\n"), "both keys open the rotated file")?;
    let other = dir.path().join("db2.sealed.yaml");
    Run::seal([
        "secret",
        "--name",
        "db",
        "--namespace",
        "prod",
        "--from-literal",
        "password=other",
        "--age",
        &r,
        "-o",
        &s(&other),
    ])
    .ok()?;
    let out = Run::seal(["diff", "--identity", &s(&key), &s(&sealed), &s(&other)]).output()?;
    let shown = String::from_utf8(out.stdout)?;
    check(shown.contains("password"), format!("diff names the changed key: {shown}"))?;
    check(!shown.contains(CANARY), "diff never shows a value")
}

fn creation_rule_hybrid() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let (key, r) = seal_keygen_pq(dir.path(), "pq")?;
    // The recipient is about 1,960 characters: a folded scalar, as a team would write it.
    std::fs::write(
        dir.path().join(".sops.yaml"),
        format!("creation_rules:\n  - path_regex: \\.yaml$\n    age: >-\n      {r}\n"),
    )?;
    std::fs::write(dir.path().join("s.yaml"), "token: abc\n")?;
    let text = String::from_utf8(Run::seal(["encrypt", "s.yaml"]).dir(dir.path()).ok()?)?;
    check(text.contains(&format!("recipient: {r}")), "sealed to the rule's hybrid key")?;
    std::fs::write(dir.path().join("s.enc.yaml"), &text)?;
    let dec = Run::seal(["decrypt", "--identity", &s(&key), "s.enc.yaml"]).dir(dir.path()).ok()?;
    check(dec == b"token: abc\n", "decrypts")
}

fn mixed_recipients_refused() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let (_, cluster) = seal_keygen_pq(dir.path(), "cluster")?;
    let (_, team) = age_keygen(dir.path(), "team")?;
    let (code, _, err) = Run::seal([
        "secret",
        "--name",
        "db",
        "--namespace",
        "prod",
        "--from-literal",
        "a=b",
        "--age",
        &cluster,
        "--age",
        &team,
    ])
    .fails()?;
    check(code == 67, format!("exit {code}, expected 67: {err}"))?;
    check(err.contains("A hybrid cluster key needs hybrid team keys too"), format!("the error names the fix: {err}"))?;
    check(err.contains(&team), "the error names the classic recipient")?;
    check(!err.contains(" b\n") && !err.contains("a=b"), "no value in the error")
}

/// `seal` refuses a hybrid-and-X25519 mix with exit 67 (what sops does and
/// seal refuses) wherever the recipients come from, and leaves every file
/// as it was.
fn every_command_refuses_a_mix() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let (key, r) = seal_keygen_pq(d, "pq")?;
    let (_, x_r) = age_keygen(d, "x")?;
    let mix = format!("{r},{x_r}");
    let plain = d.join("s.yaml");
    std::fs::write(&plain, format!("token: {CANARY}\n"))?;
    let hybrid = d.join("h.enc.yaml");
    std::fs::write(&hybrid, Run::seal(["encrypt", "--age", &r, &s(&plain)]).ok()?)?;
    let sealed = d.join("db.sealed.yaml");
    let lit = format!("password={CANARY}");
    let secret = ["secret", "--name", "db", "--namespace", "prod", "--from-literal", &lit];
    Run::seal(secret.iter().copied().chain(["--age", &r, "-o", &s(&sealed)])).ok()?;
    // The hybrid file with a pgp key beside it, which `updatekeys` keeps
    // byte for byte on a path of its own.
    let pgp = "    pgp:\n        - created_at: \"2026-01-01T00:00:00Z\"\n          enc: |\n            \
               -----BEGIN PGP MESSAGE-----\n\n            wcBMA0123\n            -----END PGP MESSAGE-----\n          \
               fp: 0123456789ABCDEF0123456789ABCDEF01234567\n";
    let foreign = d.join("f.enc.yaml");
    std::fs::write(&foreign, std::fs::read_to_string(&hybrid)?.replacen("sops:\n", &format!("sops:\n{pgp}"), 1))?;
    let k8s = d.join("db.secret.yaml");
    std::fs::write(
        &k8s,
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\nstringData:\n  password: {CANARY}\n"
        ),
    )?;
    std::fs::write(d.join(".sops.yaml"), format!("creation_rules:\n  - age: {mix}\n"))?;
    let (id, h, f, sd, p, k) = (s(&key), s(&hybrid), s(&foreign), s(&sealed), s(&plain), s(&k8s));
    let cases: [(&str, Vec<&str>); 12] = [
        ("encrypt --age", vec!["encrypt", "--age", &mix, &p]),
        ("encrypt by the .sops.yaml rule", vec!["encrypt", &p]),
        ("sops' -e --age", vec!["-e", "--age", &mix, &p]),
        ("updatekeys --age", vec!["updatekeys", "-y", "--identity", &id, "--age", &mix, &h]),
        ("updatekeys by the .sops.yaml rule", vec!["updatekeys", "-y", "--identity", &id, &h]),
        ("updatekeys of a file that also holds a pgp key", vec!["updatekeys", "-y", "--identity", &id, &f]),
        ("rotate --add-age", vec!["rotate", "-i", "--identity", &id, "--add-age", &x_r, &h]),
        ("sops' -r --add-age", vec!["-r", "-i", "--add-age", &x_r, &h]),
        ("groups add", vec!["groups", "add", "-i", "--identity", &id, "--file", &h, "--age", &x_r]),
        ("secret --age", secret.iter().copied().chain(["--age", &mix]).collect()),
        (
            "secret --merge-into",
            vec!["secret", "--merge-into", &sd, "--identity", &id, "--from-literal", "b=c", "--age", &mix],
        ),
        ("convert --age", vec!["convert", "--age", &mix, &k]),
    ];
    let files = [&hybrid, &foreign, &sealed, &plain, &k8s];
    let before = files.iter().map(std::fs::read).collect::<Result<Vec<_>, _>>()?;
    for (what, args) in cases {
        let (code, out, err) = Run::seal(args).dir(d).env("SOPS_AGE_KEY_FILE", &key).fails()?;
        check(
            code == 67 && err.contains("A hybrid cluster key needs hybrid team keys too") && err.contains(&x_r),
            format!("{what}: exit {code}, expected 67 naming the X25519 recipient and the fix: {err}"),
        )?;
        check(out.is_empty() && !err.contains(CANARY), format!("{what}: no output and no value in the error"))?;
    }
    let after = files.iter().map(std::fs::read).collect::<Result<Vec<_>, _>>()?;
    check(before == after, "every file is as it was")
}

/// sops 3.11 (age 1.3 inside) reads and writes hybrid recipients too: each
/// tool opens the other's file with the hybrid identity alone. sops does not
/// refuse a mix of hybrid and X25519 recipients; seal does (see
/// docs/sops-compatibility.md).
fn sops_3_11_reads_and_writes_hybrid() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let (key, r) = seal_keygen_pq(dir.path(), "pq")?;
    let plain = dir.path().join("s.yaml");
    std::fs::write(&plain, format!("token: {CANARY}\n"))?;
    let sops = tool("sops")?;
    let enc = Run::seal(["encrypt", "--age", &r, &s(&plain)]).ok()?;
    let by_seal = dir.path().join("seal.enc.yaml");
    std::fs::write(&by_seal, enc)?;
    let out = Run::new(&sops, ["-d", &s(&by_seal)]).env("SOPS_AGE_KEY_FILE", &key).ok()?;
    check(out == format!("token: {CANARY}\n").as_bytes(), "sops -d opens seal's hybrid file")?;
    let enc = Run::new(&sops, ["-e", "--age", &r, &s(&plain)]).ok()?;
    let by_sops = dir.path().join("sops.enc.yaml");
    std::fs::write(&by_sops, &enc)?;
    let doc = sops::parse_encrypted(&enc, Format::Yaml)?;
    let entry = doc.metadata.key_groups.first().and_then(|g| g.age.first()).ok_or("no age entry")?;
    check(entry.recipient == r, "sops wrote the hybrid recipient")?;
    let out = Run::seal(["decrypt", "--identity", &s(&key), &s(&by_sops)]).ok()?;
    check(out == format!("token: {CANARY}\n").as_bytes(), "seal opens sops' hybrid file")?;
    // sops seals to a mix; seal opens that file with either key and refuses
    // to re-key it to the same mix.
    let (x_key, x_r) = age_keygen(dir.path(), "x")?;
    let enc = Run::new(&sops, ["-e", "--age", &format!("{r},{x_r}"), &s(&plain)]).ok()?;
    let mixed = dir.path().join("mixed.enc.yaml");
    std::fs::write(&mixed, &enc)?;
    for k in [&key, &x_key] {
        let out = Run::seal(["decrypt", "--identity", &s(k), &s(&mixed)]).ok()?;
        check(out == format!("token: {CANARY}\n").as_bytes(), "seal opens sops' mixed file")?;
    }
    let (code, _, err) = Run::seal(["rotate", "-i", "--identity", &s(&key), &s(&mixed)]).fails()?;
    check(code == 67 && err.contains("A hybrid cluster key needs hybrid team keys"), format!("rotate: {code} {err}"))
}

// ---------------------------------------------------------------------------
// typage

/// `node tests/interop/typage/age.mjs ARGS`, failing with how to install
/// typage when it is missing.
fn typage<I: IntoIterator<Item = S>, S: AsRef<std::ffi::OsStr>>(args: I) -> Result<Run, Failed> {
    let dir = repo_root().join("tests/interop/typage");
    if !dir.join("node_modules/age-encryption/package.json").is_file() {
        return Err("typage is not installed: run tests/run once (npm ci --prefix tests/interop/typage)".into());
    }
    let script = dir.join("age.mjs");
    Ok(Run::new(
        tool("node")?,
        std::iter::once(script.into_os_string()).chain(args.into_iter().map(|a| a.as_ref().into())),
    ))
}

/// A typage-made hybrid identity in a file: (identity file, recipient).
fn typage_keygen(dir: &Path, name: &str) -> Result<(PathBuf, String), Failed> {
    let out = String::from_utf8(typage(["keygen"])?.ok()?)?;
    let mut lines = out.lines();
    let (id, r) = (lines.next().ok_or("no identity")?, lines.next().ok_or("no recipient")?);
    let p = dir.join(format!("{name}.txt"));
    std::fs::write(&p, format!("{id}\n"))?;
    Ok((p, r.to_owned()))
}

/// The plaintext of an armored age file, decrypted by typage.
fn typage_decrypt(identity: &Path, armored: &str) -> Result<Vec<u8>, Failed> {
    use base64::Engine;
    let out = typage(["decrypt".as_ref(), identity.as_os_str()])?.stdin(armored.as_bytes().to_vec()).ok()?;
    Ok(base64::engine::general_purpose::STANDARD.decode(String::from_utf8(out)?.trim())?)
}

/// An armored age file of `plain` for `recipient`, encrypted by typage.
fn typage_encrypt(recipient: &str, plain: &[u8]) -> Result<String, Failed> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(plain);
    Ok(String::from_utf8(typage(["encrypt", recipient])?.stdin(b64).ok()?)?)
}

/// Both directions on one sealed file (sealed by seal to typage's hybrid
/// recipient): typage unwraps its data key; typage wraps that key for a
/// hybrid key of seal's, which replaces the entry; seal opens the file with
/// that key and with typage's identity. Only the right data key gives the
/// canary back (the values are AES-GCM under it, the MAC is over them).
fn both_ways(dir: &Path, sealed: &Path, typage_key: &Path, typage_r: &str, want: &str) -> Result<(), Failed> {
    let text = std::fs::read(sealed)?;
    let mut doc = sops::parse_encrypted(&text, Format::Yaml)?;
    let entry = doc.metadata.key_groups.first().and_then(|g| g.age.first()).ok_or("no age entry")?.clone();
    check(entry.recipient == typage_r, "sealed to typage's recipient")?;
    let data_key = typage_decrypt(typage_key, &entry.enc)?;
    check(data_key.len() == 32, format!("typage unwrapped {} bytes, expected the 32-byte data key", data_key.len()))?;
    // seal opens it with typage's identity.
    let out = Run::seal(["decrypt", "--identity", &s(typage_key), &s(sealed)]).ok()?;
    check(String::from_utf8(out)?.contains(want), "seal opens the file with typage's identity")?;
    // typage wraps the data key for seal's own hybrid key.
    let (seal_key, seal_r) = seal_keygen_pq(dir, "seal-pq")?;
    let wrapped = typage_encrypt(&seal_r, &data_key)?;
    check(wrapped.contains("BEGIN AGE ENCRYPTED FILE"), "typage wrote an armored age file")?;
    let group = doc.metadata.key_groups.first_mut().ok_or("no group")?;
    group.age = vec![sops::metadata::AgeEntry { recipient: seal_r, enc: wrapped }];
    let rewrapped = dir.join("rewrapped.yaml");
    std::fs::write(&rewrapped, sops::emit_encrypted(&doc, Format::Yaml)?)?;
    let out = Run::seal(["decrypt", "--identity", &s(&seal_key), &s(&rewrapped)]).ok()?;
    check(String::from_utf8(out)?.contains(want), "seal opens the data key typage wrapped")?;
    // And typage's identity no longer does: the entry is seal's alone.
    let (code, _, _) = Run::seal(["decrypt", "--identity", &s(typage_key), &s(&rewrapped)]).fails()?;
    check(code == 128, format!("exit {code}, expected 128 (sops' no matching key)"))
}

fn typage_file_both_ways() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let (t_key, t_r) = typage_keygen(dir.path(), "typage")?;
    // typage derives the same recipient from seal's identity, and the reverse.
    let (seal_key, seal_r) = seal_keygen_pq(dir.path(), "mine")?;
    let derived = String::from_utf8(typage(["recipient".as_ref(), seal_key.as_os_str()])?.ok()?)?;
    check(derived.trim() == seal_r, "typage derives seal's recipient from seal's identity")?;
    let plain = dir.path().join("app.yaml");
    std::fs::write(&plain, format!("token: {CANARY}\n"))?;
    let enc = Run::seal(["encrypt", "--age", &t_r, &s(&plain)]).ok()?;
    let sealed = dir.path().join("app.enc.yaml");
    std::fs::write(&sealed, enc)?;
    both_ways(dir.path(), &sealed, &t_key, &t_r, CANARY)
}

fn typage_sealed_secret_both_ways() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let (t_key, t_r) = typage_keygen(dir.path(), "typage")?;
    let sealed = dir.path().join("db.sealed.yaml");
    Run::seal([
        "secret",
        "--name",
        "db",
        "--namespace",
        "prod",
        "--from-literal",
        &format!("password={CANARY}"),
        "--age",
        &t_r,
        "-o",
        &s(&sealed),
    ])
    .ok()?;
    both_ways(dir.path(), &sealed, &t_key, &t_r, CANARY)?;
    // The rewrapped SealedSecret still passes seal verify with seal's key.
    let rewrapped = dir.path().join("rewrapped.yaml");
    Run::seal(["verify", "--identity", &s(&dir.path().join("seal-pq.txt")), &s(&rewrapped)]).ok()?;
    Ok(())
}
