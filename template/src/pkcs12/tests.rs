use super::der::tlv;
use super::*;

const MODERN: &str = include_str!("../../testdata/pkcs12/modern.p12.b64");

fn b64(x: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(x.split_whitespace().collect::<String>()).expect("fixture")
}

#[test]
fn reads_openssl_files_of_every_scheme_to_the_key_and_chain_openssl_reads() {
    let key = include_str!("../../testdata/pkcs12/leaf.key");
    let leaf = include_str!("../../testdata/pkcs12/leaf.crt");
    let ca = include_str!("../../testdata/pkcs12/ca.crt");
    for (file, pass, chain) in [
        (MODERN, "my-password", true),
        (include_str!("../../testdata/pkcs12/des.p12.b64"), "my-password", true),
        (include_str!("../../testdata/pkcs12/rc2.p12.b64"), "my-password", false),
        (include_str!("../../testdata/pkcs12/nopass.p12.b64"), "", false),
    ] {
        let got = decode(&b64(file), pass, &mut Budget::default()).expect("reads");
        assert_eq!(pem("PRIVATE KEY", &got.key), key);
        let certs: String = got.certs.iter().map(|c| pem("CERTIFICATE", c)).collect();
        assert_eq!(certs, if chain { format!("{leaf}{ca}") } else { leaf.to_owned() });
    }
}

#[test]
fn a_wrong_password_or_a_changed_byte_is_refused_by_the_mac() {
    let file = b64(MODERN);
    let e = decode(&file, "not-it", &mut Budget::default()).err().expect("refused");
    assert!(e.contains("MAC does not match"), "{e}");
    let mut changed = file.clone();
    let at = changed.len() / 2;
    changed[at] ^= 1;
    assert!(decode(&changed, "my-password", &mut Budget::default()).is_err());
}

#[test]
fn iteration_counts_are_charged_before_any_derivation_runs() {
    // A file that asks for 2^31 iterations must fail at once, not after
    // minutes of hashing: the budget is checked first.
    let file = b64(MODERN);
    let mut budget = Budget(1000);
    let e = decode(&file, "my-password", &mut budget).err().expect("over budget");
    assert!(e.contains("more iterations"), "{e}");
    // The budget is per execution: a second file reads only with what is left.
    let mut budget = Budget(2048 * 3);
    decode(&file, "my-password", &mut budget).expect("first read fits");
    assert!(decode(&file, "my-password", &mut budget).is_err());
}

#[test]
fn every_truncation_and_a_ber_length_give_an_error_not_a_panic() {
    let file = b64(MODERN);
    for n in 0..file.len() {
        assert!(decode(&file[..n], "my-password", &mut Budget::default()).is_err());
    }
    let mut ber = file.clone();
    ber[1] = 0x80;
    let e = decode(&ber, "my-password", &mut Budget::default()).err().expect("BER");
    assert!(e.contains("indefinite"), "{e}");
}

#[test]
fn written_files_read_back_and_are_stable_for_the_same_input() {
    let key = include_str!("../../testdata/pkcs12/leaf.key");
    let chain =
        format!("{}{}", include_str!("../../testdata/pkcs12/leaf.crt"), include_str!("../../testdata/pkcs12/ca.crt"));
    let a = encode(&chain, key, true, "pw", b"controller key").expect("encodes");
    assert_eq!(a, encode(&chain, key, true, "pw", b"controller key").expect("encodes"));
    assert_ne!(a, encode(&chain, key, true, "pw", b"another key").expect("encodes"));
    let back = decode(&a, "pw", &mut Budget::default()).expect("reads back");
    assert_eq!(pem("PRIVATE KEY", &back.key), key);
    assert_eq!(back.certs.len(), 2);
    let single = encode(&chain, key, false, "", b"k").expect("encodes");
    assert_eq!(decode(&single, "", &mut Budget::default()).expect("reads").certs.len(), 1);
}

/// A key bag and a certificate bag, unencrypted, as the content of an
/// AuthenticatedSafe (what the `pkcs12_decode` fuzz target's seeds hold).
fn plain_bags() -> (Vec<u8>, Vec<u8>) {
    let key = pem_blocks(include_str!("../../testdata/pkcs12/leaf.key")).expect("pem").remove(0).1;
    let cert = pem_blocks(include_str!("../../testdata/pkcs12/leaf.crt")).expect("pem").remove(0).1;
    let bags = tlv(
        SEQ,
        &[
            &tlv(SEQ, &[&tlv(OID, &[oid::KEY_BAG]), &tlv(EXPLICIT0, &[&key])]),
            &tlv(
                SEQ,
                &[
                    &tlv(OID, &[oid::CERT_BAG]),
                    &tlv(
                        EXPLICIT0,
                        &[&tlv(SEQ, &[&tlv(OID, &[oid::X509_CERT]), &tlv(EXPLICIT0, &[&tlv(OCTETS, &[&cert])])])],
                    ),
                ],
            ),
        ],
    );
    let auth_safe = tlv(SEQ, &[&tlv(SEQ, &[&tlv(OID, &[oid::DATA]), &tlv(EXPLICIT0, &[&tlv(OCTETS, &[&bags])])])]);
    (auth_safe, cert.to_vec())
}

/// Mutations of the contents behind a valid MAC are the `pkcs12_decode`
/// fuzz target's (it computes the MAC itself); this checks that the
/// wrapper it uses gives a file the reader accepts, and that one changed
/// byte of the contents is then refused by the parser, not by the MAC.
#[test]
fn plain_bags_behind_a_valid_mac_are_read() {
    let (auth_safe, cert) = plain_bags();
    let good = decode(&with_mac(&auth_safe, "pw"), "pw", &mut Budget::default()).expect("the file reads");
    assert_eq!(good.certs, vec![cert]);
    assert!(decode(&with_mac(&auth_safe, "pw"), "other", &mut Budget::default()).is_err());
    let mut cut = auth_safe.clone();
    cut[1] = cut[1].wrapping_add(1);
    let e = decode(&with_mac(&cut, "pw"), "pw", &mut Budget::default()).err().expect("refused");
    assert!(!e.contains("MAC"), "{e}");
}

#[test]
fn a_chain_is_ordered_leaf_first_by_key_identifiers() {
    let blocks = pem_blocks(&format!(
        "{}{}",
        include_str!("../../testdata/pkcs12/ca.crt"),
        include_str!("../../testdata/pkcs12/leaf.crt")
    ))
    .expect("pem");
    let certs: Vec<Vec<u8>> = blocks.into_iter().map(|(_, d)| d.to_vec()).collect();
    assert_eq!(order_chain(&certs), Some(vec![1, 0]));
}
