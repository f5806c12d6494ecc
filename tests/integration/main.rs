//! The one integration test binary (as ripgrep does): every test that runs a
//! real program — `seal`, `sops`, `age`, a Kubernetes control plane, OpenBao —
//! lives here, so the project links one test executable.
//!
//! It uses `libtest-mimic` instead of the default harness so that shared,
//! expensive components (the control plane, OpenBao) are started once, on
//! first use, and are always torn down when the run ends.

mod cli;
mod cluster;
mod env;
mod support;
mod vault;

fn main() {
    let args = libtest_mimic::Arguments::from_args();
    let mut trials = Vec::new();
    trials.extend(cli::trials());
    trials.extend(cluster::trials());
    trials.extend(vault::trials());
    let conclusion = libtest_mimic::run(&args, trials);
    env::shutdown();
    conclusion.exit();
}
