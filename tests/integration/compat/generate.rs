//! The documents of the differential run: YAML, JSON and dotenv built
//! from the shapes where seal and sops used to disagree, from a fixed seed.

pub(super) struct Lcg(pub(super) u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

const YAML_VALUES: &[&str] = &[
    "017",
    "0X1F",
    "0O17",
    "0B11",
    "0x1f",
    "-0",
    "-0.0",
    "1e400",
    "-1e400",
    "123456789012345678901234567890",
    "9007199254740993",
    "!foo 5",
    "!<tag:yaml.org,2002:str> 7",
    "!!str 8",
    "\"x\" # c",
    "'y' # c",
    "[1, 2] # c",
    "plain",
    "\"quoted\"",
    "true",
    "3.5",
    "2001-12-14T21:59:43.1-05:00",
    "\"a\\u2028b\"",
    "\"a\\u2029#b\"",
    "\"a\\u0085b\"",
    "[]",
    "{}",
    "|\n    line one\n    line two\n",
    "|\n\n",
    ">\n    folded\n",
    "null",
    "~",
    "08",
    "! 12",
    "! \"12\"",
    "! true",
    "!<!> 7",
    "!!int 5",
    "!!float 1",
    "!!bool true",
    "!!null ~",
    "!!str 08",
    "!!timestamp 2001-12-14",
    "!foo bar",
    "&a x",
];
const JSON_VALUES: &[&str] = &[
    "-0",
    "-0.0",
    "0",
    "9007199254740993",
    "-9007199254740993",
    "12345678901234567890",
    "1e300",
    "1.5",
    "\"s\"",
    "\"a\\u2028b\"",
    "\"\\u0085k\"",
    "true",
    "null",
    "[1, \"x\", {\"n\": 2}]",
    "{\"inner\": -0}",
    "4928776",
];

/// A block scalar's header and lines, its content indented past `col`:
/// keep, strip and clip chomping, indentation indicators, blank and
/// whitespace-only lines, lines starting with spaces.
fn block_scalar(g: &mut Lcg, col: usize) -> String {
    let mut out = String::new();
    out.push_str(g.pick(&["|", ">"]));
    let chomp = g.pick(&["", "+", "-", "+"]);
    let hint = g.pick(&["", "", "1", "2", "4"]);
    if g.next().is_multiple_of(2) {
        out.push_str(chomp);
        out.push_str(hint);
    } else {
        out.push_str(hint);
        out.push_str(chomp);
    }
    if g.next().is_multiple_of(5) {
        // A comment after the header, past a space or a tab.
        out.push_str(sep(g));
        out.push_str("# h");
    }
    out.push('\n');
    let pad = " ".repeat(col + 2);
    for _ in 0..g.next() % 4 {
        let line = g.pick(&["", "", "x", " lead", "  two", "", "   ", "  ", "y z", "\tt", "    ", " \t"]);
        if line.trim().is_empty() && g.next().is_multiple_of(2) {
            out.push_str(line);
        } else {
            out.push_str(&pad);
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// The separation after a key's `:` (or a sequence's `-`): a space, a tab,
/// or both.
fn sep(g: &mut Lcg) -> &'static str {
    g.pick(&[" ", " ", " ", "\t", " \t", "\t "])
}

/// One value after `key:` at column `col`: a scalar on the same line, a
/// block scalar (its header on the key's line or alone on the next), a
/// nested map or a sequence holding one.
fn yaml_value(g: &mut Lcg, col: usize) -> String {
    let inner = " ".repeat(col + 2);
    match g.next() % 10 {
        0 | 1 => {
            // A tag or an anchor between the `:` and the header, each
            // separated by a space, a tab or both.
            let props = match g.pick(&["", "", "!!str", "&b", "!t", "!"]) {
                "" => String::new(),
                p => format!("{}{p}", sep(g)),
            };
            format!("{props}{}{}", sep(g), block_scalar(g, col))
        }
        2 => format!("{}\n{inner}{}", g.pick(&["", "", "\t", " \t"]), block_scalar(g, col)),
        3 => format!("\n{inner}sub:{}", yaml_value(g, col + 2)),
        4 => {
            let item = if g.next().is_multiple_of(2) {
                block_scalar(g, col + 2)
            } else {
                format!("{}\n", g.pick(YAML_VALUES))
            };
            format!("\n{inner}-{}{item}", sep(g))
        }
        5 => format!("\n{inner}- k:{}", yaml_value(g, col + 4)),
        6 => format!("{}{}\t# c\n", sep(g), g.pick(YAML_VALUES)),
        7 => format!("{}{}\n{}\n", sep(g), g.pick(YAML_VALUES), g.pick(&["\t", " \t", "  \t", ""])),
        8 => format!("{}{}\n", sep(g), g.pick(&["[a,\tb]", "{p:\tq}", "[\t1, 2 ]", "!!str\t1", "&t\tv"])),
        _ => format!("{}{}\n", sep(g), g.pick(YAML_VALUES)),
    }
}

pub(super) fn yaml_doc(g: &mut Lcg, i: usize) -> String {
    let mut out = String::new();
    if g.next().is_multiple_of(8) {
        out.push('\u{feff}');
    }
    let n = 1 + g.next() % 5;
    for j in 0..n {
        let key = match g.next() % 10 {
            0 => format!("k{j}_unencrypted"),
            1 => format!("long{j}{}", "x".repeat(130 + (g.next() % 1000) as usize)),
            2 => format!("\"u{j}\\u2028k\""),
            3 => format!("k{i}_{j}\t"),
            _ => format!("k{i}_{j}"),
        };
        if g.next().is_multiple_of(3) {
            out.push_str(&format!("{key}:{}", yaml_value(g, 0)));
        } else {
            out.push_str(&format!("{key}: {}\n", g.pick(YAML_VALUES)));
        }
    }
    if g.next().is_multiple_of(6) {
        // A block scalar that ends the file without a newline.
        out.push_str(g.pick(&["tail: |\n  last", "tail: |+\n  last", "tail: >-\n  last\n\n  more"]));
    }
    out
}

pub(super) fn json_doc(g: &mut Lcg, i: usize) -> String {
    let n = 1 + g.next() % 5;
    let items: Vec<String> = (0..n)
        .map(|j| {
            let key = match g.next() % 6 {
                0 => format!("k{j}_unencrypted"),
                1 => format!("u{j}\\u2028k"),
                _ => format!("k{i}_{j}"),
            };
            format!("\"{key}\": {}", g.pick(JSON_VALUES))
        })
        .collect();
    format!("{{{}}}\n", items.join(", "))
}

pub(super) fn dotenv_doc(g: &mut Lcg, i: usize) -> String {
    let n = 1 + g.next() % 5;
    (0..n)
        .map(|j| match g.next() % 6 {
            0 => format!("#comment {j}\n"),
            1 => format!("K{i}_{j}=with\\nnewline\n"),
            2 => format!("K{i}_{j}_unencrypted=clear\n"),
            3 => format!("K{i}_{j}=crlf\r\n"),
            _ => format!("K{i}_{j}=value {j}\n"),
        })
        .collect()
}

/// Selection flags, some leaving every value in clear.
pub(super) fn flags(g: &mut Lcg) -> Vec<&'static str> {
    match g.next() % 6 {
        0 => vec!["--encrypted-regex", "^zzz"],
        1 => vec!["--unencrypted-suffix", ""],
        2 => vec!["--unencrypted-regex", "^k0"],
        _ => vec![],
    }
}
