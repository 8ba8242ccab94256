//! Every output format of a run's results behind one interface, as ripgrep puts its
//! printers: the CLI picks a renderer, the renderer turns [`RunResults`] into text.
//! Today: [`text`] (the console summary), [`json`] (`results.json`), [`html`]
//! (`report.html`, which also needs the history) and [`junit`] (`junit.xml`, for CI).

pub mod html;
pub mod index;
pub mod json;
pub mod junit;
pub mod text;

use super::RunResults;

/// One output format.
pub trait Renderer {
    fn render(&self, results: &RunResults) -> String;
}
