//! Go's `encoding/pem` as ESO's PEM functions use it: `Decode` (a block
//! starts with `-----BEGIN ` at the start of the text or of a line; a
//! malformed block is skipped and the search goes on; junk before the
//! first block is skipped) and `Encode` (headers sorted, `Proc-Type`
//! first, base64 in 64-column lines). On bytes, as Go's are: the callers
//! turn engine text into bytes first (`bytes_from_text`).
//!
//! Hand-written, as `crate::pkcs12`'s reader is: what ESO's results depend
//! on is exactly where Go's decoder finds blocks and what it skips, which
//! no PEM crate reproduces; it is a few loops over a slice, no recursion.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

const BEGIN: &[u8] = b"\n-----BEGIN ";
const END: &[u8] = b"\n-----END ";
const DASHES: &[u8] = b"-----";

/// Go's `base64.StdEncoding` when decoding: padding required, trailing
/// bits accepted.
const GO_STD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// One PEM block: its type, headers (in the order read) and bytes.
pub struct Block {
    pub kind: String,
    pub headers: Vec<(String, String)>,
    pub bytes: Vec<u8>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Go's `getLine`: the line (without `\r\n`, trailing spaces and tabs)
/// and what follows it.
fn line(data: &[u8]) -> (&[u8], &[u8]) {
    let (mut i, j) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (i, i + 1),
        None => (data.len(), data.len()),
    };
    if i > 0 && data.get(i - 1) == Some(&b'\r') && j > i {
        i -= 1;
    }
    let mut l = data.get(..i).unwrap_or_default();
    while let [rest @ .., b' ' | b'\t'] = l {
        l = rest;
    }
    (l, data.get(j..).unwrap_or_default())
}

fn trim(x: &[u8]) -> &[u8] {
    let start = x.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(x.len());
    let end = x.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |e| e + 1);
    x.get(start..end.max(start)).unwrap_or_default()
}

/// Go's `pem.Decode`: the first block of `data` and what follows it, or
/// `None` and `data` itself when no block is found.
///
/// Linear in `data`, where Go's is quadratic on some inputs: the next END
/// line is looked for once, not once per BEGIN line before it, and a body
/// is read only up to its first character that is not base64.
pub fn decode(data: &[u8]) -> (Option<Block>, &[u8]) {
    let mut rest = data;
    // The first END line at or after `.0` is at `.1` (None: there is none).
    let mut next_end: Option<(usize, Option<usize>)> = None;
    loop {
        if rest.starts_with(BEGIN.get(1..).unwrap_or_default()) {
            rest = rest.get(BEGIN.len() - 1..).unwrap_or_default();
        } else if let Some(i) = find(rest, BEGIN) {
            rest = rest.get(i + BEGIN.len()..).unwrap_or_default();
        } else {
            return (None, data);
        }
        let (type_line, after) = line(rest);
        rest = after;
        let Some(kind) = type_line.strip_suffix(DASHES) else { continue };
        let mut headers = Vec::new();
        let mut truncated = false;
        loop {
            if rest.is_empty() {
                truncated = true;
                break;
            }
            let (l, next) = line(rest);
            let Some(colon) = l.iter().position(|b| *b == b':') else { break };
            let (k, v) = (trim(l.get(..colon).unwrap_or_default()), trim(l.get(colon + 1..).unwrap_or_default()));
            headers.push((String::from_utf8_lossy(k).into_owned(), String::from_utf8_lossy(v).into_owned()));
            rest = next;
        }
        if truncated {
            return (None, data);
        }
        let (end_index, trailer_index) = if headers.is_empty() && rest.starts_with(END.get(1..).unwrap_or_default()) {
            (0, END.len() - 1)
        } else {
            let at = data.len() - rest.len();
            let found = match next_end {
                Some((from, found)) if from <= at && found.is_none_or(|f| f >= at) => found,
                _ => find(rest, END).map(|i| i + at),
            };
            next_end = Some((at, found));
            match found {
                // No END line after this BEGIN: none after a later one either.
                None => return (None, data),
                Some(i) => (i - at, i - at + END.len()),
            }
        };
        let trailer = rest.get(trailer_index..).unwrap_or_default();
        let trailer_len = kind.len() + DASHES.len();
        let (Some(end_line), Some(rest_of_line)) = (trailer.get(..trailer_len), trailer.get(trailer_len..)) else {
            continue;
        };
        if !end_line.starts_with(kind) || !end_line.ends_with(DASHES) || !line(rest_of_line).0.is_empty() {
            continue;
        }
        let mut b64 = Vec::new();
        let mut valid = true;
        for &b in rest.get(..end_index).unwrap_or_default() {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => {}
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' | b'=' => b64.push(b),
                _ => {
                    valid = false;
                    break;
                }
            }
        }
        let Some(bytes) = valid.then(|| GO_STD.decode(&b64).ok()).flatten() else { continue };
        let (_, after) = line(rest.get(end_index + END.len() - 1..).unwrap_or_default());
        let block = Block { kind: String::from_utf8_lossy(kind).into_owned(), headers, bytes };
        return (Some(block), after);
    }
}

/// Go's `pem.Encode` of one block.
pub fn encode(block: &Block) -> String {
    let mut out = format!("-----BEGIN {}-----\n", block.kind);
    let mut headers: Vec<&(String, String)> = block.headers.iter().collect();
    headers.sort_by(|a, b| (a.0 != "Proc-Type", &a.0).cmp(&(b.0 != "Proc-Type", &b.0)));
    for (k, v) in &headers {
        out.push_str(&format!("{k}: {v}\n"));
    }
    if !headers.is_empty() {
        out.push('\n');
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(&block.bytes);
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {}-----\n", block.kind));
    out
}

/// ESO's `trimJunk`: the text from its first `-----BEGIN`, or all of it.
pub fn trim_junk(data: &[u8]) -> &[u8] {
    match find(data, b"-----BEGIN") {
        Some(i) => data.get(i..).unwrap_or_default(),
        None => data,
    }
}

/// Every block Go's decoder finds in `data`, in order, and what is left
/// after the last one.
pub fn blocks(data: &[u8]) -> (Vec<Block>, &[u8]) {
    let mut out = Vec::new();
    let mut rest = data;
    loop {
        let (block, after) = decode(rest);
        rest = after;
        match block {
            Some(b) => out.push(b),
            None => return (out, rest),
        }
    }
}
