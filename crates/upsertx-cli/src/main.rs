//! The `upsertx` binary: the command line in `lib.rs`.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(upsertx_cli::main(std::env::args_os()))
}
