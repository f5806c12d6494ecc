//! YAML documents for sops: parsed with `saphyr-parser` (YAML 1.2, spans for
//! every event), with comments recovered from the text between events, and
//! written by our own emitter in go-yaml's style (4-space indentation,
//! sequences indented under their key), so files stay close to what sops writes.
//!
//! Type resolution follows go-yaml v3 as sops uses it: YAML 1.2 core types,
//! timestamps as times, anchors expanded, duplicate keys rejected.
//!
//! The emitter also writes go-yaml v2's layout ([`emit_value_v2`]: 2-space
//! indentation, sequences at their key's column, long lines folded), which
//! sigs.k8s.io/yaml writes and so ESO's template function `toYaml`.
//!
//! One file over 600 lines: the reader and the emitter share go-yaml's type
//! rules (`resolve_plain`, `reads_as_other_type`, `plain_allowed`), which a
//! split would have to make public to the rest of the crate.

use std::collections::HashMap;

use base64::Engine;
use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use super::cipher::go_format_g;
use super::error::Error;
use super::limits::Budget;
use super::value::{Item, Map, Text, Time, Value};
use super::yaml_tabs::{TabInput, TabState, check_gap};

/// A comment found between two events.
struct Comment {
    text: String,
    col: usize,
    /// On the same line as the token before it (an inline comment).
    trailing: bool,
}

/// Maps character indices (what saphyr reports) to byte offsets.
struct Offsets {
    ascii: bool,
    table: Vec<usize>,
}

impl Offsets {
    fn new(src: &str) -> Offsets {
        if src.is_ascii() {
            return Offsets { ascii: true, table: Vec::new() };
        }
        let mut table: Vec<usize> = src.char_indices().map(|(b, _)| b).collect();
        table.push(src.len());
        Offsets { ascii: false, table }
    }

    fn byte(&self, char_index: usize) -> usize {
        if self.ascii { char_index } else { self.table.get(char_index).copied().unwrap_or(usize::MAX) }
    }
}

struct Reader<'a> {
    src: &'a str,
    parser: Parser<'a, TabInput<'a>>,
    /// go-yaml's tab rules ([`super::yaml_tabs`]): the scanner's state after
    /// the last token, and the block (`Some(column)`) and flow (`None`)
    /// collections open.
    tabs: TabState,
    open: Vec<Option<usize>>,
    offsets: Offsets,
    last_end: usize,
    /// `last_end` before the last event: where a block scalar's header
    /// (`|+`, between its key and its first content line) is looked for.
    prev_end: usize,
    pending: Vec<Comment>,
    /// Anchored values with the values and text bytes they hold, so an
    /// alias is charged to the budget before it is copied.
    anchors: HashMap<usize, Anchored>,
    keep_comments: bool,
    budget: Budget,
}

struct Anchored {
    value: Value,
    values: usize,
    bytes: usize,
}

fn syntax(reason: impl Into<String>) -> Error {
    Error::Syntax { format: "YAML", reason: reason.into() }
}

/// Parses every document of a YAML stream. Each must be a mapping (or empty).
pub fn parse(src: &str) -> Result<Vec<Map>, Error> {
    parse_with(src, true)
}

/// Parses, dropping comments (used for metadata-only reads).
pub fn parse_without_comments(src: &str) -> Result<Vec<Map>, Error> {
    parse_with(src, false)
}

fn parse_with(src: &str, keep_comments: bool) -> Result<Vec<Map>, Error> {
    match parse_stream(src, keep_comments) {
        Err(e @ Error::Syntax { .. }) => match indent_flow_closers(src) {
            // sops (go-yaml) writes an empty flow collection holding a
            // comment with its closing bracket at the key's column,
            // `"y": {\n    #ENC[…]\n}`, which go-yaml reads back but
            // YAML 1.2 does not; read it as go-yaml does.
            Some(fixed) => parse_stream(&fixed, keep_comments).map_err(|_| e),
            None => Err(e),
        },
        other => other,
    }
}

/// `src` with each line that holds only a closing `}` or `]` indented like
/// the line before it, or `None` when there is no such line.
fn indent_flow_closers(src: &str) -> Option<String> {
    let mut out = String::with_capacity(src.len() + 64);
    let mut changed = false;
    let mut prev_indent = 0;
    for line in src.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let indent = body.len() - body.trim_start_matches(' ').len();
        if matches!(body.trim(), "}" | "]") && indent < prev_indent {
            out.extend(std::iter::repeat_n(' ', prev_indent - indent));
            changed = true;
        } else if !body.trim().is_empty() {
            prev_indent = indent;
        }
        out.push_str(line);
    }
    changed.then_some(out)
}

fn parse_stream(src: &str, keep_comments: bool) -> Result<Vec<Map>, Error> {
    super::limits::check_input_size(src.len())?;
    // A byte-order mark is not content (go-yaml drops it too).
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    check_printable(src)?;
    let mut r = Reader {
        src,
        parser: Parser::new(TabInput(saphyr_parser::StrInput::new(src))),
        tabs: TabState { simple_key_allowed: true, after_plain: false, in_flow: false, indent: 0 },
        open: Vec::new(),
        offsets: Offsets::new(src),
        last_end: 0,
        prev_end: 0,
        pending: Vec::new(),
        anchors: HashMap::new(),
        keep_comments,
        budget: Budget::default(),
    };
    let mut docs: Vec<Map> = Vec::new();
    loop {
        let (ev, _) = r.next()?;
        match ev {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::StreamEnd => {
                // Comments after the last document's end.
                if let Some(last) = docs.last_mut() {
                    for c in r.pending.drain(..) {
                        last.items.push(Item::Comment(Text::new(c.text)));
                    }
                }
                break;
            }
            Event::DocumentStart(_) => {
                let (ev, span) = r.next()?;
                let ended = matches!(ev, Event::DocumentEnd);
                let mut map = match ev {
                    ev @ Event::MappingStart(..) => match r.collection(ev, span)? {
                        Value::Map(m) => m,
                        _ => return Err(syntax("unexpected event at the top level")),
                    },
                    Event::DocumentEnd => Map::new(),
                    // An empty document (saphyr reports it as a plain `~`).
                    Event::Scalar(ref s, ScalarStyle::Plain, _, None) if s.is_empty() || s == "~" => Map::new(),
                    Event::SequenceStart(..) => {
                        return Err(Error::Structure(
                            "a YAML document must be a mapping at the top level, not a sequence".into(),
                        ));
                    }
                    _ => {
                        return Err(Error::Structure(
                            "a YAML document must be a mapping at the top level, not a scalar".into(),
                        ));
                    }
                };
                // Comments up to the document's end are its own; those
                // after a `---` belong to the next document.
                if !ended {
                    match r.next()? {
                        (Event::DocumentEnd, _) => {}
                        _ => return Err(syntax("unexpected event at the end of a document")),
                    }
                }
                for c in r.pending.drain(..) {
                    map.items.push(Item::Comment(Text::new(c.text)));
                }
                docs.push(map);
            }
            _ => return Err(syntax("unexpected event at the top level")),
        }
    }
    if docs.is_empty() {
        return Err(Error::Structure("the YAML input must contain at least one document".into()));
    }
    Ok(docs)
}

/// Where go-yaml (which sops uses) reads a flow scalar differently from
/// the YAML 1.2 spec saphyr follows, the text as go-yaml reads it: a raw
/// U+0085, U+2028 or U+2029 is a line break to go-yaml, so the indentation
/// after it is not content (sops writes `'a<LS>    b'` for "a<LS>b").
/// Block scalars are re-scanned whole ([`super::yaml_block`]).
fn go_yaml_text<'t>(text: std::borrow::Cow<'t, str>, raw: Option<&str>) -> std::borrow::Cow<'t, str> {
    let is_break = |c: char| matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}');
    if !raw.unwrap_or_default().contains(is_break) {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut after_break = false;
    for c in text.chars() {
        if after_break && (c == ' ' || c == '\t') {
            continue;
        }
        after_break = is_break(c);
        out.push(c);
    }
    std::borrow::Cow::Owned(out)
}

/// The byte after the closing quote of the quoted scalar starting at
/// `start` (`\"` escapes in double quotes, `''` in single quotes).
fn quoted_end(src: &str, start: usize) -> Option<usize> {
    let b = src.as_bytes();
    let quote = *b.get(start)?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' if quote == b'"' => i += 2,
            b'\'' if quote == b'\'' && b.get(i + 1) == Some(&b'\'') => i += 2,
            c if c == quote => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// YAML's character set (`c-printable`): go-yaml refuses anything else
/// ("control characters are not allowed"), and the scanner would read a NUL
/// as the end of the stream.
fn check_printable(src: &str) -> Result<(), Error> {
    let bad = |c: char| {
        !matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
            && c < '\u{10000}'
    };
    if let Some((at, c)) = src.char_indices().find(|&(_, c)| bad(c)) {
        let line = src[..at].matches('\n').count() + 1;
        let col = src[..at].rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        return Err(syntax(format!(
            "control character U+{:04X} at line {line} column {col}; YAML may not hold control characters (escape them in a double-quoted string)",
            c as u32
        )));
    }
    Ok(())
}

impl<'a> Reader<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), Error> {
        match self.parser.next_event() {
            Some(Ok((ev, span))) => {
                let start = self.offsets.byte(span.start.index());
                self.check_tabs(&ev, start, span.start.col())?;
                self.collect_comments(self.last_end, start);
                // saphyr's span of a block scalar holding only blank lines
                // at the end of the input starts at its header, so the
                // comment after the header (`k: |+ # c`) is inside it.
                if matches!(ev, Event::Scalar(_, ScalarStyle::Literal | ScalarStyle::Folded, ..))
                    && matches!(self.src.as_bytes().get(start), Some(b'|' | b'>'))
                {
                    let line = self.src.get(start..).and_then(|t| t.find(['\n', '\r']));
                    let header_end = line.map_or(self.src.len(), |i| start + i);
                    self.collect_comments(start, header_end);
                }
                // saphyr's span of a quoted scalar or a flow collection's end
                // runs on past a comment after it (`a: "x" # c`); the token
                // itself ends at its closing quote or bracket.
                let end = match &ev {
                    Event::Scalar(_, ScalarStyle::DoubleQuoted | ScalarStyle::SingleQuoted, ..) => {
                        quoted_end(self.src, start)
                    }
                    Event::SequenceEnd | Event::MappingEnd
                        if matches!(self.src.as_bytes().get(start), Some(b']' | b'}')) =>
                    {
                        Some(start + 1)
                    }
                    _ => None,
                };
                let end = end.unwrap_or_else(|| self.offsets.byte(span.end.index()));
                self.prev_end = self.last_end;
                self.last_end = end.max(self.last_end);
                Ok((ev, span))
            }
            Some(Err(e)) => {
                Err(syntax(format!("{} at line {} column {}", e.info(), e.marker().line(), e.marker().col() + 1)))
            }
            None => Err(syntax("unexpected end of input")),
        }
    }

    /// Refuses a tab between the last event and this one (at byte `start`,
    /// column `col`) where go-yaml refuses it, then records what this event
    /// leaves the scanner.
    fn check_tabs(&mut self, ev: &Event<'a>, start: usize, col: usize) -> Result<(), Error> {
        let start = start.min(self.src.len());
        if start > self.last_end {
            let allowed = check_gap(self.src, self.last_end, start, self.tabs).map_err(|(reason, at)| {
                let before = &self.src[..at];
                let line = before.matches('\n').count() + 1;
                let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                syntax(format!("{reason} at line {line} column {col}"))
            })?;
            self.tabs.simple_key_allowed = allowed;
            self.tabs.after_plain = false;
        }
        let at = self.src.as_bytes().get(start).copied();
        match ev {
            Event::StreamStart => self.tabs.simple_key_allowed = true,
            Event::DocumentStart(true) | Event::DocumentEnd if matches!(at, Some(b'-' | b'.')) => {
                self.tabs.simple_key_allowed = false;
            }
            Event::Scalar(_, ScalarStyle::Plain, ..) => self.tabs.after_plain = true,
            Event::Scalar(_, ScalarStyle::Literal | ScalarStyle::Folded, ..) => self.tabs.simple_key_allowed = true,
            Event::Scalar(..) | Event::Alias(_) => self.tabs.simple_key_allowed = false,
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let flow = matches!(at, Some(b'{' | b'['));
                self.open.push(if flow { None } else { Some(col) });
                if flow {
                    self.tabs.simple_key_allowed = true;
                }
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.open.pop();
                if matches!(at, Some(b'}' | b']')) {
                    self.tabs.simple_key_allowed = false;
                }
            }
            _ => {}
        }
        self.tabs.in_flow = self.open.iter().any(Option::is_none);
        self.tabs.indent = self.open.iter().rev().find_map(|c| *c).map_or(0, |c| c + 1);
        Ok(())
    }

    /// Finds comments in the source between `from` (the last event's end,
    /// or a block scalar's header) and `upto`.
    fn collect_comments(&mut self, from: usize, upto: usize) {
        if !self.keep_comments {
            return;
        }
        let upto = upto.min(self.src.len());
        if upto <= from {
            return;
        }
        let gap = &self.src[from..upto];
        if !gap.contains('#') {
            return;
        }
        let bytes = self.src.as_bytes();
        let mut pos = from;
        let mut saw_newline = false;
        while pos < upto {
            let b = bytes[pos];
            if b == b'\n' {
                saw_newline = true;
                pos += 1;
                continue;
            }
            let prev_blank = pos == 0 || matches!(bytes[pos - 1], b' ' | b'\t' | b'\n' | b'\r');
            if b == b'#' && prev_blank {
                // A comment ends at a line break, which in YAML is `\r` too.
                let line_end = self.src[pos..upto].find(['\n', '\r']).map_or(upto, |i| pos + i);
                let text = self.src[pos + 1..line_end].to_owned();
                let line_start = self.src[..pos].rfind('\n').map_or(0, |i| i + 1);
                let col = self.src[line_start..pos].chars().count();
                let before = &self.src[line_start..pos];
                let trailing = !saw_newline && self.last_end > 0 && !before.trim().is_empty();
                self.pending.push(Comment { text, col, trailing });
                pos = line_end;
                continue;
            }
            pos += 1;
        }
    }

    /// Reads a block or flow mapping after its `MappingStart`.
    fn mapping(&mut self, col: usize) -> Result<Map, Error> {
        let mut map = Map::new();
        // Comments seen before the mapping started belong to its head.
        for c in self.pending.drain(..) {
            map.items.push(Item::Comment(Text::new(c.text)));
        }
        let mut seen: HashMap<String, ()> = HashMap::new();
        loop {
            let (ev, span) = self.next()?;
            if let Event::MappingEnd = ev {
                self.close(&mut map.items, col, Item::Comment);
                return Ok(map);
            }
            self.place_comments(&mut map.items, Item::Comment);
            let key_line = span.start.line();
            let key = match self.node(ev, span, col)? {
                Value::Str(s) => s.as_str().to_owned(),
                other => {
                    return Err(Error::Structure(format!(
                        "line {key_line}: only string keys are supported, found a {} key",
                        other.kind()
                    )));
                }
            };
            if seen.insert(key.clone(), ()).is_some() {
                return Err(syntax(format!("line {key_line}: duplicate key {key:?} in a mapping")));
            }
            let at = map.items.len();
            let (ev, span) = self.next()?;
            let is_collection = matches!(ev, Event::MappingStart(..) | Event::SequenceStart(..));
            if !is_collection || self.pending.iter().any(|c| c.trailing) {
                // Comments between a key and its scalar value (or inline on
                // the key's line) go above the key, as sops writes them.
                let keep: Vec<Comment> = if is_collection {
                    let (t, rest): (Vec<_>, Vec<_>) = self.pending.drain(..).partition(|c| c.trailing);
                    self.pending = rest;
                    t
                } else {
                    self.pending.drain(..).collect()
                };
                for (i, c) in keep.into_iter().enumerate() {
                    map.items.insert(at + i, Item::Comment(Text::new(c.text)));
                }
            }
            let value = self.node(ev, span, col)?;
            map.items.push(Item::Pair(key, value));
        }
    }

    fn sequence(&mut self, col: usize) -> Result<Vec<Value>, Error> {
        let mut list = Vec::new();
        for c in self.pending.drain(..) {
            list.push(Value::Comment(Text::new(c.text)));
        }
        loop {
            let (ev, span) = self.next()?;
            if let Event::SequenceEnd = ev {
                self.close(&mut list, col, Value::Comment);
                return Ok(list);
            }
            self.place_comments(&mut list, Value::Comment);
            let v = self.node(ev, span, col)?;
            list.push(v);
        }
    }

    /// Puts pending comments before the next item: inline ones above the
    /// item they trail, the others in place.
    fn place_comments<T>(&mut self, items: &mut Vec<T>, wrap: impl Fn(Text) -> T) {
        if self.pending.is_empty() {
            return;
        }
        let last = items.len().saturating_sub(1);
        let mut inserted = 0;
        for c in self.pending.drain(..) {
            if c.trailing && !items.is_empty() {
                items.insert(last + inserted, wrap(Text::new(c.text)));
                inserted += 1;
            } else {
                items.push(wrap(Text::new(c.text)));
            }
        }
    }

    /// At the end of a collection: inline comments go above the last item,
    /// comments indented at least as far as the collection stay in it, the
    /// rest are left for the parent.
    fn close<T>(&mut self, items: &mut Vec<T>, col: usize, wrap: impl Fn(Text) -> T) {
        if self.pending.is_empty() {
            return;
        }
        let last = items.len().saturating_sub(1);
        let mut inserted = 0;
        let mut rest = Vec::new();
        let mut passing_up = false;
        for c in self.pending.drain(..) {
            if c.trailing && !items.is_empty() {
                items.insert(last + inserted, wrap(Text::new(c.text)));
                inserted += 1;
            } else if c.trailing {
                // `y: [] # c`: the comment trails the collection, not an
                // item of it; inside, it would turn `[]` into null.
                passing_up = true;
                rest.push(c);
            } else if !passing_up && c.col >= col {
                items.push(wrap(Text::new(c.text)));
            } else {
                passing_up = true;
                rest.push(c);
            }
        }
        self.pending = rest;
    }

    /// The byte offset of the `|` or `>` of the block scalar whose event
    /// starts at `start`. saphyr's span starts at the block's first content
    /// line (at the indicator only for a block that ends the file), so the
    /// header is looked for between the previous token and `start`,
    /// past a tag, an anchor and comments.
    fn block_header(&self, start: usize) -> Option<usize> {
        let b = self.src.as_bytes();
        let mut pos = self.prev_end.min(start);
        while pos < start {
            match b.get(pos)? {
                b'|' | b'>' => return Some(pos),
                b'#' if pos == 0 || matches!(b.get(pos - 1), Some(b' ' | b'\t' | b'\n' | b'\r')) => {
                    while pos < start && !matches!(b.get(pos), Some(b'\n' | b'\r')) {
                        pos += 1;
                    }
                }
                b'!' | b'&' => {
                    while pos < start && !matches!(b.get(pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                        pos += 1;
                    }
                }
                _ => pos += 1,
            }
        }
        matches!(b.get(start), Some(b'|' | b'>')).then_some(start)
    }

    /// One node; `parent` is the column of the collection holding it.
    fn node(&mut self, ev: Event<'a>, span: Span, parent: usize) -> Result<Value, Error> {
        let line = span.start.line();
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let start = self.offsets.byte(span.start.index());
                let text = match style {
                    ScalarStyle::Literal | ScalarStyle::Folded => {
                        let at = self.block_header(start).ok_or_else(|| {
                            syntax(format!("line {line}: the header of a block scalar was not found"))
                        })?;
                        let text = super::yaml_block::scan(self.src, at, parent)
                            .map_err(|e| syntax(format!("line {line}: while scanning a block scalar: {e}")))?;
                        std::borrow::Cow::Owned(text)
                    }
                    _ => go_yaml_text(text, self.src.get(start..self.offsets.byte(span.end.index()))),
                };
                self.budget.value(text.len(), &|| format!("line {line}"))?;
                let v = scalar(&text, style, tag.as_deref(), line)?;
                if anchor > 0 {
                    self.anchors.insert(anchor, Anchored { value: v.clone(), values: 1, bytes: text.len() });
                }
                Ok(v)
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => self.collection(ev, span),
            Event::Alias(id) => {
                let Some(a) = self.anchors.get(&id) else {
                    return Err(syntax(format!("line {line}: unknown alias")));
                };
                self.budget.add(a.values, a.bytes, &|| format!("line {line}"))?;
                Ok(a.value.clone())
            }
            _ => Err(syntax(format!("line {line}: unexpected YAML event"))),
        }
    }

    /// Reads a map or list (after its start event), one level deeper.
    fn collection(&mut self, ev: Event<'a>, span: Span) -> Result<Value, Error> {
        let line = span.start.line();
        self.budget.enter(&|| format!("line {line}"))?;
        let (values, bytes) = (self.budget.values(), self.budget.bytes());
        let (v, anchor) = match ev {
            Event::MappingStart(anchor, _) => (Value::Map(self.mapping(span.start.col())?), anchor),
            Event::SequenceStart(anchor, _) => (Value::List(self.sequence(span.start.col())?), anchor),
            _ => return Err(syntax(format!("line {line}: unexpected YAML event"))),
        };
        self.budget.leave();
        if anchor > 0 {
            // Keeping the copy is itself charged, so anchoring cannot double
            // what the budget allows.
            let values = self.budget.values().saturating_sub(values) + 1;
            let bytes = self.budget.bytes().saturating_sub(bytes);
            self.budget.add(values, bytes, &|| format!("line {line}"))?;
            self.anchors.insert(anchor, Anchored { value: v.clone(), values, bytes });
        }
        Ok(v)
    }
}

fn scalar(text: &str, style: ScalarStyle, tag: Option<&saphyr_parser::Tag>, line: usize) -> Result<Value, Error> {
    // The non-specific tag `!` is no tag to go-yaml: `! 12` is the integer
    // 12 to sops (YAML 1.2 would make it the string "12"); seal reads what
    // sops reads, so that both decrypt a file to the same data.
    let tag = tag.filter(|t| !(t.handle.is_empty() && t.suffix == "!"));
    let Some(tag) = tag else {
        return Ok(match style {
            ScalarStyle::Plain => resolve_plain(text),
            _ => Value::str(text),
        });
    };
    // `!!x`, or the verbatim `!<tag:yaml.org,2002:x>`.
    let core = if tag.handle == "tag:yaml.org,2002:" || tag.handle == "!!" {
        Some(tag.suffix.as_str())
    } else if tag.handle.is_empty() || tag.handle == "!" {
        tag.suffix.strip_prefix("tag:yaml.org,2002:")
    } else {
        None
    };
    match core {
        Some("str") => Ok(Value::str(text)),
        Some("binary") => {
            let cleaned: String = text.split_whitespace().collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(cleaned)
                .map_err(|_| syntax(format!("line {line}: invalid !!binary value")))?;
            String::from_utf8(bytes).map(|s| Value::Str(Text::new(s))).map_err(|_| {
                Error::Structure(format!("line {line}: a !!binary value that is not UTF-8 cannot be stored by sops"))
            })
        }
        Some("null") => Ok(Value::Null),
        Some(kind @ ("bool" | "int" | "float" | "timestamp")) => {
            let v = resolve_plain(text);
            let ok = matches!(
                (kind, &v),
                ("bool", Value::Bool(_))
                    | ("int", Value::Int(_))
                    | ("float", Value::Float(_))
                    | ("float", Value::Int(_))
                    | ("timestamp", Value::Time(_))
            );
            match (ok, kind, v) {
                (true, "float", Value::Int(i)) => Ok(Value::Float(i as f64)),
                (true, _, v) => Ok(v),
                _ => Err(syntax(format!("line {line}: value does not match its tag !!{kind}"))),
            }
        }
        // Maps and sequences are not scalars; anything else, a local tag
        // such as `!foo` included, leaves the text a string, as go-yaml
        // decodes it into sops' tree.
        Some("map" | "seq") => Err(syntax(format!("line {line}: a scalar tagged as a collection"))),
        _ => Ok(Value::str(text)),
    }
}

/// Resolves a plain scalar as go-yaml v3 does (YAML 1.2 core schema plus
/// timestamps).
pub fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Value::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return Value::str(s);
    }
    let plain = s.replace('_', "");
    if let Some(i) = parse_int(&plain) {
        return Value::Int(i);
    }
    // Like go-yaml: an integer out of range, or a float, reads as a float
    // when it has the YAML float form and fits; beyond float64 it stays a
    // string (`1e400`).
    if is_yaml_float(&plain)
        && let Ok(f) = plain.parse::<f64>()
        && f.is_finite()
    {
        return Value::Float(f);
    }
    if let Some(t) = parse_timestamp(s) {
        return Value::Time(t);
    }
    Value::str(s)
}

/// An integer as Go's `strconv.ParseInt(s, 0, 64)` reads it, which is what
/// go-yaml does: `0x`/`0X` hex, `0o`/`0O` and a leading `0` octal,
/// `0b`/`0B` binary, an optional sign. `None` when it is not one, or out of
/// range.
fn parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let prefix = body.get(..2).map(str::to_ascii_lowercase);
    let (radix, digits) = match prefix.as_deref() {
        Some("0x") => (16, &body[2..]),
        Some("0o") => (8, &body[2..]),
        Some("0b") => (2, &body[2..]),
        _ if body.len() > 1 && body.starts_with('0') => (8, &body[1..]),
        _ => (10, body),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let mag = i128::try_from(u128::from_str_radix(digits, radix).ok()?).ok()?;
    i64::try_from(if neg { -mag } else { mag }).ok()
}

fn is_yaml_float(s: &str) -> bool {
    // ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if int_digits == 0 && i == frac_start {
            return false;
        }
    } else if int_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == b.len()
}

/// Parses the timestamp forms go-yaml accepts and renders them as Go's
/// `time.MarshalText` does.
pub fn parse_timestamp(s: &str) -> Option<Time> {
    let b = s.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    let (date, rest) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], Some((&s[i..i + 1], &s[i + 1..]))),
        None => (s, None),
    };
    let mut d = date.split('-');
    let year: i32 = d.next()?.parse().ok()?;
    let month: u32 = num(d.next()?, 2)?;
    let day: u32 = num(d.next()?, 2)?;
    if d.next().is_some() {
        return None;
    }
    let mut out = String::with_capacity(35);
    let (mut h, mut mi, mut se, mut frac, mut zone) = (0u32, 0u32, 0u32, String::new(), "Z".to_owned());
    if let Some((sep, time)) = rest {
        let (clock, z) = if sep == " " {
            (time, None)
        } else {
            let zi = time.find(['Z', '+', '-'])?;
            (&time[..zi], Some(&time[zi..]))
        };
        let (hms, f) = match clock.split_once('.') {
            Some((a, f)) => (a, f),
            None => (clock, ""),
        };
        if f.len() > 9 || !f.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let mut t = hms.split(':');
        h = num(t.next()?, 2)?;
        mi = num(t.next()?, 2)?;
        se = num(t.next()?, 2)?;
        if t.next().is_some() || h > 23 || mi > 59 || se > 60 {
            return None;
        }
        frac = f.trim_end_matches('0').to_owned();
        if let Some(z) = z {
            if z == "Z" {
            } else {
                let zb = z.as_bytes();
                if zb.len() != 6 || zb[3] != b':' {
                    return None;
                }
                let zh: u32 = num(&z[1..3], 2)?;
                let zm: u32 = num(&z[4..6], 2)?;
                if zh != 0 || zm != 0 {
                    zone = format!("{}{:02}:{:02}", &z[..1], zh, zm);
                }
            }
        }
    }
    chrono::NaiveDate::from_ymd_opt(year, month, day)?;
    use std::fmt::Write;
    let _ = write!(out, "{year:04}-{month:02}-{day:02}T{h:02}:{mi:02}:{se:02}");
    if !frac.is_empty() {
        out.push('.');
        out.push_str(&frac);
    }
    out.push_str(&zone);
    Some(Time(out))
}

fn num(s: &str, max_len: usize) -> Option<u32> {
    if s.is_empty() || s.len() > max_len || !s.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

// ---------------------------------------------------------------------------
// Emitter

/// How the emitter lays out a document: sops's (go-yaml v3: `indent`
/// spaces, sequences indented under their key) or go-yaml v2's (`v2`:
/// sequences at their key's column, block scalars indented from their
/// mapping's column, plain and single-quoted values folded past column 80).
#[derive(Clone, Copy)]
struct Layout {
    indent: usize,
    v2: bool,
}

/// go-yaml v2's line width: a value's plain or single-quoted text is
/// folded at a space once its line is longer.
const V2_WIDTH: usize = 80;

/// Writes documents as a YAML stream, `---` between documents.
pub fn emit(docs: &[&Map], indent: usize) -> String {
    let lay = Layout { indent, v2: false };
    let mut out = String::with_capacity(4096);
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        emit_map(&mut out, doc, 0, lay, indent);
        if doc.pairs().next().is_none() {
            // A document of comments alone is still a mapping (sops writes
            // `#…` then `{}`), or it would read back as no document.
            out.push_str("{}\n");
        }
    }
    out
}

/// Writes one value the way `sops -d --extract` prints it.
pub fn emit_value(v: &Value, indent: usize) -> String {
    emit_laid_out(v, Layout { indent, v2: false })
}

/// Writes one value as go-yaml v2's `Marshal` does (what sigs.k8s.io/yaml
/// gives, after its JSON round trip): 2-space indentation, sequences at
/// their key's column, plain and single-quoted values folded at a space
/// past column 80. Map keys are written in the map's order.
pub fn emit_value_v2(v: &Value) -> String {
    emit_laid_out(v, Layout { indent: 2, v2: true })
}

fn emit_laid_out(v: &Value, lay: Layout) -> String {
    let mut out = String::new();
    match v {
        Value::Map(m) if has_data(v) => emit_map(&mut out, m, 0, lay, lay.indent),
        Value::List(l) if has_data(v) => emit_list(&mut out, l, 0, lay),
        other => {
            emit_scalar(&mut out, other, BlockAt { col: lay.indent, parent: 0 }, lay.v2);
            out.push('\n');
        }
    }
    out
}

fn pad(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// `lit_col` is where block scalar content goes: go-yaml indents it from the
/// mapping's indentation level, which for a map inside a sequence item is
/// the dash's column, not the keys'.
fn emit_map(out: &mut String, m: &Map, col: usize, lay: Layout, lit_col: usize) {
    let indent = lay.indent;
    for item in &m.items {
        match item {
            Item::Comment(c) => {
                pad(out, col);
                out.push('#');
                out.push_str(c);
                out.push('\n');
            }
            Item::Pair(k, v) if k.len() > MAX_SIMPLE_KEY => {
                // An explicit key (`? key` then `: value`), as go-yaml
                // writes keys over 128 bytes: YAML limits an implicit key
                // to 1,024 characters.
                pad(out, col);
                out.push_str("? ");
                emit_str(out, k, BlockAt::KEY, true);
                out.push('\n');
                pad(out, col);
                out.push(':');
                match v {
                    Value::Map(m) if has_data(v) => {
                        let start = out.len();
                        emit_map(out, m, col + indent, lay, col + 2 * indent);
                        value_first_line(out, start, col + 1);
                    }
                    Value::List(l) if has_data(v) => {
                        let start = out.len();
                        emit_list(out, l, col + indent, lay);
                        value_first_line(out, start, col + 1);
                    }
                    other => {
                        out.push(' ');
                        emit_scalar(out, other, BlockAt { col: lit_col, parent: col }, lay.v2);
                        out.push('\n');
                        emit_orphan_comments(out, other, col);
                    }
                }
            }
            Item::Pair(k, v) => {
                pad(out, col);
                emit_str(out, k, BlockAt::KEY, true);
                out.push(':');
                emit_after_key(out, v, col, lay, lit_col);
            }
        }
    }
}

/// The column of a collection nested under a key at `col`. go-yaml v3
/// aligns it to the next multiple of the indentation (`best_indent *
/// ((indent + best_indent) / best_indent)`), so under a key of a map in a
/// list item (column 10) it goes to column 12, not 14: the layout sops
/// writes for `key_groups`. go-yaml v2 adds the indentation.
fn nested_col(col: usize, lay: Layout) -> usize {
    let indent = lay.indent.max(1);
    if lay.v2 { col + indent } else { indent * (col / indent + 1) }
}

fn emit_after_key(out: &mut String, v: &Value, col: usize, lay: Layout, lit_col: usize) {
    match v {
        Value::Map(m) if has_data(v) => {
            out.push('\n');
            let keys = nested_col(col, lay);
            emit_map(out, m, keys, lay, nested_col(keys, lay));
        }
        Value::List(l) if has_data(v) => {
            out.push('\n');
            emit_list(out, l, if lay.v2 { col } else { nested_col(col, lay) }, lay);
        }
        other => {
            out.push(' ');
            emit_scalar(out, other, BlockAt { col: lit_col, parent: col }, lay.v2);
            out.push('\n');
            emit_orphan_comments(out, other, col);
        }
    }
}

/// True for a map with a pair or a list with an item: a collection of
/// comments alone is written `{}`/`[]`, or it would read back as null.
fn has_data(v: &Value) -> bool {
    match v {
        Value::Map(m) => m.pairs().next().is_some(),
        Value::List(l) => l.iter().any(|v| !matches!(v, Value::Comment(_))),
        _ => false,
    }
}

/// The comments of an empty collection, on the lines after its `{}`/`[]`.
fn emit_orphan_comments(out: &mut String, v: &Value, col: usize) {
    let comments: Vec<&str> = match v {
        Value::Map(m) => m
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Comment(c) => Some(c.as_str()),
                Item::Pair(..) => None,
            })
            .collect(),
        Value::List(l) => l
            .iter()
            .filter_map(|v| match v {
                Value::Comment(c) => Some(c.as_str()),
                _ => None,
            })
            .collect(),
        _ => return,
    };
    for c in comments {
        pad(out, col);
        out.push('#');
        out.push_str(c);
        out.push('\n');
    }
}

fn emit_list(out: &mut String, l: &[Value], col: usize, lay: Layout) {
    for v in l {
        match v {
            Value::Comment(c) => {
                pad(out, col);
                out.push('#');
                out.push_str(c);
                out.push('\n');
            }
            Value::Map(m) if has_data(v) => {
                let start = out.len();
                // go-yaml v3 indents a block scalar from the dash, v2 from the
                // keys. At an indentation of 2, the dash's would put it at
                // the keys' column, where it would not read back as theirs:
                // go-yaml (and so sops' `stores: yaml: indent: 2`) writes it
                // one level further.
                let lit_col = match (lay.v2, lay.indent) {
                    (true, indent) => col + 2 + indent,
                    (false, 0..=2) => col + 4,
                    (false, indent) => col + indent,
                };
                emit_map(out, m, col + 2, lay, lit_col);
                dash_first_line(out, start, col);
            }
            Value::List(inner) if has_data(v) => {
                let start = out.len();
                emit_list(out, inner, col + 2, lay);
                dash_first_line(out, start, col);
            }
            other => {
                pad(out, col);
                out.push_str("- ");
                emit_scalar(out, other, BlockAt { col: col + 2, parent: col }, lay.v2);
                out.push('\n');
                emit_orphan_comments(out, other, col);
            }
        }
    }
}

/// Keys longer than this many bytes are written as explicit keys.
const MAX_SIMPLE_KEY: usize = 128;

/// After the `:` of an explicit key: the nested block written since
/// `start` begins on the `:` line, so its first `taken` spaces (the columns
/// up to and including the `:`) are dropped; a first comment line stays on
/// its own line.
fn value_first_line(out: &mut String, start: usize, taken: usize) {
    let first_line_is_comment = out[start..].trim_start_matches(' ').starts_with('#');
    if first_line_is_comment {
        out.insert(start, '\n');
    } else {
        out.replace_range(start..start + taken, "");
    }
}

/// Turns the first line written since `start` (indented by `col + 2`) into a
/// compact sequence entry `- …` at `col`.
fn dash_first_line(out: &mut String, start: usize, col: usize) {
    // The nested writer always starts with `col + 2` spaces, unless its first
    // item is a comment line, which must then stand on its own.
    let first_line_is_comment = out[start..].trim_start_matches(' ').starts_with('#');
    if first_line_is_comment {
        let mut head = String::new();
        pad(&mut head, col);
        head.push_str("-\n");
        out.insert_str(start, &head);
    } else {
        out.replace_range(start + col..start + col + 2, "- ");
    }
}

/// Where a block scalar's lines go: its content column, and the column of
/// the collection holding it, from which an indentation indicator counts.
#[derive(Clone, Copy)]
struct BlockAt {
    col: usize,
    parent: usize,
}

impl BlockAt {
    /// For keys, which are never written as block scalars.
    const KEY: BlockAt = BlockAt { col: 0, parent: 0 };

    /// The indentation indicator a block starting with a space or a line
    /// break needs, when it fits in one digit.
    fn hint(self) -> Option<usize> {
        self.col.checked_sub(self.parent).filter(|h| (1..=9).contains(h))
    }
}

/// `fold`: go-yaml v2's folding of long values (see [`emit_str`]).
fn emit_scalar(out: &mut String, v: &Value, at: BlockAt, fold: bool) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        // `-0` would read back as the integer 0, whose MAC bytes differ.
        Value::Float(f) if *f == 0.0 && f.is_sign_negative() => out.push_str("-0.0"),
        Value::Float(f) => {
            let s = go_format_g(*f);
            out.push_str(match s.as_str() {
                "+Inf" => ".inf",
                "-Inf" => "-.inf",
                "NaN" => ".nan",
                _ => &s,
            })
        }
        Value::Time(t) => out.push_str(&t.0),
        Value::Str(s) => emit_str_folded(out, s, at, fold),
        Value::Comment(c) => emit_str(out, c, at, false),
        Value::Map(_) => out.push_str("{}"),
        Value::List(_) => out.push_str("[]"),
    }
}

/// Chooses the style go-yaml would: literal blocks for multi-line text,
/// double quotes for strings that read back as another type or hold
/// characters YAML cannot print, plain when safe, else single quotes.
fn emit_str(out: &mut String, s: &str, at: BlockAt, is_key: bool) {
    // go-yaml accepts tabs inside literal blocks but quotes a one-line string with a tab.
    let special = !s.chars().all(|c| c == '\n' || c == '\t' || printable(c));
    if s.contains('\n') {
        if !is_key && !special && literal_allowed(s, at) {
            emit_literal(out, s, at);
        } else {
            emit_double_quoted(out, s);
        }
    } else if reads_as_other_type(s) || special || s.contains('\t') {
        emit_double_quoted(out, s);
    } else if plain_allowed(s) {
        out.push_str(s);
    } else {
        out.push('\'');
        out.push_str(&s.replace('\'', "''"));
        out.push('\'');
    }
}

/// A value's string; with `fold`, as go-yaml v2 (libyaml) writes it: a
/// plain or single-quoted string is broken at a space, instead of the
/// space, once its line is longer than [`V2_WIDTH`] and the next character
/// is not a space; continuation lines start at `lit_col`.
fn emit_str_folded(out: &mut String, s: &str, at: BlockAt, fold: bool) {
    let lit_col = at.col;
    let start = out.len();
    emit_str(out, s, at, false);
    let written = out.split_off(start);
    let quoted = written.starts_with('\'');
    if !fold || s.contains('\n') || !(quoted || written == s) {
        out.push_str(&written);
        return;
    }
    let mut column = out.rsplit('\n').next().map_or(0, |line| line.chars().count());
    let chars: Vec<char> = written.chars().collect();
    let last = chars.len().saturating_sub(1);
    let mut spaces = false;
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let next_is_space = chars.get(i + 1) == Some(&' ');
            // Single quotes: never at the first or last character inside them.
            let inside = !quoted || (i > 1 && i + 1 < last);
            if !spaces && column > V2_WIDTH && !next_is_space && inside {
                out.push('\n');
                pad(out, lit_col);
                column = lit_col;
            } else {
                out.push(' ');
                column += 1;
            }
            spaces = true;
        } else {
            out.push(c);
            column += 1;
            spaces = false;
        }
    }
}

/// go-yaml's rule (`yaml_emitter_analyze_scalar`): no space at the end or
/// before a line break; a block that starts with a space or a line break
/// needs an indentation indicator.
///
/// Unlike go-yaml, a text starting with a tab is double-quoted: go-yaml
/// writes it as a block that no reader, sops included, reads back.
fn literal_allowed(s: &str, at: BlockAt) -> bool {
    !s.contains(" \n")
        && !s.ends_with(' ')
        && !s.starts_with('\t')
        && (!s.starts_with([' ', '\n']) || at.hint().is_some())
}

/// Writes a literal block as go-yaml does (`yaml_emitter_write_block_scalar_hints`):
/// an indentation indicator when the text starts with a space or a line
/// break, `-` without a final line break, `+` with more than one (or when
/// the text is one line break).
fn emit_literal(out: &mut String, s: &str, at: BlockAt) {
    out.push('|');
    if s.starts_with([' ', '\n'])
        && let Some(hint) = at.hint()
    {
        out.push_str(&hint.to_string());
    }
    if !s.ends_with('\n') {
        out.push('-');
    } else if s == "\n" || s.ends_with("\n\n") {
        out.push('+');
    }
    out.push('\n');
    let body = s.strip_suffix('\n').unwrap_or(s);
    for line in body.split('\n') {
        if !line.is_empty() {
            pad(out, at.col);
            out.push_str(line);
        }
        out.push('\n');
    }
    // The caller adds the newline that ends the value's line.
    out.pop();
}

/// Characters written as they are. U+0085, U+2028 and U+2029 are line
/// breaks to go-yaml, so they are escaped (`\N`, `\L`, `\P`) in double
/// quotes instead: written raw, sops would read another value.
fn printable(c: char) -> bool {
    let u = c as u32;
    (0x20..0x7f).contains(&u)
        || (0xa0..=0xd7ff).contains(&u) && !(0x2028..=0x2029).contains(&u)
        || (0xe000..=0xfffd).contains(&u) && u != 0xfeff
}

/// True when `s` can be written without quotes and reads back as the same string.
pub fn plain_allowed(s: &str) -> bool {
    if s.is_empty() || s.starts_with([' ', '\t']) || s.ends_with([' ', '\t']) {
        return false;
    }
    let b = s.as_bytes();
    if matches!(
        b[0],
        b'?' | b':'
            | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'#'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
    ) {
        return false;
    }
    if b[0] == b'-' && (b.len() == 1 || b[1] == b' ' || s.starts_with("---")) {
        return false;
    }
    if s.starts_with("...") {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') || s.contains(":\t") {
        return false;
    }
    s.chars().all(printable) && !reads_as_other_type(s)
}

/// Strings that would read back as another type if unquoted, including the
/// YAML 1.1 booleans that go-yaml still quotes for older readers.
fn reads_as_other_type(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y" | "yes" | "Yes" | "YES" | "n" | "N" | "no" | "No" | "NO" | "on" | "On" | "ON" | "off" | "Off" | "OFF"
    ) || !matches!(resolve_plain(s), Value::Str(_))
}

/// Writes a double-quoted YAML string with escapes (non-BMP characters as
/// `\U…`, as go-yaml does).
pub fn emit_double_quoted(out: &mut String, s: &str) {
    use std::fmt::Write;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if printable(c) => out.push(c),
            c if (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08X}", c as u32);
            }
        }
    }
    out.push('"');
}
