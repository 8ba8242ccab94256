//! Broadcast's `topology` message: which nodes each node should talk to, as
//! Maelstrom's `--topology` makes it. A topology is advice the harness sends; nodes
//! may ignore it, and a sparse one (a line, a tree) is where a node that forwards
//! only to its neighbours and never retries loses messages soonest.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::fmt;
use std::str::FromStr;

/// Maelstrom's topologies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Topology {
    /// A square grid: each node's neighbours are left, right, above and below
    /// (Maelstrom's default).
    #[default]
    Grid,
    /// A line: each node's neighbours are the one before and the one after.
    Line,
    /// Every node is a neighbour of every other.
    Total,
    /// A tree in which each node has up to 2, 3 or 4 children; neighbours are the
    /// parent and the children.
    Tree2,
    Tree3,
    Tree4,
}

impl Topology {
    pub const NAMES: &'static [&'static str] =
        &["grid", "line", "total", "tree2", "tree3", "tree4"];

    pub fn name(self) -> &'static str {
        match self {
            Topology::Grid => "grid",
            Topology::Line => "line",
            Topology::Total => "total",
            Topology::Tree2 => "tree2",
            Topology::Tree3 => "tree3",
            Topology::Tree4 => "tree4",
        }
    }

    /// The `topology` field for the nodes `ids` (in node order): each node's
    /// neighbours.
    pub fn neighbours(self, ids: &[&String]) -> Value {
        let n = ids.len();
        let near = |i: usize| -> Vec<usize> {
            match self {
                Topology::Grid => grid(n, i),
                Topology::Line => [i.checked_sub(1), (i + 1 < n).then_some(i + 1)]
                    .into_iter()
                    .flatten()
                    .collect(),
                Topology::Total => (0..n).filter(|&j| j != i).collect(),
                Topology::Tree2 => tree(n, i, 2),
                Topology::Tree3 => tree(n, i, 3),
                Topology::Tree4 => tree(n, i, 4),
            }
        };
        let out: serde_json::Map<String, Value> = (0..n)
            .map(|i| {
                let names: Vec<&str> = near(i).into_iter().map(|j| ids[j].as_str()).collect();
                (ids[i].to_string(), json!(names))
            })
            .collect();
        Value::Object(out)
    }
}

/// Node `i`'s neighbours in a square grid of `n` nodes, `width` wide.
fn grid(n: usize, i: usize) -> Vec<usize> {
    let width = (1..=n).find(|w| w * w >= n).unwrap_or(1);
    let x = i % width;
    let mut near = Vec::new();
    if x > 0 {
        near.push(i - 1);
    }
    if x + 1 < width && i + 1 < n {
        near.push(i + 1);
    }
    if i >= width {
        near.push(i - width);
    }
    if i + width < n {
        near.push(i + width);
    }
    near
}

/// Node `i`'s parent and children in a tree where node `i`'s children are
/// `i*k+1 ..= i*k+k`.
fn tree(n: usize, i: usize, k: usize) -> Vec<usize> {
    let parent = (i > 0).then(|| (i - 1) / k);
    parent
        .into_iter()
        .chain((i * k + 1..=i * k + k).filter(|&c| c < n))
        .collect()
}

impl fmt::Display for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Topology {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "grid" => Ok(Topology::Grid),
            "line" => Ok(Topology::Line),
            "total" => Ok(Topology::Total),
            "tree" | "tree2" => Ok(Topology::Tree2),
            "tree3" => Ok(Topology::Tree3),
            "tree4" => Ok(Topology::Tree4),
            other => Err(format!(
                "unknown topology `{other}` (known: {})",
                Topology::NAMES.join(", ")
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn five(t: Topology) -> Value {
        let ids: Vec<String> = (1..=5).map(|i| format!("n{i}")).collect();
        let refs: Vec<&String> = ids.iter().collect();
        t.neighbours(&refs)
    }

    #[test]
    fn the_grid_topology_links_each_node_to_its_neighbours() {
        // 3 wide: n1 n2 n3 / n4 n5
        let g = five(Topology::Grid);
        assert_eq!(g["n1"], json!(["n2", "n4"]));
        assert_eq!(g["n5"], json!(["n4", "n2"]));
        assert_eq!(g["n3"], json!(["n2"]));
    }

    #[test]
    fn line_total_and_tree_topologies_have_maelstroms_shapes() {
        let l = five(Topology::Line);
        assert_eq!(
            (l["n1"].clone(), l["n3"].clone()),
            (json!(["n2"]), json!(["n2", "n4"]))
        );
        assert_eq!(five(Topology::Total)["n2"], json!(["n1", "n3", "n4", "n5"]));
        let t = five(Topology::Tree2);
        assert_eq!(t["n1"], json!(["n2", "n3"]));
        assert_eq!(t["n2"], json!(["n1", "n4", "n5"]));
        assert_eq!(t["n5"], json!(["n2"]));
        assert_eq!(five(Topology::Tree4)["n1"], json!(["n2", "n3", "n4", "n5"]));
        assert_eq!("tree".parse::<Topology>(), Ok(Topology::Tree2));
        let e = "ring".parse::<Topology>().unwrap_err();
        assert!(
            e.contains("unknown topology `ring`") && e.contains("tree3"),
            "{e}"
        );
    }
}
