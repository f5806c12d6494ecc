//! PEM blocks and X.509 certificates as the PKCS#12 functions need them:
//! PEM reading and writing (Go's `encoding/pem` layout), the key
//! identifiers of a certificate, the order of a chain, and private keys as
//! PKCS#8. Hand-written for the reasons the module above gives; the PEM
//! reader takes labels and base64 only (no headers), which is what keys
//! and certificates in stores hold.

use zeroize::Zeroizing;

use super::der::{Der, EXPLICIT0, IMPLICIT0, INT, NULL, OCTETS, OID, SEQ, der_uint, oid, tlv};

/// A certificate's subject and authority key identifiers (empty when
/// absent), as Go's `x509.Certificate` exposes them.
pub(crate) fn cert_ids(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>), String> {
    let what = "a certificate";
    let mut cert = Der(der);
    let mut c = Der(cert.take(SEQ, what)?);
    cert.done(what)?;
    let mut tbs = Der(c.take(SEQ, what)?);
    if tbs.peek() == Some(EXPLICIT0) {
        tbs.next(what)?;
    }
    tbs.take(INT, what)?; // serial
    for _ in 0..5 {
        tbs.take(SEQ, what)?; // signature, issuer, validity, subject, public key
    }
    let (mut ski, mut aki) = (Vec::new(), Vec::new());
    while !tbs.is_empty() {
        let (tag, body, _) = tbs.next(what)?;
        if tag != 0xa3 {
            continue;
        }
        let mut exts = Der(Der(body).take(SEQ, what)?);
        while !exts.is_empty() {
            let mut ext = Der(exts.take(SEQ, what)?);
            let id = ext.take(OID, what)?;
            if ext.peek() == Some(0x01) {
                ext.next(what)?; // critical
            }
            let value = ext.take(OCTETS, what)?;
            match id {
                oid::SUBJECT_KEY_ID => ski = Der(value).take(OCTETS, what)?.to_vec(),
                oid::AUTHORITY_KEY_ID => {
                    let mut a = Der(Der(value).take(SEQ, what)?);
                    if a.peek() == Some(IMPLICIT0) {
                        aki = a.take(IMPLICIT0, what)?.to_vec();
                    }
                }
                _ => {}
            }
        }
    }
    Ok((ski, aki))
}

/// The certificates leaf first, each followed by its issuer, matched by
/// key identifiers as ESO's `pkcs12cert` orders them; `None` when they do
/// not form one chain (ESO then keeps the file's order).
pub fn order_chain(certs: &[Vec<u8>]) -> Option<Vec<usize>> {
    let ids: Vec<(Vec<u8>, Vec<u8>)> = certs.iter().map(|c| cert_ids(c)).collect::<Result<_, _>>().ok()?;
    let n = ids.len();
    let mut parent: Vec<Option<usize>> = vec![None; n];
    let mut is_parent = vec![false; n];
    for (i, (_, aki)) in ids.iter().enumerate() {
        if let Some(j) = (0..n).find(|&j| j != i && ids.get(j).is_some_and(|(ski, _)| ski == aki))
            && let (Some(p), Some(flag)) = (parent.get_mut(i), is_parent.get_mut(j))
        {
            *p = Some(j);
            *flag = true;
        }
    }
    let mut leaves = (0..n).filter(|&i| !is_parent.get(i).copied().unwrap_or(true));
    let leaf = leaves.next()?;
    if leaves.next().is_some() {
        return None;
    }
    let mut order = Vec::new();
    let mut at = Some(leaf);
    while let Some(i) = at {
        if order.len() >= n {
            return None; // a cycle
        }
        order.push(i);
        at = parent.get(i).copied().flatten();
    }
    Some(order)
}

/// One PEM block as Go's `pem.Encode` writes it.
pub fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A PEM block: its label and its DER.
pub type PemBlock = (String, Zeroizing<Vec<u8>>);

/// The PEM blocks of a text, in order.
pub fn pem_blocks(text: &str) -> Result<Vec<PemBlock>, String> {
    use base64::Engine;
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("-----BEGIN ") {
        let after = rest.get(i + 11..).unwrap_or_default();
        let j = after.find("-----").ok_or("a PEM BEGIN line is not closed")?;
        let label = after.get(..j).unwrap_or_default().to_owned();
        let body_start = after.get(j + 5..).unwrap_or_default();
        let end = format!("-----END {label}-----");
        let k = body_start.find(&end).ok_or("a PEM block has no END line")?;
        let body: String = body_start.get(..k).unwrap_or_default().chars().filter(|c| !c.is_whitespace()).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|_| "a PEM block is not base64 (headers in PEM blocks are not supported)")?;
        out.push((label, Zeroizing::new(der)));
        rest = body_start.get(k + end.len()..).unwrap_or_default();
    }
    Ok(out)
}

/// A private key from PEM as PKCS#8 DER, as Go's `x509.MarshalPKCS8PrivateKey`
/// writes it after ESO's parse: PKCS#8 as it is, PKCS#1 RSA and SEC 1 EC keys
/// wrapped.
pub(crate) fn pkcs8_from_pem(text: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    let (label, der) = pem_blocks(text)?.into_iter().next().ok_or("the key is not PEM")?;
    match label.as_str() {
        "PRIVATE KEY" => {
            let mut d = Der(&der);
            d.take(SEQ, "the private key")?;
            d.done("the private key")?;
            Ok(der)
        }
        "RSA PRIVATE KEY" => {
            let alg = tlv(SEQ, &[&tlv(OID, &[oid::RSA]), &tlv(NULL, &[])]);
            Ok(Zeroizing::new(tlv(SEQ, &[&der_uint(0), &alg, &tlv(OCTETS, &[&der])])))
        }
        "EC PRIVATE KEY" => {
            // ECPrivateKey { version, privateKey, [0] parameters, [1] publicKey }:
            // the curve moves to the algorithm, as Go writes it.
            let what = "the EC private key";
            let mut d = Der(Der(&der).take(SEQ, what)?);
            let version = d.take_whole(INT, what)?;
            let private = d.take_whole(OCTETS, what)?;
            let curve = Der(d.take(EXPLICIT0, what)?).take_whole(OID, what)?;
            let public = if d.peek() == Some(0xa1) { d.take_whole(0xa1, what)? } else { &[] };
            let inner = tlv(SEQ, &[version, private, public]);
            let alg = tlv(SEQ, &[&tlv(OID, &[oid::EC_PUBLIC_KEY]), curve]);
            Ok(Zeroizing::new(tlv(SEQ, &[&der_uint(0), &alg, &tlv(OCTETS, &[&inner])])))
        }
        _ => Err("the key is not a PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)".into()),
    }
}

/// Certificates from PEM (DER each), checked to be X.509.
pub(crate) fn certs_from_pem(text: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    for (_, der) in pem_blocks(text)? {
        cert_ids(&der)?;
        out.push(der.to_vec());
    }
    Ok(out)
}
