//! PEM and certificates: `filterPEM`, and the PKCS#12 functions
//! (`pkcs12key`, `pkcs12cert`, `pemToPkcs12`, `fullPemToPkcs12` and their
//! `…Pass` forms) over the reader and writer in `crate::pkcs12`, with
//! their key derivations charged to the object's budget.
//!
//! `filter_pem` reads PEM by hand, as `crate::pkcs12` does (see why
//! there): a BEGIN line, base64, the END line of the same label.

use std::sync::Arc;

use base64::Engine;
use gotmpl::{FuncMap, Value};
use zeroize::Zeroizing;

use super::{arg, checked, fail, s, text};
use crate::bytes::bytes_from_text;
use crate::pkcs12;
use crate::work::Work;

pub(super) fn register(fm: &mut FuncMap, salt_key: &[u8], work: &Arc<Work>) {
    fm.insert(
        "filterPEM".into(),
        Arc::new(|args: &[Value]| {
            let (kind, pem) = (text(arg(args, 0, "filterPEM", 2)?), text(arg(args, 1, "filterPEM", 2)?));
            filter_pem(&kind, &pem).map(s).map_err(|why| fail("filterPEM", &why))
        }),
    );
    for (name, with_pass, want_key) in [
        ("pkcs12key", false, true),
        ("pkcs12keyPass", true, true),
        ("pkcs12cert", false, false),
        ("pkcs12certPass", true, false),
    ] {
        let work = work.clone();
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
                let mut budget = work.kdf.lock().map_err(|_| fail(name, "an earlier call failed"))?;
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
        let (work, key) = (work.clone(), salt_key.to_vec());
        fm.insert(
            name.into(),
            Arc::new(move |args: &[Value]| {
                // Go's signatures: pemToPkcs12(cert, key), pemToPkcs12Pass(cert, key, pass).
                let n = if with_pass { 3 } else { 2 };
                let cert = text(arg(args, 0, name, n)?);
                let private = Zeroizing::new(text(arg(args, 1, name, n)?));
                let pass = Zeroizing::new(if with_pass { text(arg(args, 2, name, n)?) } else { String::new() });
                work.kdf
                    .lock()
                    .map_err(|_| fail(name, "an earlier call failed"))?
                    .charge(pkcs12::WRITE_COST)
                    .map_err(|why| fail(name, &why))?;
                let pfx = pkcs12::encode(&cert, &private, chain, &pass, &key).map_err(|why| fail(name, &why))?;
                checked(name, base64::engine::general_purpose::STANDARD.encode(pfx))
            }),
        );
    }
}

/// The PEM blocks of `kind` in `pem`, re-encoded as Go's `pem.Encode`
/// writes them (64-column base64); what ESO's `filterPEM` returns.
pub fn filter_pem(kind: &str, pem: &str) -> Result<String, String> {
    let begin = format!("-----BEGIN {kind}-----");
    let end = format!("-----END {kind}-----");
    let mut out = String::new();
    let mut rest = pem;
    while let Some(i) = rest.find(&begin) {
        let after = &rest[i + begin.len()..];
        let j = after.find(&end).ok_or("a PEM block has no END line")?;
        let body: String = after[..j].chars().filter(|c| !c.is_whitespace()).collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|_| "a PEM block is not base64")?;
        out.push_str(&begin);
        out.push('\n');
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            out.push('\n');
        }
        out.push_str(&end);
        out.push('\n');
        rest = &after[j + end.len()..];
    }
    if out.is_empty() {
        // The type is an argument, which a template may take from the
        // store (`filterPEM .` passes the whole data map): only a standard
        // label is named (found by fuzzing, fuzz/regressions/template_execute).
        return Err(match PEM_LABELS.contains(&kind) {
            true => format!("no PEM block of type {kind}"),
            false => "no PEM block of the type asked for (not named: it is not a standard PEM label)".to_owned(),
        });
    }
    Ok(out)
}

/// PEM labels (RFC 7468 and OpenSSL's) that `filterPEM` names in its
/// errors; any other type may be a stored value.
const PEM_LABELS: &[&str] = &[
    "CERTIFICATE",
    "TRUSTED CERTIFICATE",
    "CERTIFICATE REQUEST",
    "NEW CERTIFICATE REQUEST",
    "X509 CRL",
    "PRIVATE KEY",
    "ENCRYPTED PRIVATE KEY",
    "RSA PRIVATE KEY",
    "EC PRIVATE KEY",
    "DSA PRIVATE KEY",
    "OPENSSH PRIVATE KEY",
    "PUBLIC KEY",
    "RSA PUBLIC KEY",
    "EC PARAMETERS",
    "DH PARAMETERS",
    "PKCS7",
    "CMS",
    "ATTRIBUTE CERTIFICATE",
];
