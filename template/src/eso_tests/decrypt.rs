//! `decrypt_test.go`: `rsaDecrypt`. ESO's cases make a 2048-bit key at run
//! time; here the key is ESO's `rsaDecryptPKRSAPKCS8` and the ciphertext
//! was made once with it (RSA-OAEP, SHA-256).

use base64::Engine;

use super::render;
use super::vectors::{RSA_DECRYPT_PK_RSA_PKCS8 as KEY, RSA_DECRYPT_SECRET_DATA_BASE64};

fn decrypt(scheme: &str, hash: &str, input: &[u8], key: &str) -> Result<String, String> {
    render(&format!("{{{{ rsaDecrypt {scheme:?} {hash:?} .in .key }}}}"), &[("in", input), ("key", key.as_bytes())])
}

#[test]
fn test_rsa_decrypt_none_scheme() {
    assert_eq!(decrypt("None", "SHA256", b"plaintext", "irrelevant").as_deref(), Ok("plaintext"));
}

#[test]
fn test_rsa_decrypt_invalid_pem() {
    let e = decrypt("RSA-OAEP", "SHA256", b"data", "not-a-valid-pem").expect_err("no PEM");
    assert!(e.ends_with("rsaDecrypt: failed to decode PEM block"), "{e}");
}

#[test]
fn test_rsa_decrypt_invalid_private_key() {
    let pem = crate::pkcs12::pem("CERTIFICATE", b"invalid");
    let e = decrypt("RSA-OAEP", "SHA256", b"data", &pem).expect_err("not a key");
    assert!(e.ends_with("rsaDecrypt: could not parse private key"), "{e}");
}

#[test]
fn test_rsa_decrypt_unsupported_scheme() {
    let e = decrypt("Unsupported", "SHA256", b"data", KEY).expect_err("no such scheme");
    assert!(e.contains("rsaDecrypt: the decryption scheme is not supported"), "{e}");
}

#[test]
fn test_rsa_decrypt_rsaoaep_success() {
    let c = base64::engine::general_purpose::STANDARD.decode(RSA_DECRYPT_SECRET_DATA_BASE64).expect("base64");
    assert_eq!(decrypt("RSA-OAEP", "SHA256", &c, KEY).as_deref(), Ok("secret-data"));
}

#[test]
fn test_rsa_decrypt_rsaoaep_decryption_error() {
    let e = decrypt("RSA-OAEP", "SHA256", b"not-encrypted-data", KEY).expect_err("not a ciphertext");
    assert!(e.ends_with("rsaDecrypt: error decrypting data with RSA"), "{e}");
}
