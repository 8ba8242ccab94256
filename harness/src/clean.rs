//! `faultline clean`: being written now; replaced by its owner.

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct CleanArgs {}

pub fn run(_args: CleanArgs) -> ExitCode {
    eprintln!("faultline clean: not built yet");
    crate::exit::code(crate::exit::HARNESS_ERROR)
}
