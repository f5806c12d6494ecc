//! The `Password` generator: a password of the shape its spec asks for, as
//! ESO's generator makes it (letters, then the requested digits and
//! symbols inserted at random places; no character twice unless allowed).
//!
//! The randomness is an HMAC-SHA256 stream keyed by the controller's HMAC
//! key over the ExternalSecret's UID, the generator's name and the refresh
//! epoch: the same password within one refresh interval (so a resync does
//! not rewrite the Secret), a new one at the next refresh (as ESO), and
//! nothing an outsider can predict.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::api::generator::{DEFAULT_SYMBOLS, PasswordSpec};

/// Longest password made.
pub const MAX_LENGTH: u32 = 1024;

/// A stream of random bytes derived from a key and a seed.
pub struct Stream {
    key: Zeroizing<Vec<u8>>,
    seed: Vec<u8>,
    counter: u64,
    block: Zeroizing<Vec<u8>>,
    at: usize,
}

impl Stream {
    /// The stream of `key` and `seed`.
    pub fn new(key: &[u8], seed: &[u8]) -> Stream {
        Stream {
            key: Zeroizing::new(key.to_vec()),
            seed: seed.to_vec(),
            counter: 0,
            block: Zeroizing::new(Vec::new()),
            at: 0,
        }
    }

    fn byte(&mut self) -> u8 {
        if self.at >= self.block.len() {
            let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&self.key) else {
                unreachable!("HMAC takes keys of any length")
            };
            mac.update(&self.seed);
            mac.update(&self.counter.to_be_bytes());
            self.counter = self.counter.wrapping_add(1);
            self.block = Zeroizing::new(mac.finalize().into_bytes().to_vec());
            self.at = 0;
        }
        let b = self.block.get(self.at).copied().unwrap_or_default();
        self.at += 1;
        b
    }

    /// A uniform number below `n` (`n` > 0), by rejection.
    pub fn below(&mut self, n: usize) -> usize {
        let n32 = n.clamp(1, 1 << 24) as u32;
        let limit = (1u32 << 24) - (1u32 << 24) % n32;
        loop {
            let x = u32::from_be_bytes([0, self.byte(), self.byte(), self.byte()]);
            if x < limit {
                return (x % n32) as usize;
            }
        }
    }
}

/// A password of the shape `spec` asks for, from the stream.
pub fn password(spec: &PasswordSpec, rng: &mut Stream) -> Result<Zeroizing<String>, String> {
    // Signed in the schema (an unsigned type would write `minimum: 0.0`);
    // negative counts are refused here.
    let length = u32::try_from(spec.length.unwrap_or(24)).unwrap_or(0);
    if length == 0 || length > MAX_LENGTH {
        return Err(format!("spec.length must be 1 to {MAX_LENGTH}"));
    }
    let count = |v: Option<i64>, field: &str| match v {
        None => Ok(length / 4),
        Some(n) => u32::try_from(n).map_err(|_| format!("spec.{field} must be 0 or more")),
    };
    let digits = count(spec.digits, "digits")?;
    let symbols = count(spec.symbols, "symbols")?;
    let letters = length
        .checked_sub(digits)
        .and_then(|l| l.checked_sub(symbols))
        .ok_or("spec.digits and spec.symbols add up to more than spec.length")?;
    let lower: Vec<char> = ('a'..='z').collect();
    let mut letter_set = lower.clone();
    if !spec.no_upper {
        letter_set.extend('A'..='Z');
    }
    let digit_set: Vec<char> = ('0'..='9').collect();
    let symbol_set: Vec<char> = spec.symbol_characters.as_deref().unwrap_or(DEFAULT_SYMBOLS).chars().collect();
    let mut out: Vec<char> = Vec::with_capacity(length as usize);
    for (count, set, what) in
        [(letters, &letter_set, "letters"), (digits, &digit_set, "digits"), (symbols, &symbol_set, "symbols")]
    {
        let distinct = {
            let mut d = set.clone();
            d.sort_unstable();
            d.dedup();
            d.len()
        };
        if count > 0 && distinct == 0 {
            return Err(format!("spec asks for {what} but there are none to choose from"));
        }
        if !spec.allow_repeat && count as usize > distinct {
            return Err(format!(
                "spec asks for {count} {what} without repeats, but only {distinct} distinct ones exist: set allowRepeat"
            ));
        }
        for _ in 0..count {
            let c = loop {
                let c = set.get(rng.below(set.len())).copied().unwrap_or('a');
                if spec.allow_repeat || !out.contains(&c) {
                    break c;
                }
            };
            // Letters in order, then digits and symbols at random places.
            let at = if what == "letters" { out.len() } else { rng.below(out.len() + 1) };
            out.insert(at, c);
        }
    }
    Ok(Zeroizing::new(out.into_iter().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(length: Option<i64>, digits: Option<i64>, symbols: Option<i64>) -> PasswordSpec {
        PasswordSpec { length, digits, symbols, ..Default::default() }
    }

    #[test]
    fn defaults_are_esos_and_each_class_is_counted() {
        let p = password(&PasswordSpec::default(), &mut Stream::new(b"k", b"s")).expect("a password");
        assert_eq!(p.chars().count(), 24);
        assert_eq!(p.chars().filter(char::is_ascii_digit).count(), 6);
        assert_eq!(p.chars().filter(|c| DEFAULT_SYMBOLS.contains(*c)).count(), 6);
        assert_eq!(p.chars().filter(char::is_ascii_alphabetic).count(), 12);
        let mut seen: Vec<char> = p.chars().collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 24, "no character twice by default");
    }

    #[test]
    fn the_stream_is_stable_per_seed_and_differs_between_seeds_and_keys() {
        let s = spec(Some(32), Some(4), Some(0));
        let a = password(&s, &mut Stream::new(b"k", b"epoch-1")).expect("a");
        let b = password(&s, &mut Stream::new(b"k", b"epoch-1")).expect("b");
        let c = password(&s, &mut Stream::new(b"k", b"epoch-2")).expect("c");
        let d = password(&s, &mut Stream::new(b"other", b"epoch-1")).expect("d");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }

    #[test]
    fn impossible_shapes_are_refused() {
        for (s, why) in [
            (spec(Some(0), None, None), "spec.length"),
            (spec(Some(5000), None, None), "spec.length"),
            (spec(Some(4), Some(3), Some(3)), "add up"),
            (spec(Some(20), Some(11), Some(0)), "distinct"),
            (spec(Some(20), Some(-1), Some(0)), "0 or more"),
            (spec(Some(-5), None, None), "spec.length"),
            (
                PasswordSpec { symbol_characters: Some(String::new()), symbols: Some(1), ..Default::default() },
                "none to choose",
            ),
        ] {
            let e = password(&s, &mut Stream::new(b"k", b"s")).expect_err(why);
            assert!(e.contains(why), "{e}");
        }
        let repeat = PasswordSpec {
            length: Some(40),
            digits: Some(20),
            symbols: Some(0),
            allow_repeat: true,
            no_upper: true,
            ..Default::default()
        };
        let p = password(&repeat, &mut Stream::new(b"k", b"s")).expect("repeats allowed");
        assert!(p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    }

    #[test]
    fn below_is_uniform_enough_and_in_range() {
        let mut s = Stream::new(b"k", b"s");
        let mut counts = [0u32; 7];
        for _ in 0..70_000 {
            let i = s.below(7);
            counts[i] += 1;
        }
        assert!(counts.iter().all(|c| (9_000..11_000).contains(c)), "{counts:?}");
    }
}
