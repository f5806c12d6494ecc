//! C2SP's age test vectors (tests/data/cctv-age, from C2SP/CCTV): every
//! file decrypts with the identities it names to the expected payload, or
//! fails the way it says. The checks follow rage's `age/tests/testkit.rs`,
//! which maps the age crate's errors onto the vectors' expectations, with
//! the same three tolerated differences of the age crate's reader.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::armor::{ArmoredReadError, ArmoredReader};
use age::{DecryptError, Decryptor, Identity};
use sha2::{Digest, Sha256};

use super::hybrid::HybridIdentity;

#[derive(Debug, PartialEq, Eq)]
enum Expect {
    Success([u8; 32]),
    ArmorFailure,
    HeaderFailure,
    HmacFailure,
    NoMatch,
    PayloadFailure([u8; 32]),
}

struct Vector {
    expect: Expect,
    identities: Vec<String>,
    passphrases: Vec<String>,
    armored: bool,
    age_file: Vec<u8>,
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/cctv-age")
}

fn parse(path: &Path) -> Vector {
    let mut r = BufReader::new(std::fs::File::open(path).unwrap());
    let mut expect = None;
    let mut payload = None;
    let (mut identities, mut passphrases, mut armored, mut compressed) = (Vec::new(), Vec::new(), false, false);
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let line = line.trim();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(": ").unwrap();
        match k {
            "expect" => expect = Some(v.to_owned()),
            "payload" => payload = Some(<[u8; 32]>::try_from(hex::decode(v).unwrap()).unwrap()),
            "identity" => identities.push(v.to_owned()),
            "passphrase" => passphrases.push(v.to_owned()),
            "armored" => armored = v == "yes",
            "compressed" => {
                assert_eq!(v, "zlib");
                compressed = true
            }
            "file key" | "comment" => {}
            other => panic!("unknown vector key {other}"),
        }
    }
    let mut age_file = Vec::new();
    if compressed {
        flate2::read::ZlibDecoder::new(r).read_to_end(&mut age_file).unwrap();
    } else {
        r.read_to_end(&mut age_file).unwrap();
    }
    let expect = match expect.as_deref() {
        Some("success") => Expect::Success(payload.unwrap()),
        Some("payload failure") => Expect::PayloadFailure(payload.unwrap()),
        Some("armor failure") => Expect::ArmorFailure,
        Some("header failure") => Expect::HeaderFailure,
        Some("HMAC failure") => Expect::HmacFailure,
        Some("no match") => Expect::NoMatch,
        other => panic!("unknown expectation {other:?}"),
    };
    Vector { expect, identities, passphrases, armored, age_file }
}

enum AnyIdentity {
    X25519(age::x25519::Identity),
    Hybrid(Box<HybridIdentity>),
}

fn identities(v: &Vector) -> Vec<AnyIdentity> {
    v.identities
        .iter()
        .map(|s| {
            if s.starts_with("AGE-SECRET-KEY-PQ-1") {
                AnyIdentity::Hybrid(Box::new(HybridIdentity::parse(s).unwrap()))
            } else {
                AnyIdentity::X25519(age::x25519::Identity::from_str(s).unwrap())
            }
        })
        .collect()
}

/// What one vector gives: `Ok(())` when it matches its expectation.
fn check(name: &str, v: &Vector) -> Result<(), String> {
    let ids = identities(v);
    let decrypted = Decryptor::new_buffered(ArmoredReader::new(&v.age_file[..])).and_then(|d| {
        if d.is_scrypt() {
            let pass = v.passphrases.first().cloned().unwrap_or_default();
            let mut id = age::scrypt::Identity::new(pass.into());
            id.set_max_work_factor(16);
            d.decrypt(std::iter::once(&id as &dyn Identity))
        } else {
            d.decrypt(ids.iter().map(|i| match i {
                AnyIdentity::X25519(k) => k as &dyn Identity,
                AnyIdentity::Hybrid(k) => k.as_ref() as &dyn Identity,
            }))
        }
    });
    let got = match decrypted {
        Ok(mut r) => {
            let mut payload = Vec::new();
            let res = r.read_to_end(&mut payload);
            let digest: [u8; 32] = Sha256::digest(&payload).into();
            match (res, &v.expect) {
                (Ok(_), Expect::Success(want)) if *want == digest => return Ok(()),
                // The age crate still reads legacy stanzas without a short final line.
                (Ok(_), Expect::HeaderFailure)
                    if ["stanza_missing_body", "stanza_missing_final_line"].contains(&name) =>
                {
                    return Ok(());
                }
                (Err(e), Expect::ArmorFailure) if e.get_ref().is_some_and(|i| i.is::<ArmoredReadError>()) => {
                    return Ok(());
                }
                (Err(_), Expect::PayloadFailure(want)) if *want == digest => return Ok(()),
                (Ok(_), _) => format!("a payload with SHA-256 {}", hex::encode(digest)),
                (Err(e), _) => format!("a payload error ({e}) after {} bytes", payload.len()),
            }
        }
        Err(DecryptError::InvalidHeader) => {
            // The armor reader passes through input whose begin line is not
            // an armor line, so the age header parser refuses it instead.
            let armor_begin =
                ["armor_garbage_leading", "armor_lowercase", "armor_whitespace_begin", "armor_wrong_type"];
            if v.armored && armor_begin.contains(&name) && v.expect == Expect::ArmorFailure {
                return Ok(());
            }
            // Leading whitespace before the armor is not detected as armor.
            if v.armored && name == "armor_whitespace_outside" {
                return Ok(());
            }
            if v.expect == Expect::HeaderFailure {
                return Ok(());
            }
            "a header failure".into()
        }
        Err(DecryptError::Io(e)) => {
            let armor = e.get_ref().is_some_and(|i| i.is::<ArmoredReadError>());
            match (&v.expect, armor) {
                (Expect::ArmorFailure, true) | (Expect::HeaderFailure, false) => return Ok(()),
                _ => format!("an I/O error ({e})"),
            }
        }
        Err(DecryptError::ExcessiveWork { .. } | DecryptError::UnknownFormat) if v.expect == Expect::HeaderFailure => {
            return Ok(());
        }
        Err(DecryptError::InvalidMac) if v.expect == Expect::HmacFailure => return Ok(()),
        Err(DecryptError::DecryptionFailed | DecryptError::NoMatchingKeys) if v.expect == Expect::NoMatch => {
            return Ok(());
        }
        Err(e) => format!("{e:?}"),
    };
    Err(format!("{name}: expected {:?}, got {got}", v.expect))
}

#[test]
fn cctv_age_vectors_give_their_expected_results() {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "README.md")
        .collect();
    names.sort();
    assert_eq!(names.len(), 143, "the vendored vector set changed");
    let failures: Vec<String> = names.iter().filter_map(|n| check(n, &parse(&dir().join(n))).err()).collect();
    assert!(failures.is_empty(), "{} of {} vectors failed:\n{}", failures.len(), names.len(), failures.join("\n"));
}

#[test]
fn cctv_hybrid_vectors_are_all_present_and_each_exercises_the_hybrid_identity() {
    let hybrid: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("hybrid"))
        .collect();
    assert_eq!(hybrid.len(), 19);
    for n in &hybrid {
        let v = parse(&dir().join(n));
        assert!(v.identities.iter().any(|i| i.starts_with("AGE-SECRET-KEY-PQ-1")), "{n}");
        check(n, &v).unwrap();
    }
    // Without the hybrid identity, the hybrid-only file has no match: the
    // success above came from the hybrid code.
    let mut v = parse(&dir().join("hybrid"));
    v.identities.clear();
    v.expect = Expect::NoMatch;
    check("hybrid", &v).unwrap();
}
