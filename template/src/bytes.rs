//! Bytes through the engine: Go strings are bytes, Rust strings UTF-8, so
//! a value's bytes that are not UTF-8 travel as the characters
//! U+F780..U+F7FF, one per byte.

use std::collections::BTreeMap;
use std::sync::Arc;

use gotmpl::Value;
use seal_format::document::SecretData;

/// The template context: every value of the store, as ESO passes it (a map
/// of key to string, bytes kept as [`text_from_bytes`] carries them).
pub fn context(data: &SecretData) -> Value {
    let map: BTreeMap<Arc<str>, Value> =
        data.0.iter().map(|(k, v)| (Arc::from(k.as_str()), Value::String(Arc::from(text_from_bytes(v))))).collect();
    Value::Map(Arc::new(map))
}

/// First of the characters that carry one byte each (U+F780 is 0x80).
const BYTE_CHARS: u32 = 0xf700;

fn carry_byte(out: &mut String, b: u8) {
    out.push(char::from_u32(BYTE_CHARS + u32::from(b)).unwrap_or(char::REPLACEMENT_CHARACTER));
}

/// Bytes as engine text: UTF-8 as it is; each byte of an invalid sequence,
/// and of a character in U+F780..U+F7FF (so that the mapping is one to
/// one), as the character U+F700 + byte.
pub fn text_from_bytes(bytes: &[u8]) -> String {
    fn valid(out: &mut String, s: &str) {
        for c in s.chars() {
            if (BYTE_CHARS + 0x80..=BYTE_CHARS + 0xff).contains(&u32::from(c)) {
                c.encode_utf8(&mut [0u8; 4]).bytes().for_each(|b| carry_byte(out, b));
            } else {
                out.push(c);
            }
        }
    }
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                valid(&mut out, s);
                return out;
            }
            Err(e) => {
                let (good, after) = rest.split_at(e.valid_up_to());
                valid(&mut out, std::str::from_utf8(good).unwrap_or_default());
                let (bad, after) = after.split_at(e.error_len().unwrap_or(after.len()).min(after.len()));
                bad.iter().for_each(|b| carry_byte(&mut out, *b));
                rest = after;
            }
        }
    }
}

/// Engine text back to bytes: the inverse of [`text_from_bytes`].
pub fn bytes_from_text(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match u32::from(c).checked_sub(BYTE_CHARS).and_then(|b| u8::try_from(b).ok()).filter(|b| *b >= 0x80) {
            Some(b) => out.push(b),
            None => out.extend_from_slice(c.encode_utf8(&mut [0u8; 4]).as_bytes()),
        }
    }
    out
}
