//! Clock faults: offsets written to each node's libfaketime file, and the strobe.

use super::Nemesis;
use crate::clock::Strobe;
use crate::control::ClusterControl;
use crate::netfilter::combine;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;

impl<C: ClusterControl + 'static> Nemesis<C> {
    pub(super) fn clock_path(&mut self, node: &str) -> Result<(PathBuf, i64)> {
        self.node(node)?;
        if let Some(x) = self.clocks.get(node) {
            return Ok(x.clone());
        }
        let path = self
            .control
            .clock_file(node)
            .with_context(|| format!("clock faults refused for node {node}"))?;
        Ok((path, 0))
    }

    pub(super) fn clock_bump(&mut self, deltas: &BTreeMap<String, i64>) -> Result<()> {
        if self.strobe.is_some() {
            bail!("a clock strobe is in force; reset clocks before bumping them");
        }
        let mut errors = Vec::new();
        for (node, d) in deltas {
            match self.clock_path(node) {
                Ok((path, cur)) => match self.control.write_clock(&path, cur + d) {
                    Ok(()) => {
                        self.clocks.insert(node.clone(), (path, cur + d));
                    }
                    Err(e) => errors.push(e.context(format!("bumping node {node}'s clock"))),
                },
                Err(e) => errors.push(e),
            }
        }
        combine(errors)
    }

    pub(super) fn clock_strobe(
        &mut self,
        nodes: &[String],
        delta_ms: i64,
        period_ms: u64,
        duration_ms: u64,
    ) -> Result<()> {
        if self.strobe.is_some() {
            bail!("a clock strobe is already in force");
        }
        let mut files = Vec::new();
        for n in nodes {
            let (path, base) = self.clock_path(n)?;
            files.push((path.clone(), base));
            self.clocks.insert(n.clone(), (path, base));
        }
        let strobe = Strobe::start(
            files,
            delta_ms,
            std::time::Duration::from_millis(period_ms.max(1)),
            std::time::Duration::from_millis(duration_ms),
            {
                let control = self.control.clone();
                move |f: &std::path::Path, ms| control.write_clock(f, ms)
            },
        )?;
        self.strobe = Some((strobe, nodes.to_vec()));
        Ok(())
    }

    /// Stops any strobe and writes `+0` for these nodes.
    pub(super) fn clock_reset(&mut self, nodes: &[String]) -> Result<()> {
        let mut errors = Vec::new();
        if let Some((strobe, _)) = self.strobe.take() {
            if let Err(e) = strobe.stop() {
                errors.push(e);
            }
        }
        for n in nodes {
            if let Some((path, _)) = self.clocks.get(n).cloned() {
                match self.control.write_clock(&path, 0) {
                    Ok(()) => {
                        self.clocks.remove(n);
                    }
                    Err(e) => errors.push(e.context(format!("resetting node {n}'s clock"))),
                }
            }
        }
        combine(errors)
    }
}
