//! `seal keygen`: a new age identity, written to a file (0600) or stdout.

use std::io::Write;
use std::path::Path;

use crate::Failure;
use crate::common::write_stdout;

/// `seal keygen`.
pub fn run(output: Option<&Path>) -> Result<(), Failure> {
    use age::secrecy::ExposeSecret;
    let id = age::x25519::Identity::generate();
    let recipient = id.to_public().to_string();
    let created = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
    let text = format!("# created: {created}\n# public key: {recipient}\n{}\n", id.to_string().expose_secret());
    match output {
        Some(path) => {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f =
                std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|e| {
                    Failure::output(format!("cannot create {} (it must not exist yet): {e}", path.display()))
                })?;
            f.write_all(text.as_bytes())
                .map_err(|e| Failure::output(format!("cannot write {}: {e}", path.display())))?;
            eprintln!("Public key: {recipient}");
            write_stdout(format!("{recipient}\n").as_bytes())
        }
        None => {
            eprintln!("Public key: {recipient}");
            write_stdout(text.as_bytes())
        }
    }
}
