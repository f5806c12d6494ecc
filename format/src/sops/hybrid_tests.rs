use std::str::FromStr;

use age::{Identity as _, Recipient as _};
use age_core::format::{FileKey, Stanza};
use age_core::secrecy::ExposeSecret;

use super::*;

/// The example identity of C2SP's age specification.
const SPEC_IDENTITY: &str = "AGE-SECRET-KEY-PQ-1XX76JRALNLXDMEW0CRK45QMCCH4X06SE84UN3VPM33W6HWDX0H3SK3ZQFR";

fn file_key() -> FileKey {
    FileKey::new(Box::new(*b"YELLOW SUBMARINE"))
}

#[test]
fn the_specification_example_identity_gives_its_example_recipient() {
    let want = include_str!("hybrid_spec_recipient.txt").trim();
    let id = HybridIdentity::parse(SPEC_IDENTITY).unwrap();
    assert_eq!(id.to_public().to_string(), want);
    assert_eq!(&*id.to_secret_string(), SPEC_IDENTITY);
    assert_eq!(HybridRecipient::parse(want).unwrap().to_string(), want);
}

#[test]
fn a_wrapped_file_key_unwraps_with_the_identity_and_carries_the_postquantum_label() {
    let id = HybridIdentity::generate().unwrap();
    let (stanzas, labels) = id.to_public().wrap_file_key(&file_key()).unwrap();
    assert_eq!(labels.into_iter().collect::<Vec<_>>(), vec!["postquantum".to_owned()]);
    assert_eq!(stanzas.len(), 1);
    assert_eq!(stanzas[0].tag, "mlkem768x25519");
    assert_eq!(stanzas[0].args.len(), 1);
    assert_eq!(stanzas[0].body.len(), 32);
    let got = id.unwrap_stanzas(&stanzas).unwrap().unwrap();
    assert_eq!(got.expose_secret(), b"YELLOW SUBMARINE");
    // Another identity does not match (ML-KEM's implicit rejection, then the tag).
    let other = HybridIdentity::generate().unwrap();
    assert!(other.unwrap_stanzas(&stanzas).is_none());
}

#[test]
fn stanzas_of_other_types_are_ignored_and_malformed_ones_refused() {
    let id = HybridIdentity::generate().unwrap();
    let (mut stanzas, _) = id.to_public().wrap_file_key(&file_key()).unwrap();
    let good = stanzas.remove(0);
    let x25519 = Stanza { tag: "X25519".into(), args: good.args.clone(), body: good.body.clone() };
    assert!(id.unwrap_stanza(&x25519).is_none());
    let with = |args: Vec<String>, body: Vec<u8>| Stanza { tag: good.tag.clone(), args, body };
    let enc = good.args[0].clone();
    let cases = [
        ("no argument", with(vec![], good.body.clone())),
        ("two arguments", with(vec![enc.clone(), "x".into()], good.body.clone())),
        ("short enc", with(vec![enc[..100].to_owned()], good.body.clone())),
        ("long body", with(vec![enc.clone()], vec![0; 48])),
        ("empty body", with(vec![enc.clone()], vec![])),
        ("not base64", with(vec!["!".repeat(enc.len())], good.body.clone())),
    ];
    for (name, s) in cases {
        assert!(matches!(id.unwrap_stanza(&s), Some(Err(age::DecryptError::InvalidHeader))), "{name}");
    }
}

#[test]
fn recipients_and_identities_of_the_wrong_shape_are_refused_without_panicking() {
    let id = HybridIdentity::generate().unwrap();
    let r = id.to_public().to_string();
    // The last character swapped for another one, so the checksum breaks
    // (a fixed replacement would equal the original one time in 32).
    let last_changed = format!("{}{}", &r[..r.len() - 1], if r.ends_with('q') { 'p' } else { 'q' });
    for bad in [
        "",
        "age1pq1",
        "age1pq1qqqq",
        &r[..r.len() - 1],
        &last_changed,
        &r.to_uppercase(),
        "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq",
    ] {
        assert!(HybridRecipient::parse(bad).is_err(), "{bad:.40}");
    }
    // A 1216-byte key whose first ML-KEM coefficient is q (3329 = 0xd01).
    let mut bytes = id.to_public().to_bytes().to_vec();
    bytes[0] = 0x01;
    bytes[1] = (bytes[1] & 0xf0) | 0x0d;
    let s = bech32_encode(bech32::Hrp::parse_unchecked(RECIPIENT_HRP), &bytes);
    assert_eq!(
        HybridRecipient::parse(&s).err(),
        Some(KeyError("the ML-KEM-768 key is not canonical (a coefficient is not below q)"))
    );
    for bad in ["AGE-SECRET-KEY-PQ-1", "AGE-SECRET-KEY-1QQQQ", &SPEC_IDENTITY[..SPEC_IDENTITY.len() - 2]] {
        assert!(HybridIdentity::parse(bad).is_err(), "{bad:.25}");
    }
    // 33 bytes under the right prefix.
    let long = bech32_encode(bech32::Hrp::parse_unchecked(IDENTITY_HRP), &[7u8; 33]).to_uppercase();
    assert!(HybridIdentity::parse(&long).is_err());
    // The lower-case form is the same identity.
    assert!(HybridIdentity::parse(&SPEC_IDENTITY.to_lowercase()).is_ok());
    // An X25519 identity is not a hybrid one, nor the reverse.
    assert!(age::x25519::Identity::from_str(SPEC_IDENTITY).is_err());
}

#[test]
fn an_x25519_share_of_low_order_is_refused_when_sealing() {
    let id = HybridIdentity::generate().unwrap();
    let mut bytes = id.to_public().to_bytes().to_vec();
    let n = bytes.len();
    bytes[n - 32..].fill(0);
    let s = bech32_encode(bech32::Hrp::parse_unchecked(RECIPIENT_HRP), &bytes);
    let r = HybridRecipient::parse(&s).unwrap();
    assert!(r.wrap_file_key(&file_key()).is_err());
}

#[test]
fn an_identity_zeroizes_its_secrets_on_drop_and_its_debug_shows_the_recipient_only() {
    fn zeroized_on_drop<T: zeroize::ZeroizeOnDrop>() {}
    zeroized_on_drop::<HybridIdentity>();
    zeroized_on_drop::<DecapsulationKey>();
    let id = HybridIdentity::parse(SPEC_IDENTITY).unwrap();
    let shown = format!("{id:?}");
    let recipient = id.to_public().to_string();
    assert_eq!(shown, format!("HybridIdentity {{ recipient: {}…, .. }}", &recipient[..16]));
    let data = &SPEC_IDENTITY["AGE-SECRET-KEY-PQ-1".len()..];
    for part in data.as_bytes().chunks(8).map(|c| std::str::from_utf8(c).unwrap()) {
        assert!(!shown.to_uppercase().contains(part), "{shown} shows {part}");
    }
}
