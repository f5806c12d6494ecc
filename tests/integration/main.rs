//! The one integration test binary (as ripgrep does): every test that runs a
//! real program — `seal`, `sops`, `age`, a Kubernetes control plane, OpenBao —
//! lives here, so the project links one test executable.
//!
//! It uses `libtest-mimic` instead of the default harness so that shared,
//! expensive components (the control plane, OpenBao) are started once, on
//! first use, and are always torn down when the run ends.

mod adversarial_bounds;
mod adversarial_eso;
mod adversarial_push;
mod adversarial_sealed;
mod adversarial_vault;
mod cli;
mod cluster;
mod compat;
mod controller;
mod deploy;
mod edit_signals;
mod env;
mod eso;
mod eso_schema;
mod eso_template_cache;
mod eso_templates;
mod external;
mod fixtures;
mod generators;
mod gitops;
mod image;
mod one_flow;
mod pq;
mod pq_controller;
mod process;
mod scale;
mod sops_commands;
mod sops_functional;
mod sops_legacy;
mod support;
mod vault;

fn main() {
    // `test-binary --seal-controller FLAGS…` runs the real controller entry
    // point (the one `seal-controller`'s main calls), so tests can start,
    // kill and restart controller processes.
    if std::env::args_os().nth(1).is_some_and(|a| a == "--seal-controller") {
        let args = std::iter::once("seal-controller".into()).chain(std::env::args_os().skip(2));
        std::process::exit(match seal::controller::main_with_args(args) {
            c if c == std::process::ExitCode::SUCCESS => 0,
            _ => 1,
        });
    }
    let args = libtest_mimic::Arguments::from_args();
    let mut trials = Vec::new();
    trials.extend(cli::trials());
    trials.extend(sops_commands::trials());
    trials.extend(compat::trials());
    trials.extend(sops_functional::trials());
    trials.extend(edit_signals::trials());
    trials.extend(gitops::trials());
    trials.extend(sops_legacy::trials());
    trials.push(env::trial("env::smoke_control_plane_and_openbao_work", smoke));
    trials.extend(controller::trials());
    trials.extend(external::trials());
    trials.extend(eso::trials());
    trials.extend(eso_templates::trials());
    trials.extend(eso_template_cache::trials());
    trials.extend(eso_schema::trials());
    trials.extend(generators::trials());
    trials.extend(scale::trials());
    trials.extend(deploy::trials());
    trials.extend(image::trials());
    trials.extend(adversarial_sealed::trials());
    trials.extend(adversarial_vault::trials());
    trials.extend(adversarial_eso::trials());
    trials.extend(adversarial_push::trials());
    trials.extend(adversarial_bounds::trials());
    trials.extend(one_flow::trials());
    trials.extend(pq::trials());
    trials.extend(pq_controller::trials());
    let conclusion = libtest_mimic::run(&args, trials);
    env::shutdown();
    conclusion.exit();
}

/// The test environment's own checks in one labelled test: if it fails,
/// the environment is broken, not seal.
fn smoke() -> Result<(), libtest_mimic::Failed> {
    for (what, check) in cluster::checks().into_iter().chain(vault::checks()) {
        check().map_err(|e| format!("{what}: {}", e.message().unwrap_or("failed")))?;
    }
    Ok(())
}
