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
