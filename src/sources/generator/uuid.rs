//! The `UUID` generator: a version 4 UUID drawn from the generator stream.

use super::Stream;

/// A version 4 UUID from the stream (ESO's `UUID` generator), in the
/// canonical lower-case form `xxxxxxxx-xxxx-4xxx-Nxxx-xxxxxxxxxxxx`.
pub fn uuid(rng: &mut Stream) -> String {
    let mut b = [0u8; 16];
    rng.fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_is_version_4_in_canonical_form_and_follows_the_stream() {
        let a = uuid(&mut Stream::new(b"k", b"one"));
        assert_eq!(a, uuid(&mut Stream::new(b"k", b"one")));
        assert_ne!(a, uuid(&mut Stream::new(b"k", b"two")));
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), vec![8, 4, 4, 4, 12], "{a}");
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{a}");
        assert!(parts[2].starts_with('4'), "version 4: {a}");
        assert!(matches!(parts[3].chars().next(), Some('8' | '9' | 'a' | 'b')), "RFC 4122 variant: {a}");
    }
}
