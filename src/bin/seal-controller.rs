//! `seal-controller`: see `seal::controller`.

fn main() -> std::process::ExitCode {
    seal::controller::main_with_args(std::env::args_os())
}
