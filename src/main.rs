//! The `cadenced` binary: parse arguments, run, turn the result into an exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    match cadenced::cli::main() {
        Ok(code) => code,
        Err(err) => {
            // One line a user can act on: the chain of contexts, outermost first.
            eprintln!("{}cadenced: {}", cadenced::daemon::error_prefix(), cadenced::cli::error_text(&err));
            ExitCode::FAILURE
        }
    }
}
