//! Writes the CRDs generated from the Rust types to `crds/` (or prints them
//! with `--stdout`), and the single install manifest `deploy/install.yaml`
//! (the CRDs and `deploy/base`). Tests fail when the checked-in copies are
//! stale.

fn main() -> std::process::ExitCode {
    let to_stdout = std::env::args().any(|a| a == "--stdout");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    for (file, crd) in seal::api::crds() {
        let text = match seal::api::render_crd(&crd) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("crdgen: {file}: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        if to_stdout {
            print!("---\n{text}");
        } else if let Err(e) = std::fs::write(dir.join(file), text) {
            eprintln!("crdgen: cannot write crds/{file}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    }
    if !to_stdout {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let written = seal::api::install_manifest(root)
            .and_then(|m| std::fs::write(root.join("deploy/install.yaml"), m).map_err(|e| e.to_string()));
        if let Err(e) = written {
            eprintln!("crdgen: deploy/install.yaml: {e}");
            return std::process::ExitCode::FAILURE;
        }
    }
    std::process::ExitCode::SUCCESS
}
