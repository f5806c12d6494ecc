//! External Secrets Operator's `Password` generator tests
//! (`generators/v1/password/password_test.go`, ESO v2.9.0, commit
//! cc5bfbc2), under their names: each gives the generator a password
//! maker of its own, as ESO's do, and checks the keys and encodings. The
//! spec cases go through the CRD's reading, so a field the CRD would drop
//! fails them.

use zeroize::Zeroizing;

use super::passwords_made_by;
use crate::api::generator::{DEFAULT_SYMBOLS, Password, PasswordSpec};

/// The spec of ESO's `jsonSpec` (`{"spec": …}`), read as the controller
/// reads a Password object.
fn spec(json: &str) -> PasswordSpec {
    let object = serde_json::json!({
        "apiVersion": "seal.dev/v1alpha1",
        "kind": "Password",
        "metadata": {"name": "p"},
        "spec": serde_json::from_str::<serde_json::Value>(json).expect("json"),
    });
    serde_json::from_value::<Password>(object).expect("a Password").spec
}

fn fixed(p: &'static str) -> impl FnMut(&PasswordSpec) -> Result<Zeroizing<String>, String> {
    move |_| Ok(Zeroizing::new(p.to_owned()))
}

fn text(values: Vec<(String, Zeroizing<Vec<u8>>)>) -> Vec<(String, String)> {
    values.into_iter().map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned())).collect()
}

fn one(key: &str, value: &str) -> Vec<(String, String)> {
    vec![(key.to_owned(), value.to_owned())]
}

#[test]
fn empty_spec_should_return_defaults() {
    let s = spec("{}");
    let got = passwords_made_by(&s, |s| {
        assert_eq!(
            (s.length, s.digits, s.symbols, s.symbol_characters.as_deref(), s.no_upper, s.allow_repeat),
            (None, None, None, None, false, false),
            "defaults: 24 characters, 6 digits, 6 of {DEFAULT_SYMBOLS}"
        );
        Ok(Zeroizing::new("foobar".to_owned()))
    });
    assert_eq!(got.map(text), Ok(one("password", "foobar")));
}

#[test]
fn spec_should_override_defaults() {
    let s = spec(
        r#"{"length":48,"digits":2, "symbols":2, "symbolCharacters":"-_.", "noUpper": true, "allowRepeat": true}"#,
    );
    let got = passwords_made_by(&s, |s| {
        assert_eq!(
            (s.length, s.digits, s.symbols, s.symbol_characters.as_deref(), s.no_upper, s.allow_repeat),
            (Some(48), Some(2), Some(2), Some("-_."), true, true)
        );
        Ok(Zeroizing::new("foobar".to_owned()))
    });
    assert_eq!(got.map(text), Ok(one("password", "foobar")));
}

#[test]
fn generator_error_should_be_returned() {
    assert!(passwords_made_by(&spec("{}"), |_| Err("boom".to_owned())).is_err());
}

#[test]
fn spec_with_hex_encoding_should_encode_password_as_hex() {
    let got = passwords_made_by(&spec(r#"{"encoding":"hex"}"#), fixed("test_hex"));
    assert_eq!(got.map(text), Ok(one("password", "746573745f686578")));
}

#[test]
fn spec_with_raw_encoding_should_return_raw_password() {
    let got = passwords_made_by(&spec(r#"{"encoding":"raw"}"#), fixed("test_raw"));
    assert_eq!(got.map(text), Ok(one("password", "test_raw")));
}

#[test]
fn spec_with_base64_encoding_should_encode_password_as_base64() {
    let got = passwords_made_by(&spec(r#"{"encoding":"base64"}"#), fixed("test_base64"));
    assert_eq!(got.map(text), Ok(one("password", "dGVzdF9iYXNlNjQ=")));
}

#[test]
fn spec_with_base64url_encoding_should_encode_password_as_url_safe_base64_with_padding() {
    let got = passwords_made_by(&spec(r#"{"encoding":"base64url"}"#), fixed("Test>>Pass??word"));
    assert_eq!(got.map(text), Ok(one("password", "VGVzdD4-UGFzcz8_d29yZA==")));
}

#[test]
fn secret_keys_overrides_default_output_key() {
    let got = passwords_made_by(&spec(r#"{"secretKeys":["custom"]}"#), fixed("custom-pwd"));
    assert_eq!(got.map(text), Ok(one("custom", "custom-pwd")));
}

#[test]
fn multiple_secret_keys_generate_multiple_passwords() {
    let mut made = ["first-pass", "second-pass"].into_iter();
    let got = passwords_made_by(&spec(r#"{"secretKeys":["first","second"]}"#), |_| {
        made.next().map(|p| Zeroizing::new(p.to_owned())).ok_or_else(|| "a third password".to_owned())
    });
    let want = vec![("first".to_owned(), "first-pass".to_owned()), ("second".to_owned(), "second-pass".to_owned())];
    assert_eq!(got.map(text), Ok(want));
}

#[test]
fn empty_secret_keys_entry_should_error() {
    let got = passwords_made_by(&spec(r#"{"secretKeys":[""]}"#), fixed("x"));
    assert_eq!(got.map(text), Err("spec.secretKeys must be non-empty and unique".to_owned()));
}

#[test]
fn duplicate_secret_keys_entry_should_error() {
    let got = passwords_made_by(&spec(r#"{"secretKeys":["dup","dup"]}"#), fixed("x"));
    assert_eq!(got.map(text), Err("spec.secretKeys must be non-empty and unique".to_owned()));
}

// seal's own, beside ESO's.

#[test]
fn base32_is_rfc_4648s_with_padding() {
    // RFC 4648 section 10.
    for (plain, encoded) in [
        ("", ""),
        ("f", "MY======"),
        ("fo", "MZXQ===="),
        ("foo", "MZXW6==="),
        ("foob", "MZXW6YQ="),
        ("fooba", "MZXW6YTB"),
        ("foobar", "MZXW6YTBOI======"),
    ] {
        assert_eq!(seal_template::base32_encode(plain.as_bytes()), encoded, "{plain}");
    }
    let got = passwords_made_by(&spec(r#"{"encoding":"base32"}"#), fixed("foobar"));
    assert_eq!(got.map(text), Ok(one("password", "MZXW6YTBOI======")));
}

#[test]
fn a_field_esos_schema_may_gain_is_recorded_to_be_refused_and_keys_are_bounded() {
    assert_eq!(spec(r#"{"length": 8, "futureField": 1}"#).unsupported, ["spec.futureField"]);
    let many: Vec<String> = (0..=super::MAX_SECRET_KEYS).map(|i| format!("k{i}")).collect();
    let s = PasswordSpec { secret_keys: many, ..PasswordSpec::default() };
    assert!(passwords_made_by(&s, fixed("x")).is_err_and(|e| e.starts_with("spec.secretKeys has more than")));
}
