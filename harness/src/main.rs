//! `faultline`: argv in, exit code out; everything else is in the library.

fn main() -> std::process::ExitCode {
    harness::cli::run()
}
