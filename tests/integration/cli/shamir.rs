//! `.sops.yaml`'s `shamir_threshold` through `seal encrypt`: out of range
//! (negative, zero, more than the key groups) is refused with exit 3 and a
//! message naming the rule's field; in range, the file gets the threshold
//! and sops decrypts it.

use libtest_mimic::Failed;

use super::sops_cmd;
use crate::support::{Run, age_keygen, check};

pub fn shamir_threshold_out_of_range_is_refused() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let (k1, r1) = age_keygen(dir.path(), "k1")?;
    let (k2, r2) = age_keygen(dir.path(), "k2")?;
    std::fs::write(dir.path().join("s.yaml"), "kind: Secret\nstringData:\n  token: abc\n")?;
    let config = |t: &str| {
        format!(
            "creation_rules:\n  - key_groups:\n      - age: [{r1}]\n      - age: [{r2}]\n    shamir_threshold: {t}\n"
        )
    };
    for t in ["-1", "0", "3"] {
        std::fs::write(dir.path().join(".sops.yaml"), config(t))?;
        let (code, out, err) = Run::seal(["encrypt", "s.yaml"]).dir(dir.path()).fails()?;
        check(
            code == 3 && err.contains(".sops.yaml: creation_rules[0].shamir_threshold") && out.is_empty(),
            format!("shamir_threshold {t} of 2 groups: exit 3 naming the field, no output: {code} {err}"),
        )?;
    }
    std::fs::write(dir.path().join(".sops.yaml"), config("2"))?;
    let out = String::from_utf8(Run::seal(["encrypt", "s.yaml"]).dir(dir.path()).ok()?)?;
    check(out.contains("shamir_threshold: 2"), format!("the threshold is written:\n{out}"))?;
    std::fs::write(dir.path().join("s.enc.yaml"), &out)?;
    let keys = dir.path().join("keys.txt");
    std::fs::write(&keys, std::fs::read_to_string(&k1)? + &std::fs::read_to_string(&k2)?)?;
    let dec = sops_cmd(["-d", "s.enc.yaml"])?.dir(dir.path()).env("SOPS_AGE_KEY_FILE", &keys).ok()?;
    check(String::from_utf8(dec)?.contains("token: abc"), "sops decrypts with both groups' keys")
}

/// A creation rule with a key group seal cannot fill (PGP), beside an age
/// group, both needed to decrypt: seal refuses it with exit 3 naming the
/// group and the key type, and writes nothing. It used to keep the age
/// group alone, writing a file the age key alone decrypts. An empty group
/// is refused with sops' message and exit code (1).
pub fn key_groups_seal_cannot_fill_are_refused() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let (_k1, r1) = age_keygen(dir.path(), "k1")?;
    std::fs::write(dir.path().join("s.yaml"), "kind: Secret\nstringData:\n  token: abc\n")?;
    let cases = [
        (
            format!("      - age: [{r1}]\n      - pgp: [85D77543B3D624B63CEA9E6DBC17301B491B3F21]\n"),
            "key_groups[1] has pgp keys",
            3,
        ),
        // sops' words and exit code for an empty group.
        (format!("      - age: [{r1}]\n      - {{}}\n"), "Could not generate data key: [empty key group provided]", 1),
    ];
    for (groups, want, want_code) in cases {
        std::fs::write(dir.path().join(".sops.yaml"), format!("creation_rules:\n  - key_groups:\n{groups}"))?;
        let (code, out, err) = Run::seal(["encrypt", "s.yaml"]).dir(dir.path()).fails()?;
        check(
            code == want_code && err.contains(want) && out.is_empty(),
            format!("expected exit {want_code} with {want:?} and no output: {code} {err}"),
        )?;
        // sops refuses these too (an unknown PGP key, an empty group).
        let sops = sops_cmd(["-e", "s.yaml"])?.dir(dir.path()).fails()?;
        check(sops.0 != 0 && sops.1.is_empty(), format!("sops refuses too: {} {}", sops.0, sops.2))?;
    }
    Ok(())
}
