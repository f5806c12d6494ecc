//! PEM and certificates: `filterPEM`, `filterCertChain`, `certSANs`, and
//! the PKCS#12 functions (`pkcs12key`, `pkcs12cert`, `pemToPkcs12`,
//! `fullPemToPkcs12`, `pemTruststoreToPKCS12` and their `…Pass` forms)
//! over the reader and writer in `crate::pkcs12`, with their key
//! derivations charged to the object's budget. PEM is read as Go's
//! `encoding/pem` reads it (`crate::gopem`).

use std::sync::Arc;

use base64::Engine;
use gotmpl::{FuncMap, Value};
use zeroize::Zeroizing;

use super::{arg, checked, current, fail, s, text};
use crate::bytes::{bytes_from_text, text_from_bytes};
use crate::{gopem, pkcs12};

pub(super) fn register(fm: &mut FuncMap) {
    fm.insert(
        "filterPEM".into(),
        Arc::new(|args: &[Value]| {
            let (kind, pem) = (text(arg(args, 0, "filterPEM", 2)?), text(arg(args, 1, "filterPEM", 2)?));
            filter_pem(&kind, &pem).map(s).map_err(|why| fail("filterPEM", &why))
        }),
    );
    fm.insert(
        "filterCertChain".into(),
        Arc::new(|args: &[Value]| {
            let (kind, pem) = (text(arg(args, 0, "filterCertChain", 2)?), text(arg(args, 1, "filterCertChain", 2)?));
            filter_cert_chain(&kind, &pem).map(s).map_err(|why| fail("filterCertChain", &why))
        }),
    );
    fm.insert(
        "certSANs".into(),
        Arc::new(|args: &[Value]| {
            let pem = bytes_from_text(&text(arg(args, 0, "certSANs", 1)?));
            let (block, _) = gopem::decode(gopem::trim_junk(&pem));
            let block = block.ok_or_else(|| fail("certSANs", "failed to decode PEM block"))?;
            let sans = pkcs12::cert_sans(&block.bytes)
                .map_err(|why| fail("certSANs", &format!("failed to parse certificate: {why}")))?;
            Ok(Value::List(sans.into_iter().map(s).collect::<Vec<_>>().into()))
        }),
    );
    for (name, with_pass) in [("pemTruststoreToPKCS12", false), ("pemTruststoreToPKCS12Pass", true)] {
        fm.insert(
            name.into(),
            Arc::new(move |args: &[Value]| {
                // Go's signatures: pemTruststoreToPKCS12(certs), …Pass(certs, pass).
                let n = if with_pass { 2 } else { 1 };
                let certs = text(arg(args, 0, name, n)?);
                let pass = Zeroizing::new(if with_pass { text(arg(args, 1, name, n)?) } else { String::new() });
                let scope = current(name)?;
                let (work, key) = (&scope.work, &scope.salt_key);
                work.kdf
                    .lock()
                    .map_err(|_| fail(name, "an earlier call failed"))?
                    .charge(pkcs12::WRITE_COST)
                    .map_err(|why| fail(name, &why))?;
                let pfx = pkcs12::encode_truststore(&certs, &pass, key).map_err(|why| fail(name, &why))?;
                checked(name, base64::engine::general_purpose::STANDARD.encode(pfx))
            }),
        );
    }
    for (name, with_pass, want_key) in [
        ("pkcs12key", false, true),
        ("pkcs12keyPass", true, true),
        ("pkcs12cert", false, false),
        ("pkcs12certPass", true, false),
    ] {
        fm.insert(
            name.into(),
            Arc::new(move |args: &[Value]| {
                // Go's signatures: pkcs12key(input), pkcs12keyPass(pass, input).
                let (pass, input) = if with_pass {
                    (text(arg(args, 0, name, 2)?), text(arg(args, 1, name, 2)?))
                } else {
                    (String::new(), text(arg(args, 0, name, 1)?))
                };
                let (pass, input) = (Zeroizing::new(pass), Zeroizing::new(bytes_from_text(&input)));
                let scope = current(name)?;
                let mut budget = scope.work.kdf.lock().map_err(|_| fail(name, "an earlier call failed"))?;
                let got = pkcs12::decode(&input, &pass, &mut budget)
                    .map_err(|why| fail(name, &format!("unable to decode the PKCS#12 file: {why}")))?;
                if want_key {
                    return Ok(s(pkcs12::pem("PRIVATE KEY", &got.key)));
                }
                let order = pkcs12::order_chain(&got.certs).unwrap_or_else(|| (0..got.certs.len()).collect());
                Ok(s(order
                    .iter()
                    .filter_map(|i| got.certs.get(*i))
                    .map(|c| pkcs12::pem("CERTIFICATE", c))
                    .collect::<String>()))
            }),
        );
    }
    for (name, with_pass, chain) in [
        ("pemToPkcs12", false, false),
        ("pemToPkcs12Pass", true, false),
        ("fullPemToPkcs12", false, true),
        ("fullPemToPkcs12Pass", true, true),
    ] {
        fm.insert(
            name.into(),
            Arc::new(move |args: &[Value]| {
                // Go's signatures: pemToPkcs12(cert, key), pemToPkcs12Pass(cert, key, pass).
                let n = if with_pass { 3 } else { 2 };
                let cert = text(arg(args, 0, name, n)?);
                let private = Zeroizing::new(text(arg(args, 1, name, n)?));
                let pass = Zeroizing::new(if with_pass { text(arg(args, 2, name, n)?) } else { String::new() });
                let scope = current(name)?;
                let (work, key) = (&scope.work, &scope.salt_key);
                work.kdf
                    .lock()
                    .map_err(|_| fail(name, "an earlier call failed"))?
                    .charge(pkcs12::WRITE_COST)
                    .map_err(|why| fail(name, &why))?;
                let pfx = pkcs12::encode(&cert, &private, chain, &pass, key).map_err(|why| fail(name, &why))?;
                checked(name, base64::engine::general_purpose::STANDARD.encode(pfx))
            }),
        );
    }
}

/// ESO's `filterPEM`: the PEM blocks whose type is `kind` (compared
/// case-insensitively, as ESO does), re-encoded as Go's `pem.Encode`
/// writes them. Junk before the first block and after the last is
/// skipped; no block of the type gives the empty string, as in ESO; junk
/// where no block of the type is found is an error.
pub fn filter_pem(kind: &str, pem: &str) -> Result<String, String> {
    let bytes = bytes_from_text(pem);
    let (blocks, rest) = gopem::blocks(gopem::trim_junk(&bytes));
    let out: String =
        blocks.iter().filter(|b| b.kind.to_lowercase() == kind.to_lowercase()).map(gopem::encode).collect();
    if out.is_empty() && !rest.is_empty() {
        return Err("error filtering pem: found junk".into());
    }
    Ok(text_from_bytes(out.as_bytes()))
}

/// ESO's `filterCertChain`: of a chain of PEM certificates (ordered leaf
/// first by key identifiers), the `leaf`, the `intermediate` ones or the
/// `root`; the empty string when the chain has none, or for another kind.
pub fn filter_cert_chain(kind: &str, pem: &str) -> Result<String, String> {
    let bytes = bytes_from_text(pem);
    let (blocks, _) = gopem::blocks(&bytes);
    let mut certs = Vec::new();
    for b in blocks {
        pkcs12::cert_ids(&b.bytes).map_err(|why| format!("a PEM block is not a certificate: {why}"))?;
        certs.push(b.bytes);
    }
    if certs.is_empty() {
        return Err("no leaf certificate found".into());
    }
    let order = pkcs12::order_chain(&certs)
        .ok_or("the certificates do not form one chain (several leaves or disjunct certificates, or a cycle)")?;
    type Ids = (Vec<u8>, Vec<u8>);
    let ordered: Vec<(&Vec<u8>, Ids)> = order
        .iter()
        .filter_map(|i| certs.get(*i))
        .map(|c| Ok((c, pkcs12::cert_ids(c)?)))
        .collect::<Result<_, String>>()?;
    // Go: a root has no authority key identifier, or its own.
    let is_root = |(ski, aki): &(Vec<u8>, Vec<u8>)| aki.is_empty() || aki == ski;
    let pem = |c: &Vec<u8>| pkcs12::pem("CERTIFICATE", c);
    Ok(match kind {
        "leaf" => match ordered.first() {
            Some((c, (ski, aki))) if !aki.is_empty() && aki != ski => pem(c),
            _ => String::new(),
        },
        "intermediate" => ordered.iter().skip(1).take_while(|(_, ids)| !is_root(ids)).map(|(c, _)| pem(c)).collect(),
        "root" => match ordered.last() {
            Some((c, ids)) if is_root(ids) => pem(c),
            _ => String::new(),
        },
        _ => String::new(),
    })
}
