//! `faultline check`: being written now; replaced by its owner.

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct CheckArgs {}

pub fn run(_args: CheckArgs) -> ExitCode {
    eprintln!("faultline check: not built yet");
    crate::exit::code(crate::exit::HARNESS_ERROR)
}
