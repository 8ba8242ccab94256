//! `results.json`: the typed results as one pretty JSON document.

use super::{Renderer, RunResults};

pub struct Json;

impl Renderer for Json {
    fn render(&self, results: &RunResults) -> String {
        format!(
            "{}\n",
            serde_json::to_string_pretty(results).expect("results serialize")
        )
    }
}
