//! `seal filestatus FILE`: sops' `filestatus`. Prints `{"encrypted":true}`
//! when the file carries sops metadata with a version and a MAC, and
//! `{"encrypted":false}` when it has none; a file that cannot be read or
//! parsed is an error (exit 1, as in sops). No key is needed.

use clap::Args;
use seal_format::sops::{self, Format};

use crate::common::{format_of, read_input, write_stdout};
use crate::{Failure, exit};

#[derive(Args)]
pub struct FilestatusArgs {
    /// Input format (default: from the file name).
    #[arg(long, value_name = "TYPE")]
    input_type: Option<String>,
    /// The file to check.
    file: Option<String>,
}

/// `seal filestatus`.
pub fn run(a: FilestatusArgs) -> Result<(), Failure> {
    let Some(file) = a.file else {
        return Err(Failure { code: exit::NO_FILE_SPECIFIED, message: "no file specified".into() });
    };
    let fail = |m: String| Failure::general(format!("cannot check file status: {m}"));
    let format = format_of(a.input_type.as_deref(), &file, Format::Yaml)?;
    let bytes = read_input(&file).map_err(|f| fail(f.message))?;
    let encrypted = status(&bytes, format).map_err(|e| fail(format!("{file}: {e}")))?;
    write_stdout(format!("{{\"encrypted\":{encrypted}}}\n").as_bytes())
}

/// Whether `bytes` is an encrypted file; an error when it is not a file of
/// `format` at all.
fn status(bytes: &[u8], format: Format) -> Result<bool, sops::Error> {
    match sops::parse_encrypted(bytes, format) {
        Ok(doc) => Ok(!doc.metadata.version.is_empty() && !doc.metadata.mac.is_empty()),
        Err(e) => {
            // No metadata at all is "not encrypted"; sops reads a binary
            // file's encrypted form as JSON, so plain text there is an error.
            let plain_format = if format == Format::Binary { Format::Json } else { format };
            match sops::parse_plain(bytes, plain_format) {
                Ok(_) => Ok(false),
                Err(_) => Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_encrypted_and_broken_files() {
        assert!(!status(b"a: 1\n", Format::Yaml).expect("plain yaml"));
        assert!(!status(b"A=1\n", Format::Dotenv).expect("plain dotenv"));
        assert!(!status(b"{\"a\": 1}", Format::Binary).expect("plain JSON as binary"));
        assert!(status(b"hello\n", Format::Binary).is_err(), "sops reads binary files as JSON");
        assert!(status(b"a: [\n", Format::Yaml).is_err());
        let md = "sops:\n    age: []\n    lastmodified: \"2025-01-01T00:00:00Z\"\n    mac: MAC\n    version: 3.11.0\n";
        assert!(status(format!("a: 1\n{md}").as_bytes(), Format::Yaml).expect("encrypted"));
        let no_mac = md.replace("mac: MAC", "mac: \"\"");
        assert!(!status(format!("a: 1\n{no_mac}").as_bytes(), Format::Yaml).expect("no MAC"));
    }
}
