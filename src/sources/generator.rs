//! The generators, as ESO's make them: `Password` (a password of the shape
//! its spec asks for: letters, then the requested digits and symbols
//! inserted at random places; no character twice unless allowed), `UUID`
//! (version 4) and `SSHKey` (in [`ssh_key`]); `VaultDynamicSecret`, a
//! request to Vault rather than a draw, has its rules in [`vault_dynamic`].
//!
//! The randomness is an HMAC-SHA256 stream keyed by the controller's HMAC
//! key over the ExternalSecret's UID, the generator's name and the refresh
//! epoch: the same password within one refresh interval (so a resync does
//! not rewrite the Secret), a new one at the next refresh (as ESO), and
//! nothing an outsider can predict.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::api::generator::{DEFAULT_SYMBOLS, PasswordEncoding, PasswordSpec};

pub mod ssh_key;
mod uuid;
pub mod vault_dynamic;

pub use uuid::uuid;

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

    /// Fills `out` with the stream's next bytes.
    pub fn fill(&mut self, out: &mut [u8]) {
        for b in out.iter_mut() {
            *b = self.byte();
        }
    }

    /// A uniform number below `n` (`n` > 0), by rejection. At most
    /// [`MAX_TRIES`] draws: the last one is used as it is (a bias below one
    /// in 2^1000 of ever happening), so no stream can make it loop.
    pub fn below(&mut self, n: usize) -> usize {
        let n32 = n.clamp(1, 1 << 24) as u32;
        let limit = (1u32 << 24) - (1u32 << 24) % n32;
        let mut x = 0;
        for _ in 0..MAX_TRIES {
            x = u32::from_be_bytes([0, self.byte(), self.byte(), self.byte()]);
            if x < limit {
                break;
            }
        }
        (x % n32) as usize
    }
}

/// Draws one uniform number may take (each rejected with probability
/// below one half).
const MAX_TRIES: usize = 1024;

/// Longest `spec.symbolCharacters` accepted, in characters.
pub const MAX_SYMBOL_CHARACTERS: usize = 1024;

/// The three classes of characters, in the order they are drawn.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Letters,
    Digits,
    Symbols,
}

impl Class {
    const ALL: [Class; 3] = [Class::Letters, Class::Digits, Class::Symbols];

    fn index(self) -> usize {
        match self {
            Class::Letters => 0,
            Class::Digits => 1,
            Class::Symbols => 2,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Class::Letters => "letters",
            Class::Digits => "digits",
            Class::Symbols => "symbols",
        }
    }

    /// The spec field that asks for this many.
    fn field(self) -> &'static str {
        match self {
            Class::Letters => "spec.length",
            Class::Digits => "spec.digits",
            Class::Symbols => "spec.symbols",
        }
    }

    /// The regions (see [`Region`]) this class draws from.
    fn regions(self) -> &'static [Region] {
        match self {
            Class::Letters => &[Region::Letter, Region::LetterSymbol],
            Class::Digits => &[Region::Digit, Region::DigitSymbol],
            Class::Symbols => &[Region::LetterSymbol, Region::DigitSymbol, Region::Symbol],
        }
    }
}

/// Where a distinct character belongs: letters and digits never share a
/// character, but `symbolCharacters` may hold letters and digits, so a
/// character is a letter only, a letter that is also a symbol, a digit
/// only, a digit that is also a symbol, or a symbol only.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Region {
    Letter,
    LetterSymbol,
    Digit,
    DigitSymbol,
    Symbol,
}

impl Region {
    const ALL: [Region; 5] = [Region::Letter, Region::LetterSymbol, Region::Digit, Region::DigitSymbol, Region::Symbol];

    fn index(self) -> usize {
        match self {
            Region::Letter => 0,
            Region::LetterSymbol => 1,
            Region::Digit => 2,
            Region::DigitSymbol => 3,
            Region::Symbol => 4,
        }
    }
}

/// The classes that cannot all be filled without repeats from the unused
/// characters `left` (per region), with `need` (per class) still to draw:
/// Hall's condition over every non-empty set of classes. `None` when every
/// set can be filled, which is exactly when distinct characters exist for
/// every place still to fill.
fn unfillable(need: &[u32; 3], left: &[usize; 5]) -> Option<(Vec<Class>, u64, u64)> {
    for mask in 1u8..8 {
        let classes: Vec<Class> = Class::ALL.into_iter().filter(|c| mask & (1 << c.index()) != 0).collect();
        let wanted: u64 = classes.iter().map(|c| u64::from(need.get(c.index()).copied().unwrap_or(0))).sum();
        let have: u64 = Region::ALL
            .into_iter()
            .filter(|r| classes.iter().any(|c| c.regions().contains(r)))
            .map(|r| left.get(r.index()).copied().unwrap_or(0) as u64)
            .sum();
        if wanted > have {
            return Some((classes, wanted, have));
        }
    }
    None
}

/// A password of the shape `spec` asks for, from the stream.
///
/// Bounded whatever the spec: a shape that cannot be filled without
/// repeats is refused before anything is drawn (distinct characters are
/// counted across classes, a symbol that is also a letter or a digit
/// counted once), and each character is drawn once from the characters
/// still usable, never by rejection: at most `spec.length` (1024) draws of
/// at most [`MAX_SYMBOL_CHARACTERS`] + 62 candidates each, a few
/// milliseconds, so it runs on the reconcile's task.
/// A generator's values, by key.
pub use vault_dynamic::Values;

/// Most keys a `Password` fills (`spec.secretKeys`).
pub const MAX_SECRET_KEYS: usize = 64;

/// A `Password` generator's values, as ESO's: one password per key of
/// `spec.secretKeys` (default `password`), drawn one after the other from
/// `rng` (so the first key's is the one a single-key spec gets), each
/// written in `spec.encoding`.
pub fn passwords(spec: &PasswordSpec, rng: &mut Stream) -> Result<Values, String> {
    passwords_made_by(spec, |s| password(s, rng))
}

/// [`passwords`], with each password made by `make` (ESO's tests give a
/// generator of their own, as they do to its `generate`).
fn passwords_made_by(
    spec: &PasswordSpec,
    mut make: impl FnMut(&PasswordSpec) -> Result<Zeroizing<String>, String>,
) -> Result<Values, String> {
    let keys: Vec<&str> = if spec.secret_keys.is_empty() {
        vec!["password"]
    } else {
        spec.secret_keys.iter().map(String::as_str).collect()
    };
    if keys.len() > MAX_SECRET_KEYS {
        return Err(format!("spec.secretKeys has more than {MAX_SECRET_KEYS} keys"));
    }
    let unique = keys.iter().enumerate().all(|(i, k)| !k.is_empty() && !keys.get(..i).is_some_and(|b| b.contains(k)));
    if !unique {
        // ESO's words.
        return Err("spec.secretKeys must be non-empty and unique".into());
    }
    let encoding = spec.encoding.unwrap_or_default();
    keys.into_iter().map(|key| Ok((key.to_owned(), encode_password(&make(spec)?, encoding)))).collect()
}

/// A password in `spec.encoding`, as ESO writes it.
fn encode_password(p: &str, encoding: PasswordEncoding) -> Zeroizing<Vec<u8>> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    let b = p.as_bytes();
    Zeroizing::new(match encoding {
        PasswordEncoding::Raw => b.to_vec(),
        PasswordEncoding::Base64 => STANDARD.encode(b).into_bytes(),
        PasswordEncoding::Base64url => URL_SAFE.encode(b).into_bytes(),
        PasswordEncoding::Base32 => seal_template::base32_encode(b).into_bytes(),
        PasswordEncoding::Hex => b.iter().map(|x| format!("{x:02x}")).collect::<String>().into_bytes(),
    })
}

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
    let symbol_text = spec.symbol_characters.as_deref().unwrap_or(DEFAULT_SYMBOLS);
    if symbol_text.chars().nth(MAX_SYMBOL_CHARACTERS).is_some() {
        return Err(format!("spec.symbolCharacters is longer than {MAX_SYMBOL_CHARACTERS} characters"));
    }
    let mut letter_set: Vec<char> = ('a'..='z').collect();
    if !spec.no_upper {
        letter_set.extend('A'..='Z');
    }
    let digit_set: Vec<char> = ('0'..='9').collect();
    // As written (a character given twice is drawn twice as often when
    // repeats are allowed, as in ESO).
    let symbol_set: Vec<char> = symbol_text.chars().collect();
    let need = [letters, digits, symbols];
    for (class, set) in Class::ALL.into_iter().zip([&letter_set, &digit_set, &symbol_set]) {
        if need.get(class.index()).is_some_and(|n| *n > 0) && set.is_empty() {
            return Err(format!(
                "{} asks for {} but there are none to choose from (spec.symbolCharacters is empty)",
                class.field(),
                class.name()
            ));
        }
    }
    let mut out: Vec<char> = Vec::with_capacity(length as usize);
    if spec.allow_repeat {
        for (class, set) in Class::ALL.into_iter().zip([&letter_set, &digit_set, &symbol_set]) {
            for _ in 0..need.get(class.index()).copied().unwrap_or(0) {
                let c = set.get(rng.below(set.len())).copied().unwrap_or('a');
                place(&mut out, c, class, rng);
            }
        }
        return Ok(Zeroizing::new(out.into_iter().collect()));
    }

    // Without repeats: the distinct characters of each region, unused ones
    // only (each drawn character is removed from its region).
    let mut regions: [Vec<char>; 5] = Default::default();
    let mut distinct_symbols = symbol_set.clone();
    distinct_symbols.sort_unstable();
    distinct_symbols.dedup();
    for c in &letter_set {
        let r = if distinct_symbols.binary_search(c).is_ok() { Region::LetterSymbol } else { Region::Letter };
        push(&mut regions, r, *c);
    }
    for c in &digit_set {
        let r = if distinct_symbols.binary_search(c).is_ok() { Region::DigitSymbol } else { Region::Digit };
        push(&mut regions, r, *c);
    }
    for c in &distinct_symbols {
        if !letter_set.contains(c) && !digit_set.contains(c) {
            push(&mut regions, Region::Symbol, *c);
        }
    }
    let mut left = regions.each_ref().map(Vec::len);
    if let Some((classes, wanted, have)) = unfillable(&need, &left) {
        return Err(refusal(&classes, wanted, have));
    }
    let mut need = need;
    for class in Class::ALL {
        while need.get(class.index()).is_some_and(|n| *n > 0) {
            if let Some(n) = need.get_mut(class.index()) {
                *n -= 1;
            }
            // The regions a character may come from and leave the rest
            // fillable: never empty while the shape is fillable (the
            // check above, kept true by every draw).
            let usable: Vec<Region> = class
                .regions()
                .iter()
                .copied()
                .filter(|r| left.get(r.index()).is_some_and(|n| *n > 0))
                .filter(|r| {
                    let mut after = left;
                    if let Some(n) = after.get_mut(r.index()) {
                        *n -= 1;
                    }
                    unfillable(&need, &after).is_none()
                })
                .collect();
            let total: usize = usable.iter().map(|r| left.get(r.index()).copied().unwrap_or(0)).sum();
            if total == 0 {
                return Err(format!("{} cannot be filled without repeats; set spec.allowRepeat", class.field()));
            }
            let mut k = rng.below(total);
            let mut picked = None;
            for r in usable {
                let n = left.get(r.index()).copied().unwrap_or(0);
                if k < n {
                    picked = Some(r);
                    break;
                }
                k -= n;
            }
            let Some(r) = picked else {
                return Err(format!("{} cannot be filled without repeats; set spec.allowRepeat", class.field()));
            };
            let Some(chars) = regions.get_mut(r.index()) else { continue };
            if k >= chars.len() {
                return Err(format!("{} cannot be filled without repeats; set spec.allowRepeat", class.field()));
            }
            let c = chars.remove(k);
            if let Some(n) = left.get_mut(r.index()) {
                *n -= 1;
            }
            place(&mut out, c, class, rng);
        }
    }
    Ok(Zeroizing::new(out.into_iter().collect()))
}

fn push(regions: &mut [Vec<char>; 5], r: Region, c: char) {
    if let Some(v) = regions.get_mut(r.index()) {
        v.push(c);
    }
}

/// Letters in order, then digits and symbols at random places (as ESO).
fn place(out: &mut Vec<char>, c: char, class: Class, rng: &mut Stream) {
    let at = if class == Class::Letters { out.len() } else { rng.below(out.len() + 1) };
    out.insert(at.min(out.len()), c);
}

/// Why a shape cannot be filled without repeats, naming its fields.
fn refusal(classes: &[Class], wanted: u64, have: u64) -> String {
    let fields: Vec<&str> = classes.iter().map(|c| c.field()).collect();
    let names: Vec<&str> = classes.iter().map(|c| c.name()).collect();
    let shared = if classes.contains(&Class::Symbols) && classes.len() > 1 {
        " (spec.symbolCharacters shares characters with them, counted once)"
    } else {
        ""
    };
    format!(
        "{}: {wanted} {} without repeats need {wanted} distinct characters, but only {have} exist{shared}; set spec.allowRepeat or ask for fewer",
        fields.join(" and "),
        names.join(" and "),
    )
}

#[cfg(test)]
#[path = "generator/password_eso_tests.rs"]
mod password_eso_tests;

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
    fn the_shape_that_looped_forever_is_refused_at_once_naming_its_fields() {
        // "0" is a digit too: 10 digits and 1 symbol need 11 distinct
        // characters from 10. It used to spin an async worker forever.
        let s = PasswordSpec {
            length: Some(11),
            digits: Some(10),
            symbols: Some(1),
            symbol_characters: Some("0".into()),
            ..Default::default()
        };
        let t0 = std::time::Instant::now();
        let e = password(&s, &mut Stream::new(b"k", b"s")).expect_err("impossible");
        assert!(t0.elapsed() < std::time::Duration::from_millis(100), "{:?}", t0.elapsed());
        assert!(e.contains("spec.digits and spec.symbols") && e.contains("spec.symbolCharacters"), "{e}");
        assert!(e.contains("11 distinct") && e.contains("only 10"), "{e}");
        // The same shape with one digit fewer fits: "0" is then the symbol.
        let fits = PasswordSpec { digits: Some(9), length: Some(10), ..s };
        for seed in 0..200u32 {
            let p = password(&fits, &mut Stream::new(b"k", &seed.to_be_bytes())).expect("fits");
            let mut seen: Vec<char> = p.chars().collect();
            seen.sort_unstable();
            assert_eq!(seen, ('0'..='9').collect::<Vec<_>>());
        }
    }

    #[test]
    fn symbol_characters_are_bounded() {
        let s = PasswordSpec {
            symbol_characters: Some("!".repeat(MAX_SYMBOL_CHARACTERS + 1)),
            allow_repeat: true,
            ..Default::default()
        };
        let e = password(&s, &mut Stream::new(b"k", b"s")).expect_err("too long");
        assert!(e.starts_with("spec.symbolCharacters"), "{e}");
    }

    #[test]
    fn the_worst_shape_is_cheap() {
        // The longest password from the longest symbol list, every class
        // sharing characters: bounded draws, no rejection.
        let symbols: String = ('a'..='z')
            .chain('0'..='9')
            .chain((0x100u32..0x100 + 980).filter_map(char::from_u32))
            .take(MAX_SYMBOL_CHARACTERS)
            .collect();
        let s = PasswordSpec {
            length: Some(1024),
            digits: Some(10),
            symbols: Some(962),
            symbol_characters: Some(symbols),
            ..Default::default()
        };
        let t0 = std::time::Instant::now();
        let p = password(&s, &mut Stream::new(b"k", b"s")).expect("fits");
        let took = t0.elapsed();
        assert_eq!(p.chars().count(), 1024);
        eprintln!("worst shape: {took:?}");
        assert!(took < std::time::Duration::from_secs(2), "{took:?}");
    }

    /// Whether distinct characters exist for every place: a maximum
    /// bipartite matching (places to characters), independent of the
    /// generator's counting.
    fn fillable(classes: &[(u32, Vec<char>)]) -> bool {
        let mut chars: Vec<char> = classes.iter().flat_map(|(_, s)| s.iter().copied()).collect();
        chars.sort_unstable();
        chars.dedup();
        let places: Vec<&Vec<char>> = classes.iter().flat_map(|(n, s)| std::iter::repeat_n(s, *n as usize)).collect();
        if places.len() > chars.len() {
            return false;
        }
        let mut owner: Vec<Option<usize>> = vec![None; chars.len()];
        fn augment(
            p: usize,
            places: &[&Vec<char>],
            chars: &[char],
            owner: &mut Vec<Option<usize>>,
            seen: &mut Vec<bool>,
        ) -> bool {
            for (i, c) in chars.iter().enumerate() {
                if places[p].contains(c) && !seen[i] {
                    seen[i] = true;
                    if owner[i].is_none_or(|q| augment(q, places, chars, owner, seen)) {
                        owner[i] = Some(p);
                        return true;
                    }
                }
            }
            false
        }
        (0..places.len()).all(|p| augment(p, &places, &chars, &mut owner, &mut vec![false; chars.len()]))
    }

    #[test]
    fn any_spec_gives_a_password_of_its_shape_or_an_error_and_always_ends() {
        let pool: Vec<char> = "abcXYZ0123456789!@#-_~".chars().collect();
        let mut r = Stream::new(b"property", b"specs");
        let t0 = std::time::Instant::now();
        let (mut made, mut refused) = (0, 0);
        for i in 0..4000u32 {
            let length = if i % 50 == 0 { r.below(1100) as i64 } else { r.below(40) as i64 - 1 };
            let count = |r: &mut Stream| match r.below(4) {
                0 => None,
                _ => Some(r.below(length.max(0) as usize + 4) as i64 - 1),
            };
            let digits = count(&mut r);
            let symbols = count(&mut r);
            let symbol_characters = match r.below(3) {
                0 => None,
                _ => Some((0..r.below(12)).map(|_| pool[r.below(pool.len())]).collect::<String>()),
            };
            let spec = PasswordSpec {
                length: Some(length),
                digits,
                symbols,
                symbol_characters: symbol_characters.clone(),
                no_upper: r.below(2) == 0,
                allow_repeat: r.below(4) == 0,
                ..PasswordSpec::default()
            };
            let got = password(&spec, &mut Stream::new(b"k", &i.to_be_bytes()));
            // The shape asked for, when it is a shape at all.
            let shape = (|| {
                let len = u32::try_from(length).ok().filter(|l| (1..=MAX_LENGTH).contains(l))?;
                let d = u32::try_from(digits.unwrap_or(i64::from(len / 4))).ok()?;
                let s = u32::try_from(symbols.unwrap_or(i64::from(len / 4))).ok()?;
                Some((len, len.checked_sub(d)?.checked_sub(s)?, d, s))
            })();
            let Some((len, l, d, s)) = shape else {
                assert!(got.is_err(), "{spec:?}");
                refused += 1;
                continue;
            };
            let mut letters: Vec<char> = ('a'..='z').collect();
            if !spec.no_upper {
                letters.extend('A'..='Z');
            }
            let sym: Vec<char> = symbol_characters.as_deref().unwrap_or(DEFAULT_SYMBOLS).chars().collect();
            let classes = [(l, letters.clone()), (d, ('0'..='9').collect()), (s, sym.clone())];
            let possible =
                classes.iter().all(|(n, set)| *n == 0 || !set.is_empty()) && (spec.allow_repeat || fillable(&classes));
            match got {
                Ok(p) => {
                    assert!(possible, "made an impossible shape: {spec:?}");
                    let p: Vec<char> = p.chars().collect();
                    assert_eq!(p.len(), len as usize, "{spec:?}");
                    let allowed = |c: &char| letters.contains(c) || c.is_ascii_digit() || sym.contains(c);
                    assert!(p.iter().all(allowed), "{spec:?}");
                    if !spec.allow_repeat {
                        let mut u = p.clone();
                        u.sort_unstable();
                        u.dedup();
                        assert_eq!(u.len(), p.len(), "a repeat: {spec:?}");
                    }
                    // Classes that share no character are counted exactly.
                    if !sym.iter().any(|c| c.is_ascii_alphanumeric()) {
                        assert_eq!(p.iter().filter(|c| c.is_ascii_digit()).count(), d as usize, "{spec:?}");
                        assert_eq!(p.iter().filter(|c| c.is_ascii_alphabetic()).count(), l as usize, "{spec:?}");
                    }
                    made += 1;
                }
                Err(e) => {
                    assert!(!possible, "refused a possible shape: {spec:?}: {e}");
                    assert!(e.contains("spec."), "{e}");
                    refused += 1;
                }
            }
        }
        eprintln!("{made} made, {refused} refused in {:?}", t0.elapsed());
        assert!(made > 1000 && refused > 100, "{made} made, {refused} refused");
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
