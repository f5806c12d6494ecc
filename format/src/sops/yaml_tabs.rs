//! Tabs as go-yaml v3 (and so sops) accepts them, where saphyr follows
//! the YAML 1.2 spec's stricter and laxer rules in turn.
//!
//! go-yaml skips tabs between tokens only where no simple key may start
//! (`yaml_parser_scan_to_next_token`): after a key's `:`, a tag, an anchor, a
//! scalar, and anywhere in flow collections. Elsewhere in block context —
//! after `- `, `? `, a complex key's `:`, at the start of a line — a tab is
//! "a character that cannot start any token"; and in the blank lines after
//! a plain scalar a tab left of the block's indentation "violates
//! indentation". saphyr refuses `w:<TAB>8` ("':' must be followed by a valid
//! YAML whitespace") and accepts `-<TAB>x`. So [`TabInput`] lets saphyr take
//! every tab after a `:`, and [`check_gap`] refuses, between two events, the
//! tabs go-yaml refuses.

use saphyr_parser::input::SkipTabs;
use saphyr_parser::{Input, StrInput};

/// saphyr's string input, except that a run of tabs counts as the
/// whitespace a `:` must be followed by: saphyr's only use of
/// `has_valid_yaml_ws` is that check, which go-yaml does not make after a
/// simple key.
pub(super) struct TabInput<'a>(pub StrInput<'a>);

impl Input for TabInput<'_> {
    fn skip_ws_to_eol(&mut self, skip_tabs: SkipTabs) -> (usize, Result<SkipTabs, &'static str>) {
        let (n, result) = self.0.skip_ws_to_eol(skip_tabs);
        let result = result.map(|r| match r {
            SkipTabs::Result(true, _) => SkipTabs::Result(true, true),
            other => other,
        });
        (n, result)
    }

    fn lookahead(&mut self, count: usize) {
        self.0.lookahead(count)
    }

    fn buflen(&self) -> usize {
        self.0.buflen()
    }

    fn bufmaxlen(&self) -> usize {
        self.0.bufmaxlen()
    }

    fn buf_is_empty(&self) -> bool {
        self.0.buf_is_empty()
    }

    fn raw_read_ch(&mut self) -> char {
        self.0.raw_read_ch()
    }

    fn raw_read_non_breakz_ch(&mut self) -> Option<char> {
        self.0.raw_read_non_breakz_ch()
    }

    fn skip(&mut self) {
        self.0.skip()
    }

    fn skip_n(&mut self, count: usize) {
        self.0.skip_n(count)
    }

    fn peek(&self) -> char {
        self.0.peek()
    }

    fn peek_nth(&self, n: usize) -> char {
        self.0.peek_nth(n)
    }

    fn look_ch(&mut self) -> char {
        self.0.look_ch()
    }

    fn next_char_is(&self, c: char) -> bool {
        self.0.next_char_is(c)
    }

    fn nth_char_is(&self, n: usize, c: char) -> bool {
        self.0.nth_char_is(n, c)
    }

    fn next_2_are(&self, c1: char, c2: char) -> bool {
        self.0.next_2_are(c1, c2)
    }

    fn next_3_are(&self, c1: char, c2: char, c3: char) -> bool {
        self.0.next_3_are(c1, c2, c3)
    }

    fn next_is_document_indicator(&self) -> bool {
        self.0.next_is_document_indicator()
    }

    fn next_is_document_start(&self) -> bool {
        self.0.next_is_document_start()
    }

    fn next_is_document_end(&self) -> bool {
        self.0.next_is_document_end()
    }

    fn next_can_be_plain_scalar(&self, in_flow: bool) -> bool {
        self.0.next_can_be_plain_scalar(in_flow)
    }

    fn next_is_blank_or_break(&self) -> bool {
        self.0.next_is_blank_or_break()
    }

    fn next_is_blank_or_breakz(&self) -> bool {
        self.0.next_is_blank_or_breakz()
    }

    fn next_is_blank(&self) -> bool {
        self.0.next_is_blank()
    }

    fn next_is_break(&self) -> bool {
        self.0.next_is_break()
    }

    fn next_is_breakz(&self) -> bool {
        self.0.next_is_breakz()
    }

    fn next_is_z(&self) -> bool {
        self.0.next_is_z()
    }

    fn next_is_flow(&self) -> bool {
        self.0.next_is_flow()
    }

    fn next_is_digit(&self) -> bool {
        self.0.next_is_digit()
    }

    fn next_is_alpha(&self) -> bool {
        self.0.next_is_alpha()
    }

    fn skip_while_non_breakz(&mut self) -> usize {
        self.0.skip_while_non_breakz()
    }

    fn skip_while_blank(&mut self) -> usize {
        self.0.skip_while_blank()
    }

    fn fetch_while_is_alpha(&mut self, out: &mut String) -> usize {
        self.0.fetch_while_is_alpha(out)
    }
}

/// What the scanner knew after the last token, for [`check_gap`].
#[derive(Clone, Copy)]
pub(super) struct TabState {
    /// go-yaml's `simple_key_allowed`: true at the start of a line, after
    /// `- `, `? ` and a complex key's `:`, where it does not skip tabs.
    pub simple_key_allowed: bool,
    /// The last token was a plain scalar, whose scan goes on over the blank
    /// lines after it.
    pub after_plain: bool,
    /// Inside a flow collection, where go-yaml skips every tab.
    pub in_flow: bool,
    /// One past the column of the innermost block collection (go-yaml's
    /// `parser.indent + 1`), 0 outside any.
    pub indent: usize,
}

/// Checks the text between two tokens, `src[from..to]`, for a tab go-yaml
/// refuses, and returns `simple_key_allowed` after it; `Err` is go-yaml's
/// message and the byte offset of the tab. Linear in the gap's length.
pub(super) fn check_gap(src: &str, from: usize, to: usize, st: TabState) -> Result<bool, (&'static str, usize)> {
    let Some(gap) = src.get(from..to) else { return Ok(st.simple_key_allowed) };
    if st.in_flow {
        return Ok(st.simple_key_allowed);
    }
    let b = gap.as_bytes();
    let col = |pos: usize| {
        let before = &src[..from + pos];
        before.rsplit(['\n', '\r']).next().map_or(0, |line| line.chars().count())
    };
    let mut pos = 0;
    let mut allowed = st.simple_key_allowed;
    if st.after_plain {
        // `yaml_parser_scan_plain_scalar` eats the blanks and line breaks
        // after the scalar; a tab after a break left of the indentation is refused.
        let mut broke = false;
        while let Some(&c) = b.get(pos) {
            match c {
                b' ' => {}
                b'\t' if broke && col(pos) < st.indent => {
                    return Err(("found a tab character that violates indentation", from + pos));
                }
                b'\t' => {}
                b'\n' | b'\r' => broke = true,
                _ => break,
            }
            pos += 1;
        }
        allowed = broke;
    }
    loop {
        while matches!(b.get(pos), Some(b' ')) || (!allowed && matches!(b.get(pos), Some(b'\t'))) {
            pos += 1;
        }
        let Some(&c) = b.get(pos) else { return Ok(allowed) };
        let next_blank = matches!(b.get(pos + 1), None | Some(b' ' | b'\t' | b'\n' | b'\r'));
        match c {
            b'#' => {
                while !matches!(b.get(pos), None | Some(b'\n' | b'\r')) {
                    pos += 1;
                }
            }
            b'\n' | b'\r' => {
                allowed = true;
                pos += 1;
            }
            b'\t' => return Err(("found character that cannot start any token", from + pos)),
            b'-' | b'?' if next_blank => {
                allowed = true;
                pos += 1;
            }
            // After a key on the same line (allowed is false) `:` is a simple
            // key's value indicator and keeps it false; after a line break it
            // is a complex key's and keeps it true.
            b':' => pos += 1,
            b'!' | b'&' => {
                while !matches!(b.get(pos), None | Some(b' ' | b'\t' | b'\n' | b'\r')) {
                    pos += 1;
                }
                allowed = false;
            }
            // The next token: a scalar, a block scalar's header (its lines
            // are read by `yaml_block`), a flow collection.
            _ => return Ok(allowed),
        }
    }
}
