//! Block scalars (`|`, `>`) read as go-yaml v3 reads them, which is what
//! sops decrypts to and computes its MAC over. saphyr follows the YAML 1.2
//! spec, and the two disagree on blocks of blank lines: `y: |` then an
//! empty line is `""` to go-yaml and `"\n"` to the spec, and a block that
//! ends the file without a line break keeps no final break in go-yaml. Rather
//! than patch saphyr's value case by case, the reader re-scans each block
//! scalar here with go-yaml's rules (`scannerc.go`:
//! `yaml_parser_scan_block_scalar` and `yaml_parser_scan_block_scalar_breaks`).
//! saphyr still decides where the block ends; this decides its text.

/// A block scalar's text from its indicator at byte `at` of `src`, where
/// `parent` is the column of the block collection holding it (go-yaml's
/// `parser.indent`). The scan is linear in the block's length. `Err` is
/// go-yaml's message for a block it refuses.
pub(super) fn scan(src: &str, at: usize, parent: usize) -> Result<String, &'static str> {
    let mut c = Cursor { rest: src.get(at..).unwrap_or_default(), col: 0 };
    let literal = match c.peek() {
        Some('|') => true,
        Some('>') => false,
        _ => return Err("a block scalar must start with '|' or '>'"),
    };
    c.skip();
    // Chomping (`+`, `-`) and indentation (1-9), in either order.
    let (mut chomping, mut increment) = (0i8, 0usize);
    for _ in 0..2 {
        match c.peek() {
            Some('+') if chomping == 0 => chomping = 1,
            Some('-') if chomping == 0 => chomping = -1,
            Some('0') if increment == 0 => return Err("found an indentation indicator equal to 0"),
            Some(d @ '1'..='9') if increment == 0 => increment = d as usize - '0' as usize,
            _ => break,
        }
        c.skip();
    }
    while matches!(c.peek(), Some(' ' | '\t')) {
        c.skip();
    }
    if c.peek() == Some('#') {
        while c.peek().is_some_and(|ch| !is_break(ch)) {
            c.skip();
        }
    }
    if c.peek().is_some_and(|ch| !is_break(ch)) {
        return Err("did not find expected comment or line break");
    }
    let mut ignored = String::new();
    c.read_line(&mut ignored);

    let mut indent = if increment > 0 { parent + increment } else { 0 };
    let (mut s, mut leading_break, mut trailing_breaks) = (String::new(), String::new(), String::new());
    breaks(&mut c, &mut indent, &mut trailing_breaks, parent)?;
    let mut leading_blank = false;
    while c.col == indent && c.peek().is_some() {
        // At the first content character of a line.
        let trailing_blank = matches!(c.peek(), Some(' ' | '\t'));
        if !literal && !leading_blank && !trailing_blank && leading_break.starts_with('\n') {
            if trailing_breaks.is_empty() {
                s.push(' ');
            }
        } else {
            s.push_str(&leading_break);
        }
        leading_break.clear();
        s.push_str(&trailing_breaks);
        trailing_breaks.clear();
        leading_blank = trailing_blank;
        while let Some(ch) = c.peek().filter(|&ch| !is_break(ch)) {
            s.push(ch);
            c.skip();
        }
        c.read_line(&mut leading_break);
        breaks(&mut c, &mut indent, &mut trailing_breaks, parent)?;
    }
    if chomping != -1 {
        s.push_str(&leading_break);
    }
    if chomping == 1 {
        s.push_str(&trailing_breaks);
    }
    Ok(s)
}

/// Eats indentation and empty lines, collecting their breaks, and fixes the
/// indentation from the first content line when no indicator gave it.
fn breaks(c: &mut Cursor<'_>, indent: &mut usize, out: &mut String, parent: usize) -> Result<(), &'static str> {
    let mut max_indent = 0;
    loop {
        while (*indent == 0 || c.col < *indent) && c.peek() == Some(' ') {
            c.skip();
        }
        max_indent = max_indent.max(c.col);
        if (*indent == 0 || c.col < *indent) && c.peek() == Some('\t') {
            return Err("found a tab character where an indentation space is expected");
        }
        if !c.peek().is_some_and(is_break) {
            break;
        }
        c.read_line(out);
    }
    if *indent == 0 {
        *indent = max_indent.max(parent + 1);
    }
    Ok(())
}

/// go-yaml's line breaks: CR, LF, CR LF, NEL, LS and PS.
fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

struct Cursor<'a> {
    rest: &'a str,
    /// Characters since the last line break.
    col: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.rest.chars().next()
    }

    fn skip(&mut self) {
        if let Some(ch) = self.peek() {
            self.rest = &self.rest[ch.len_utf8()..];
            self.col += 1;
        }
    }

    /// Eats one line break, appending it as go-yaml does (`read_line`):
    /// CR LF, CR and NEL become LF; LS and PS stay.
    fn read_line(&mut self, out: &mut String) {
        match self.peek() {
            Some('\r') => {
                self.skip();
                if self.peek() == Some('\n') {
                    self.skip();
                }
                out.push('\n');
            }
            Some('\n' | '\u{85}') => {
                self.skip();
                out.push('\n');
            }
            Some(ch @ ('\u{2028}' | '\u{2029}')) => {
                self.skip();
                out.push(ch);
            }
            _ => return,
        }
        self.col = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::scan;

    fn block(src: &str, parent: usize) -> Result<String, &'static str> {
        let at = src.find(['|', '>']).expect("an indicator");
        scan(src, at, parent)
    }

    #[test]
    fn keep_chomping_keeps_blank_lines_before_a_less_indented_key() {
        assert_eq!(block("y: |+\n\nd: 1\n", 0).as_deref(), Ok("\n"));
        assert_eq!(block("y: >+\n\n\nd: 1\n", 0).as_deref(), Ok("\n\n"));
        assert_eq!(block("z:\n |+\n\nd: 1\n", 0).as_deref(), Ok("\n"));
    }

    #[test]
    fn clip_and_strip_chomping_of_blank_lines_give_empty_text() {
        assert_eq!(block("y: |\n\n\nd: 1\n", 0).as_deref(), Ok(""));
        assert_eq!(block("y: |-\n\n", 0).as_deref(), Ok(""));
        assert_eq!(block("y: |+\n", 0).as_deref(), Ok(""));
    }

    #[test]
    fn a_block_ending_the_file_without_a_break_keeps_none() {
        assert_eq!(block("y: |\n  last", 0).as_deref(), Ok("last"));
        assert_eq!(block("y: |+\n  last", 0).as_deref(), Ok("last"));
    }

    #[test]
    fn an_indentation_indicator_counts_from_the_parent_collection() {
        assert_eq!(block("y: |2+\n   data\n\n\n", 0).as_deref(), Ok(" data\n\n\n"));
        assert_eq!(block("a:\n    y: |2\n         data\n", 4).as_deref(), Ok("   data\n"));
        assert_eq!(block("y: |1\n  data\n", 0).as_deref(), Ok(" data\n"));
    }

    #[test]
    fn folding_joins_lines_but_not_more_indented_ones() {
        assert_eq!(block("y: >\n  a\n  b\n\n  c\n   d\n  e\n", 0).as_deref(), Ok("a b\nc\n d\ne\n"));
    }

    #[test]
    fn a_tab_in_indentation_is_refused_as_go_yaml_refuses_it() {
        assert!(block("y: |+\n \t\n", 0).is_err());
        assert!(block("y: |0\n  x\n", 0).is_err());
        assert!(block("y: | x\n  x\n", 0).is_err());
        // A tab after the indentation is content, once the indentation is known.
        assert_eq!(block("y: |\n  a\n  \tx\n", 0).as_deref(), Ok("a\n\tx\n"));
        assert!(block("y: |\n  \tx\n", 0).is_err());
    }
}
