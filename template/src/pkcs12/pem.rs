//! PEM blocks and X.509 certificates as the PKCS#12 functions need them:
//! PEM reading and writing (Go's `encoding/pem` layout), the key
//! identifiers of a certificate, the order of a chain, and private keys as
//! PKCS#8. Hand-written for the reasons the module above gives; the PEM
//! reader takes labels and base64 only (no headers), which is what keys
//! and certificates in stores hold.

use zeroize::Zeroizing;

use super::der::{Der, EXPLICIT0, IMPLICIT0, INT, NULL, OCTETS, OID, SEQ, SET, der_uint, oid, tlv};

/// An extension's OID and value.
pub(crate) type Extension<'a> = (&'a [u8], &'a [u8]);

/// A certificate's extensions: each one's OID and value (the content of
/// its OCTET STRING), in order.
pub(crate) fn extensions(der: &[u8]) -> Result<Vec<Extension<'_>>, String> {
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
    let mut out = Vec::new();
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
            out.push((id, ext.take(OCTETS, what)?));
        }
    }
    Ok(out)
}

/// A certificate's subject and authority key identifiers (empty when
/// absent), as Go's `x509.Certificate` exposes them.
pub(crate) fn cert_ids(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>), String> {
    let what = "a certificate";
    let (mut ski, mut aki) = (Vec::new(), Vec::new());
    for (id, value) in extensions(der)? {
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
    Ok((ski, aki))
}

/// A certificate's subject alternative names as Go's `x509` gives them and
/// ESO's `certSANs` lists them: DNS names, then IP addresses, then e-mail
/// addresses, then URIs.
pub(crate) fn cert_sans(der: &[u8]) -> Result<Vec<String>, String> {
    let what = "the subject alternative names";
    let (mut dns, mut ips, mut emails, mut uris) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (id, value) in extensions(der)? {
        if id != oid::SUBJECT_ALT_NAME {
            continue;
        }
        let mut names = Der(Der(value).take(SEQ, what)?);
        while !names.is_empty() {
            let (tag, body, _) = names.next(what)?;
            let text = || String::from_utf8(body.to_vec()).map_err(|_| format!("{what} are not ASCII"));
            match tag {
                0x81 => emails.push(text()?),
                0x82 => dns.push(text()?),
                0x86 => uris.push(text()?),
                0x87 => ips.push(match body.len() {
                    4 => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(body).map_err(|_| "an IP address")?).to_string(),
                    16 => {
                        let v6 = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(body).map_err(|_| "an IP address")?);
                        // Go prints an IPv4-mapped address as IPv4.
                        v6.to_ipv4_mapped().map_or_else(|| v6.to_string(), |v4| v4.to_string())
                    }
                    _ => return Err(format!("{what} hold an IP address of neither 4 nor 16 bytes")),
                }),
                _ => {}
            }
        }
    }
    Ok(dns.into_iter().chain(ips).chain(emails).chain(uris).collect())
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

/// A certificate's subject as Go's `pkix.Name.String()` writes it (what
/// go-pkcs12 names a trust store's entries by): RFC 2253 order (the last
/// RDN first), Go's short names for the attributes it parses into fields
/// and `OID=#hex` for the others, RFC 2253 escapes.
pub(crate) fn subject_string(der: &[u8]) -> Result<String, String> {
    let what = "a certificate's subject";
    let mut cert = Der(der);
    let mut c = Der(cert.take(SEQ, what)?);
    let mut tbs = Der(c.take(SEQ, what)?);
    if tbs.peek() == Some(EXPLICIT0) {
        tbs.next(what)?;
    }
    tbs.take(INT, what)?; // serial
    for _ in 0..3 {
        tbs.take(SEQ, what)?; // signature, issuer, validity
    }
    let mut rdns = Der(tbs.take(SEQ, what)?);
    // Go's fields, in the order `ToRDNSequence` writes them (reversed below).
    const FIELDS: [(u8, &str); 9] = [
        (6, "C"),
        (8, "ST"),
        (7, "L"),
        (9, "STREET"),
        (17, "POSTALCODE"),
        (10, "O"),
        (11, "OU"),
        (3, "CN"),
        (5, "SERIALNUMBER"),
    ];
    let mut fields: Vec<Vec<String>> = vec![Vec::new(); FIELDS.len()];
    let mut others: Vec<String> = Vec::new();
    while !rdns.is_empty() {
        let mut set = Der(rdns.take(SET, what)?);
        while !set.is_empty() {
            let mut atv = Der(set.take(SEQ, what)?);
            let id = atv.take(OID, what)?;
            let (tag, body, whole) = atv.next(what)?;
            let value = asn1_string(tag, body);
            let field = match id {
                [0x55, 0x04, n] => FIELDS.iter().position(|(f, _)| f == n),
                _ => None,
            };
            match (field, value) {
                // Go keeps one common name and serial number: the last.
                (Some(i @ (7 | 8)), Some(v)) => {
                    if let Some(f) = fields.get_mut(i) {
                        *f = vec![v];
                    }
                }
                (Some(i), Some(v)) => fields.get_mut(i).into_iter().for_each(|f| f.push(v.clone())),
                (Some(_), None) => {}
                (None, value) => {
                    let marshalled = match value {
                        Some(v) => go_marshal_string(&v),
                        None => whole.to_vec(),
                    };
                    others.push(format!("{}=#{}", oid_string(id), hex::encode(marshalled)));
                }
            }
        }
    }
    let mut parts: Vec<String> = Vec::new();
    for (i, (_, name)) in FIELDS.iter().enumerate().rev() {
        if let Some(values) = fields.get(i).filter(|v| !v.is_empty()) {
            parts.push(values.iter().map(|v| format!("{name}={}", rfc2253_escape(v))).collect::<Vec<_>>().join("+"));
        }
    }
    parts.extend(others.into_iter().rev());
    Ok(parts.join(","))
}

/// The text of an ASN.1 string type as Go's `encoding/asn1` reads it.
fn asn1_string(tag: u8, body: &[u8]) -> Option<String> {
    match tag {
        0x0c | 0x13 | 0x16 => String::from_utf8(body.to_vec()).ok(),
        0x14 => Some(body.iter().map(|b| char::from(*b)).collect()),
        0x1e => {
            let units: Vec<u16> = body
                .chunks(2)
                .map(|c| u16::from_be_bytes([c.first().copied()?, c.get(1).copied()?]).into())
                .collect::<Option<_>>()?;
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

/// Go's `asn1.Marshal` of a string: a PrintableString when every character
/// is one, else a UTF8String.
fn go_marshal_string(v: &str) -> Vec<u8> {
    let printable = v.bytes().all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b));
    tlv(if printable { 0x13 } else { 0x0c }, &[v.as_bytes()])
}

/// An OID in dotted form.
fn oid_string(id: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    for b in id {
        acc = acc.saturating_mul(128).saturating_add(u64::from(b & 0x7f));
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (acc / 40).min(2);
                arcs.push(first);
                arcs.push(acc.saturating_sub(first * 40));
            } else {
                arcs.push(acc);
            }
            acc = 0;
        }
    }
    arcs.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
}

/// RFC 2253 escapes, as Go's `RDNSequence.String` writes them.
fn rfc2253_escape(v: &str) -> String {
    let last = v.chars().count().saturating_sub(1);
    let mut out = String::with_capacity(v.len());
    for (k, c) in v.chars().enumerate() {
        let escape = match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => true,
            ' ' => k == 0 || k == last,
            '#' => k == 0,
            _ => false,
        };
        if escape {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
