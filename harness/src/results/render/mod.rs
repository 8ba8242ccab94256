//! Every output format of a run's results behind one interface, as ripgrep puts its
//! printers: the CLI picks a renderer, the renderer turns [`RunResults`] into text.
//! Today: [`text`] (the console summary) and [`json`] (`results.json`).

pub mod json;
pub mod text;

use super::RunResults;

/// One output format.
pub trait Renderer {
    fn render(&self, results: &RunResults) -> String;
}
