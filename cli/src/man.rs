//! `seal man`: one man page per subcommand, and one for `seal`.

use std::path::Path;

use crate::Failure;

/// `seal man`.
pub fn run(cmd: clap::Command, dir: &Path) -> Result<(), Failure> {
    std::fs::create_dir_all(dir).map_err(|e| Failure::general(format!("cannot create {}: {e}", dir.display())))?;
    let write = |name: String, c: clap::Command| -> Result<(), Failure> {
        let mut buf = Vec::new();
        clap_mangen::Man::new(c).render(&mut buf).map_err(|e| Failure::general(e.to_string()))?;
        let path = dir.join(format!("{name}.1"));
        std::fs::write(&path, buf).map_err(|e| Failure::general(format!("cannot write {}: {e}", path.display())))
    };
    let cmd = cmd.name("seal");
    for sub in cmd.get_subcommands() {
        let name = format!("seal-{}", sub.get_name());
        write(name.clone(), sub.clone().bin_name(name))?;
    }
    write("seal".into(), cmd)?;
    Ok(())
}
