//! `pem_test.go`: `TestFilterPEM`, `TestFilterCertChain` and `TestCertSANs`.

use super::fixture;
use super::vectors::{PEM_CERT_DATA as CERT, PEM_KEY_DATA as KEY, PEM_OTHER_CERT as OTHER};
use crate::functions::certificates::{filter_cert_chain, filter_pem};

/// ESO's case names and types: lower case, matched case-insensitively.
const PRIVATE_KEY: &str = "private key";
const CERTIFICATE: &str = "certificate";

#[test]
fn test_filter_pem() {
    let cases: [(&str, String, &str, Option<String>); 8] = [
        ("extract cert / cert first", format!("{CERT}{KEY}"), CERTIFICATE, Some(CERT.into())),
        ("extract cert / key first", format!("{KEY}{CERT}"), CERTIFICATE, Some(CERT.into())),
        ("extract multiple certs", format!("{KEY}{CERT}{KEY}{OTHER}"), CERTIFICATE, Some(format!("{CERT}{OTHER}"))),
        ("extract key", format!("{KEY}{CERT}"), PRIVATE_KEY, Some(KEY.into())),
        ("key with junk", format!("{CERT}{KEY}some ---junk---"), PRIVATE_KEY, Some(KEY.into())),
        ("begin/end with junk", format!("some junk{CERT}{KEY}some ---junk---"), PRIVATE_KEY, Some(KEY.into())),
        ("interleaved junk", format!("{CERT}some junk{KEY}"), PRIVATE_KEY, None),
        ("err when junk", "---junk---".into(), PRIVATE_KEY, None),
    ];
    for (name, input, kind, want) in cases {
        match (filter_pem(kind, &input), want) {
            (Ok(got), Some(want)) => assert_eq!(got, want, "case {name:?}"),
            (Err(e), None) => assert_eq!(e, "error filtering pem: found junk", "case {name:?}"),
            (got, want) => panic!("case {name:?}: wanted {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn test_filter_cert_chain() {
    const LEAF: &str = "foo.crt";
    const INTERMEDIATE: &str = "intermediate-ca.crt";
    const ROOT: &str = "root-ca.crt";
    const ROOT_KEY: &str = "root-ca.key";
    // Name, input files, kind, and the file the result is (None: empty;
    // Err: an error).
    type Case<'a> = (&'a str, &'a [&'a str], &'a str, Result<Option<&'a str>, ()>);
    let cases: [Case; 12] = [
        ("extract leaf cert / empty cert chain", &[], "leaf", Err(())),
        ("extract leaf cert / cert chain with pkey", &[LEAF, ROOT_KEY], "leaf", Err(())),
        ("extract leaf cert / leaf cert only", &[LEAF], "leaf", Ok(Some(LEAF))),
        ("extract leaf cert / cert chain without root", &[LEAF, INTERMEDIATE], "leaf", Ok(Some(LEAF))),
        ("extract leaf cert / root cert only", &[ROOT], "leaf", Ok(None)),
        ("extract leaf cert / full cert chain", &[LEAF, INTERMEDIATE, ROOT], "leaf", Ok(Some(LEAF))),
        ("extract intermediate cert / leaf cert only", &[LEAF], "intermediate", Ok(None)),
        (
            "extract intermediate cert / cert chain without root",
            &[LEAF, INTERMEDIATE],
            "intermediate",
            Ok(Some(INTERMEDIATE)),
        ),
        (
            "extract intermediate cert / full cert chain",
            &[LEAF, INTERMEDIATE, ROOT],
            "intermediate",
            Ok(Some(INTERMEDIATE)),
        ),
        ("extract root cert / leaf cert only", &[LEAF], "root", Ok(None)),
        ("extract root cert / root cert only", &[ROOT], "root", Ok(Some(ROOT))),
        ("extract root cert / full cert chain", &[LEAF, INTERMEDIATE, ROOT], "root", Ok(Some(ROOT))),
    ];
    for (name, files, kind, want) in cases {
        let input: Vec<u8> = files.iter().flat_map(|f| fixture(f)).collect();
        let got = filter_cert_chain(kind, &String::from_utf8(input).expect("PEM"));
        match (got, want) {
            (Ok(got), Ok(want)) => {
                let want = want.map(|f| String::from_utf8(fixture(f)).expect("PEM")).unwrap_or_default();
                assert_eq!(got, want, "case {name:?}");
            }
            (Err(_), Err(())) => {}
            (got, want) => panic!("case {name:?}: wanted {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn test_cert_sans() {
    let sans = String::from_utf8(fixture("sans.crt")).expect("PEM");
    let junk = format!("some junk\n{CERT}");
    let cases: [(&str, &str, Option<&str>); 5] = [
        ("extract DNS SANs from cert", CERT, Some(r#"["gooble.com"]"#)),
        ("invalid PEM input", "not a pem", None),
        ("empty input", "", None),
        ("cert with junk before PEM", &junk, Some(r#"["gooble.com"]"#)),
        (
            "cert from file with all types of SANs",
            &sans,
            Some(
                r#"["example.com","www.example.com","192.168.1.10","10.0.0.1","admin@example.com","https://example.com"]"#,
            ),
        ),
    ];
    for (name, input, want) in cases {
        let got = super::render("{{ .c | certSANs | toJson }}", &[("c", input.as_bytes())]);
        match (got, want) {
            (Ok(got), Some(want)) => assert_eq!(got, want, "case {name:?}"),
            (Err(e), None) => assert!(e.contains("certSANs: failed to decode PEM block"), "case {name:?}: {e}"),
            (got, want) => panic!("case {name:?}: wanted {want:?}, got {got:?}"),
        }
    }
}
