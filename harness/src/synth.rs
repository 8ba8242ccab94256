//! `faultline synth`: being written now; replaced by its owner.

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct SynthArgs {}

pub fn run(_args: SynthArgs) -> ExitCode {
    eprintln!("faultline synth: not built yet");
    crate::exit::code(crate::exit::HARNESS_ERROR)
}
