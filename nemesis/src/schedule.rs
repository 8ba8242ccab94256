//! The seeded fault schedule: which fault, on which nodes, with which grudge, in what
//! order. Pure: decisions are in terms of node indices (`0..node_count`) and depend
//! only on the seed, the kinds and the node count, so a seed replays the same faults.
//! The [`crate::Nemesis`] turns a decision into a concrete [`crate::Fault`] (node
//! names, the current leader) and applies it.

use crate::fault::{FaultKind, PacketKind, PartitionKind};
use crate::grudge::{self, IndexGrudge};
use crate::rng::SeededRng;
use serde::Serialize;
use std::time::Duration;

/// The default time between a fault and its healing, and between a healing and the
/// next fault (`--nemesis-interval`). Short enough that a 30 s test sees several
/// faults (warm-up, then a fault every two intervals: at 2 s, 12 s and 22 s).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// The longest healthy wait before the first fault: long enough for a cluster to elect
/// a leader and the clients to get going, short enough that the interval is not
/// wasted at the start of a short test.
pub const MAX_WARM_UP: Duration = Duration::from_secs(2);

/// One fault decision, in node indices.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum Decision {
    /// For [`PartitionKind::Leader`] the grudge isolates `fallback`, used only when the
    /// system reports no leader at the time.
    Partition {
        kind: PartitionKind,
        grudge: IndexGrudge,
        fallback: usize,
    },
    Kill {
        nodes: Vec<usize>,
    },
    KillAll,
    /// Kill the leader the system reports when the fault starts; `fallback` when it
    /// reports none.
    KillLeader {
        fallback: usize,
    },
    Pause {
        nodes: Vec<usize>,
    },
    /// Pause the leader the system reports when the fault starts; `fallback` when it
    /// reports none.
    PauseLeader {
        fallback: usize,
    },
    ClockBump {
        deltas_ms: Vec<(usize, i64)>,
    },
    ClockStrobe {
        nodes: Vec<usize>,
        delta_ms: i64,
        period_ms: u64,
        duration_ms: u64,
    },
    /// Links are `(from, to)` index pairs.
    Packet {
        kind: PacketKind,
        links: Vec<(usize, usize)>,
    },
    /// Change the membership: remove `nodes` when every node is a member, else add
    /// back the nodes that are out ([`crate::Nemesis::resolve`] knows which).
    Membership {
        nodes: Vec<usize>,
    },
    /// Corrupt or cut a file of `node`'s data directory; `draw` picks the file (among
    /// those there when the fault starts) and the byte range.
    Damage {
        truncate: bool,
        node: usize,
        draw: u64,
        /// Only files matching this pattern (`FaultParams::disk_files`).
        #[serde(skip_serializing_if = "Option::is_none")]
        files: Option<String>,
    },
    /// Power loss, power loss mid-write, or unsynced writes dropped, on these nodes.
    Disk {
        kind: DiskKind,
        nodes: Vec<usize>,
    },
    /// Power loss on every node at once.
    PowerLossAll,
    /// Power loss of the leader the system reports when the fault starts;
    /// `fallback` when it reports none.
    PowerLossLeader {
        fallback: usize,
    },
    /// Parts started together and healed together. The first is decided as it would
    /// be alone; the later ones for every node (every node's clock delta, every link),
    /// and [`crate::Nemesis::resolve`] narrows them to the nodes the first singles out,
    /// which for a leader fault are known only when it starts.
    Composed {
        parts: Vec<Decision>,
    },
}

/// The disk fault of a [`Decision::Disk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiskKind {
    PowerLoss,
    LoseUnsynced,
    TornWrite,
}

/// The magnitudes of faults. Defaults are chosen to disturb a system on one machine
/// noticeably (timeouts of a few hundred ms) without making every request time out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultParams {
    pub loss_p: f64,
    pub delay_ms: u64,
    pub jitter_ms: u64,
    pub reorder_p: f64,
    pub reorder_ms: u64,
    pub duplicate_p: f64,
    /// Clock bumps (unless `clock_bump` is set) and strobe deltas are log-uniform in
    /// `[clock_min_ms, clock_max_ms]`, either sign.
    pub clock_min_ms: u64,
    pub clock_max_ms: u64,
    /// When set (`--clock-bump`), clock bumps are uniform in this signed range
    /// instead. Strobes are not affected.
    pub clock_bump: Option<ClockBumpRange>,
    /// When set (`--disk-files`), disk faults pick only files whose path relative to
    /// the data directory matches this pattern (`*`: any run of characters).
    pub disk_files: Option<String>,
    /// Strobe periods are log-uniform in `[strobe_min_period_ms, strobe_max_period_ms]`.
    pub strobe_min_period_ms: u64,
    pub strobe_max_period_ms: u64,
}

impl Default for FaultParams {
    fn default() -> Self {
        FaultParams {
            loss_p: 0.3,
            delay_ms: 100,
            jitter_ms: 50,
            reorder_p: 0.25,
            reorder_ms: 50,
            duplicate_p: 0.3,
            clock_min_ms: 100,
            clock_max_ms: 60_000,
            clock_bump: None,
            disk_files: None,
            strobe_min_period_ms: 10,
            strobe_max_period_ms: 1_000,
        }
    }
}

/// The signed range clock bumps are drawn from (`--clock-bump=-30s..-6s`): each bumped
/// node's clock moves by an amount uniform in `[min_ms, max_ms]`, both bounds
/// included. Uniform rather than log-uniform because a user who gives a range wants
/// its whole width exercised, and a range may cross zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ClockBumpRange {
    pub min_ms: i64,
    pub max_ms: i64,
}

/// The largest clock bump a range may ask for: a year either way.
const MAX_BUMP_MS: i64 = 365 * 24 * 3600 * 1000;

impl ClockBumpRange {
    /// A range, refused unless `min_ms <= max_ms` and both are within a year.
    pub fn new(min_ms: i64, max_ms: i64) -> Result<ClockBumpRange, ClockBumpError> {
        for v in [min_ms, max_ms] {
            if v.abs() > MAX_BUMP_MS {
                return Err(ClockBumpError::BeyondAYear { bump: signed_ms(v) });
            }
        }
        if min_ms > max_ms {
            return Err(ClockBumpError::Reversed {
                min: signed_ms(min_ms),
                max: signed_ms(max_ms),
            });
        }
        Ok(ClockBumpRange { min_ms, max_ms })
    }

    /// A bump drawn uniformly from the range.
    fn draw(&self, rng: &mut SeededRng) -> i64 {
        let width = (self.max_ms - self.min_ms) as u64;
        self.min_ms + rng.range(0, width) as i64
    }
}

impl std::str::FromStr for ClockBumpRange {
    type Err = ClockBumpError;

    /// `MIN..MAX` with signed durations (`-30s..-6s`, `-500ms..2s`, `+1m..+5m`), or
    /// one duration for bumps of exactly that size. Units: ms, s, m, h (none: seconds).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let t = text.trim();
        let (lo, hi) = match t.split_once("..") {
            Some((lo, hi)) => (lo, hi),
            None => (t, t),
        };
        let parse = |part: &str| {
            parse_signed_ms(part.trim()).map_err(|problem| ClockBumpError::Syntax {
                text: text.to_string(),
                problem,
            })
        };
        let (lo, hi) = (parse(lo)?, parse(hi)?);
        ClockBumpRange::new(lo, hi).map_err(|error| ClockBumpError::Refused {
            text: text.to_string(),
            error: Box::new(error),
        })
    }
}

impl std::fmt::Display for ClockBumpRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}..{}", signed_ms(self.min_ms), signed_ms(self.max_ms))
    }
}

/// `-30s`, `+1.5s`, `250ms`, `2m`: milliseconds, rounded.
fn parse_signed_ms(part: &str) -> Result<i64, String> {
    if part.is_empty() {
        return Err("a bound is missing".into());
    }
    let (sign, rest) = match part.as_bytes()[0] {
        b'-' => (-1.0, &part[1..]),
        b'+' => (1.0, &part[1..]),
        _ => (1.0, part),
    };
    let split = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, unit) = rest.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("`{part}` is not a duration"))?;
    let scale = match unit.trim() {
        "ms" => 1.0,
        "" | "s" => 1e3,
        "m" | "min" => 60e3,
        "h" => 3600e3,
        other => {
            return Err(format!(
                "`{part}` has unknown unit `{other}` (use ms, s, m or h)"
            ))
        }
    };
    let ms = sign * n * scale;
    if !ms.is_finite() || ms.abs() > MAX_BUMP_MS as f64 {
        return Err(format!("`{part}` is beyond a year either way"));
    }
    Ok(ms.round() as i64)
}

/// `-30s`, `+250ms`: whole seconds when exact.
fn signed_ms(ms: i64) -> String {
    if ms % 1000 == 0 {
        format!("{:+}s", ms / 1000)
    } else {
        format!("{ms:+}ms")
    }
}

/// Why a schedule cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(pub String);

/// Why a clock-bump range (`--clock-bump`) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClockBumpError {
    #[error("a clock bump of {bump} is beyond a year either way")]
    BeyondAYear { bump: String },
    #[error(
        "the lower bound {min} is above the upper bound {max} (write MIN..MAX, e.g. -30s..-6s)"
    )]
    Reversed { min: String, max: String },
    /// A bound that is not a signed duration.
    #[error("`{text}`: {problem} (write MIN..MAX with signed durations, e.g. -30s..-6s)")]
    Syntax { text: String, problem: String },
    /// A range written as `text` that parses but is refused.
    #[error("`{text}`: {error}")]
    Refused {
        text: String,
        #[source]
        error: Box<ClockBumpError>,
    },
}

/// A deterministic sequence of fault decisions. Faults alternate with healing: the
/// driver waits the warm-up healthy, starts `next_decision()`, waits `interval`,
/// heals, waits `interval` healthy, starts the next, and so on (see
/// [`crate::Nemesis::run_schedule`]).
#[derive(Debug, Clone)]
pub struct Schedule {
    rng: SeededRng,
    seed: u64,
    interval: Duration,
    kinds: Vec<FaultKind>,
    nodes: usize,
    params: FaultParams,
    /// The families ([`Schedule::families`]) still to come in this round, drawn from
    /// the back; refilled with a fresh seeded permutation when empty.
    families_left: Vec<usize>,
    /// The same for the partition shapes, within the partition family.
    shapes_left: Vec<usize>,
}

impl Schedule {
    pub fn new(
        seed: u64,
        interval: Duration,
        kinds: Vec<FaultKind>,
        node_count: usize,
    ) -> Result<Schedule, ScheduleError> {
        if kinds.is_empty() {
            return Err(ScheduleError(
                "a nemesis schedule needs at least one fault kind".into(),
            ));
        }
        if node_count == 0 {
            return Err(ScheduleError(
                "a nemesis schedule needs at least one node".into(),
            ));
        }
        if interval.is_zero() {
            return Err(ScheduleError(
                "--nemesis-interval must be greater than zero".into(),
            ));
        }
        for k in &kinds {
            if k.min_nodes() > node_count {
                return Err(ScheduleError(format!(
                    "nemesis fault {k} needs at least {} nodes, the cluster has {node_count}",
                    k.min_nodes()
                )));
            }
            if let FaultKind::Composed(parts) = k {
                FaultKind::compose(parts.clone(), &k.name())
                    .map_err(|e| ScheduleError(e.to_string()))?;
            }
        }
        Ok(Schedule {
            rng: SeededRng::new(seed),
            seed,
            interval,
            kinds,
            nodes: node_count,
            params: FaultParams::default(),
            families_left: Vec::new(),
            shapes_left: Vec::new(),
        })
    }

    pub fn with_params(mut self, params: FaultParams) -> Schedule {
        self.params = params;
        self
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The healthy wait before the first fault: [`MAX_WARM_UP`], or the interval if
    /// that is shorter.
    pub fn warm_up(&self) -> Duration {
        self.interval.min(MAX_WARM_UP)
    }

    pub fn kinds(&self) -> &[FaultKind] {
        &self.kinds
    }

    pub fn node_count(&self) -> usize {
        self.nodes
    }

    /// The next fault to start. The choice cycles through the families, every
    /// partition shape together being one family and every other kind its own, so
    /// `partition,kill,pause` gives partitions, kills and pauses a third each rather
    /// than partitions seven ninths for having seven shapes. Each round of as many
    /// faults as there are families is a seeded permutation of the families, so no
    /// family repeats before every other has had its turn (a short run with
    /// `--nemesis clock` sees both clock-bump and clock-strobe, not one of them twice);
    /// the partition family cycles through its shapes the same way.
    pub fn next_decision(&mut self) -> Decision {
        let is_partition = |i: &usize| matches!(self.kinds[*i], FaultKind::Partition(_));
        let (shapes, others): (Vec<usize>, Vec<usize>) =
            (0..self.kinds.len()).partition(is_partition);
        let families = others.len() + usize::from(!shapes.is_empty());
        let pick = next_in_round(&mut self.families_left, families, &mut self.rng);
        let kind = if pick < others.len() {
            others[pick]
        } else {
            shapes[next_in_round(&mut self.shapes_left, shapes.len(), &mut self.rng)]
        };
        let kind = self.kinds[kind].clone();
        self.decide(&kind)
    }

    /// The first `count` decisions this schedule will make, without consuming them.
    pub fn preview(&self, count: usize) -> Vec<Decision> {
        let mut s = self.clone();
        (0..count).map(|_| s.next_decision()).collect()
    }

    fn decide(&mut self, kind: &FaultKind) -> Decision {
        if let FaultKind::Composed(parts) = kind {
            let mut decided = Vec::with_capacity(parts.len());
            for (i, part) in parts.iter().enumerate() {
                decided.push(if i == 0 {
                    self.decide(part)
                } else {
                    self.decide_for_every_node(part)
                });
            }
            return Decision::Composed { parts: decided };
        }
        let n = self.nodes;
        let p = self.params.clone();
        let rng = &mut self.rng;
        match kind {
            FaultKind::Partition(pk) => {
                let fallback = rng.below(n as u64) as usize;
                let grudge = match pk {
                    PartitionKind::Halves => grudge::halves(n, rng),
                    PartitionKind::One => grudge::isolate(n, fallback),
                    PartitionKind::Leader => grudge::isolate(n, fallback),
                    PartitionKind::Ring => grudge::majorities_ring(n, rng),
                    PartitionKind::Bridge => grudge::bridge(n, rng),
                    PartitionKind::Random => grudge::random_split(n, rng),
                    PartitionKind::OneWay => grudge::one_way_split(n, rng),
                };
                Decision::Partition {
                    kind: *pk,
                    grudge,
                    fallback,
                }
            }
            FaultKind::Kill => Decision::Kill {
                nodes: targets(n, rng),
            },
            FaultKind::KillAll => Decision::KillAll,
            FaultKind::KillLeader => Decision::KillLeader {
                fallback: rng.below(n as u64) as usize,
            },
            FaultKind::Pause => Decision::Pause {
                nodes: targets(n, rng),
            },
            FaultKind::PauseLeader => Decision::PauseLeader {
                fallback: rng.below(n as u64) as usize,
            },
            FaultKind::ClockBump => {
                let nodes = targets(n, rng);
                Decision::ClockBump {
                    deltas_ms: bumps(&nodes, &p, rng),
                }
            }
            FaultKind::ClockStrobe => {
                let nodes = targets(n, rng);
                let mag = rng.log_uniform(p.clock_min_ms, p.clock_max_ms) as i64;
                let delta_ms = if rng.coin() { mag } else { -mag };
                let period_ms = rng.log_uniform(p.strobe_min_period_ms, p.strobe_max_period_ms);
                Decision::ClockStrobe {
                    nodes,
                    delta_ms,
                    period_ms,
                    duration_ms: self.interval.as_millis() as u64,
                }
            }
            FaultKind::Loss => Decision::Packet {
                kind: PacketKind::Loss { p: p.loss_p },
                links: links(n, rng),
            },
            FaultKind::Delay => Decision::Packet {
                kind: PacketKind::Delay {
                    ms: p.delay_ms,
                    jitter_ms: p.jitter_ms,
                },
                links: links(n, rng),
            },
            FaultKind::Reorder => Decision::Packet {
                kind: PacketKind::Reorder {
                    p: p.reorder_p,
                    ms: p.reorder_ms,
                },
                links: links(n, rng),
            },
            FaultKind::Duplicate => Decision::Packet {
                kind: PacketKind::Duplicate { p: p.duplicate_p },
                links: links(n, rng),
            },
            FaultKind::Corrupt | FaultKind::Truncate => Decision::Damage {
                truncate: *kind == FaultKind::Truncate,
                node: rng.below(n as u64) as usize,
                draw: rng.next_u64(),
                files: p.disk_files.clone(),
            },
            FaultKind::Membership => Decision::Membership {
                nodes: membership_targets(n, rng),
            },
            FaultKind::PowerLoss => Decision::Disk {
                kind: DiskKind::PowerLoss,
                nodes: targets(n, rng),
            },
            FaultKind::LoseUnsynced => Decision::Disk {
                kind: DiskKind::LoseUnsynced,
                nodes: targets(n, rng),
            },
            FaultKind::TornWrite => Decision::Disk {
                kind: DiskKind::TornWrite,
                nodes: targets(n, rng),
            },
            FaultKind::PowerLossAll => Decision::PowerLossAll,
            FaultKind::PowerLossLeader => Decision::PowerLossLeader {
                fallback: rng.below(n as u64) as usize,
            },
            FaultKind::Composed(_) => unreachable!("handled above"),
        }
    }

    /// A later part of a composition, decided for every node (its magnitudes drawn
    /// as alone), to be narrowed at resolve time to the nodes the first part singles
    /// out. Only node-targeted kinds get here ([`FaultKind::compose`]); anything else
    /// is decided as alone.
    fn decide_for_every_node(&mut self, kind: &FaultKind) -> Decision {
        let every: Vec<usize> = (0..self.nodes).collect();
        match kind {
            FaultKind::Kill => return Decision::Kill { nodes: every },
            FaultKind::Pause => return Decision::Pause { nodes: every },
            FaultKind::PowerLoss => {
                return Decision::Disk {
                    kind: DiskKind::PowerLoss,
                    nodes: every,
                }
            }
            FaultKind::LoseUnsynced => {
                return Decision::Disk {
                    kind: DiskKind::LoseUnsynced,
                    nodes: every,
                }
            }
            FaultKind::TornWrite => {
                return Decision::Disk {
                    kind: DiskKind::TornWrite,
                    nodes: every,
                }
            }
            FaultKind::ClockBump => {
                let p = self.params.clone();
                return Decision::ClockBump {
                    deltas_ms: bumps(&every, &p, &mut self.rng),
                };
            }
            _ => {}
        }
        match self.decide(kind) {
            Decision::ClockStrobe {
                delta_ms,
                period_ms,
                duration_ms,
                ..
            } => Decision::ClockStrobe {
                nodes: every,
                delta_ms,
                period_ms,
                duration_ms,
            },
            Decision::Packet { kind, .. } => Decision::Packet {
                kind,
                links: every
                    .iter()
                    .flat_map(|a| every.iter().map(move |b| (*a, *b)))
                    .filter(|(a, b)| a != b)
                    .collect(),
            },
            other => other,
        }
    }
}

/// A clock delta for each of `nodes`: uniform in the `--clock-bump` range when one is
/// set, else a log-uniform magnitude in `[clock_min_ms, clock_max_ms]` of either sign.
/// The next of `n` choices in a round where each comes once, in a seeded order:
/// `left` holds the rest of the current round and is refilled with a fresh
/// permutation when it runs out.
fn next_in_round(left: &mut Vec<usize>, n: usize, rng: &mut SeededRng) -> usize {
    if left.is_empty() {
        *left = rng.permutation(n);
    }
    left.pop()
        .expect("a round holds every one of n > 0 choices")
}

/// The nodes a membership change removes: one, or with five nodes or more two at once
/// as often as one (a change of two members is what joint consensus exists for: a
/// majority of the old and of the new configuration may be disjoint). Never so many
/// that fewer than three members stay.
fn membership_targets(n: usize, rng: &mut SeededRng) -> Vec<usize> {
    let count = if n >= 5 && rng.coin() { 2 } else { 1 };
    let count = count.min(n.saturating_sub(3)).max(1);
    let mut order = rng.permutation(n);
    order.truncate(count);
    order.sort_unstable();
    order
}

fn bumps(nodes: &[usize], p: &FaultParams, rng: &mut SeededRng) -> Vec<(usize, i64)> {
    nodes
        .iter()
        .map(|&i| match &p.clock_bump {
            Some(range) => (i, range.draw(rng)),
            None => {
                let mag = rng.log_uniform(p.clock_min_ms, p.clock_max_ms) as i64;
                (i, if rng.coin() { mag } else { -mag })
            }
        })
        .collect()
}

/// Which nodes a process or clock fault hits: one node, a minority, or a majority,
/// each equally likely (Jepsen's `:one`, `:minority`, `:majority`). Sorted.
fn targets(n: usize, rng: &mut SeededRng) -> Vec<usize> {
    let count = match rng.below(3) {
        0 => 1,
        1 => ((n - 1) / 2).max(1),
        _ => n / 2 + 1,
    }
    .min(n);
    let mut v: Vec<usize> = rng.permutation(n).into_iter().take(count).collect();
    v.sort();
    v
}

/// Which links a packet fault hits: every link, both directions, between the target
/// nodes (one, a minority, or every node) and the rest of the cluster. Sorted.
fn links(n: usize, rng: &mut SeededRng) -> Vec<(usize, usize)> {
    let targets: Vec<usize> = match rng.below(3) {
        0 => vec![rng.below(n as u64) as usize],
        1 => rng
            .permutation(n)
            .into_iter()
            .take(((n - 1) / 2).max(1))
            .collect(),
        _ => (0..n).collect(),
    };
    let mut out = Vec::new();
    for a in 0..n {
        for b in 0..n {
            if a != b && (targets.contains(&a) || targets.contains(&b)) {
                out.push((a, b));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn all_kinds(n: usize) -> Vec<FaultKind> {
        FaultKind::parse_list("all", n).unwrap()
    }

    #[test]
    fn same_seed_same_decisions() {
        let a = Schedule::new(11, Duration::from_secs(10), all_kinds(5), 5)
            .unwrap()
            .preview(200);
        let b = Schedule::new(11, Duration::from_secs(10), all_kinds(5), 5)
            .unwrap()
            .preview(200);
        assert_eq!(a, b);
        let c = Schedule::new(12, Duration::from_secs(10), all_kinds(5), 5)
            .unwrap()
            .preview(200);
        assert_ne!(a, c);
    }

    #[test]
    fn preview_does_not_consume() {
        let mut s = Schedule::new(3, Duration::from_secs(1), all_kinds(5), 5).unwrap();
        let p = s.preview(5);
        let got: Vec<Decision> = (0..5).map(|_| s.next_decision()).collect();
        assert_eq!(p, got);
    }

    #[test]
    fn every_kind_gets_chosen_and_decisions_stay_in_range() {
        let kinds = all_kinds(5);
        let mut s = Schedule::new(5, Duration::from_secs(10), kinds.clone(), 5).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..1000 {
            let d = s.next_decision();
            let tag = serde_json::to_value(&d).unwrap()["decision"]
                .as_str()
                .unwrap()
                .to_string();
            match &d {
                Decision::Partition {
                    grudge,
                    fallback,
                    kind,
                } => {
                    seen.insert(format!("partition-{kind:?}"));
                    assert!(*fallback < 5);
                    assert!(grudge
                        .iter()
                        .all(|(a, bs)| *a < 5 && bs.iter().all(|b| *b < 5 && b != a)));
                }
                Decision::Kill { nodes } | Decision::Pause { nodes } => {
                    assert!(!nodes.is_empty() && nodes.iter().all(|i| *i < 5));
                }
                Decision::Packet { links, kind } => {
                    seen.insert(kind.name().to_string());
                    assert!(
                        !links.is_empty() && links.iter().all(|(a, b)| a != b && *a < 5 && *b < 5)
                    );
                }
                Decision::ClockBump { deltas_ms } => {
                    assert!(deltas_ms
                        .iter()
                        .all(|(_, d)| d.unsigned_abs() >= 100 && d.unsigned_abs() <= 60_000));
                }
                Decision::ClockStrobe {
                    period_ms,
                    duration_ms,
                    ..
                } => {
                    assert!((10..=1000).contains(period_ms));
                    assert_eq!(*duration_ms, 10_000);
                }
                Decision::KillAll => {}
                Decision::Disk { .. }
                | Decision::PowerLossAll
                | Decision::PowerLossLeader { .. } => {
                    panic!("`all` holds no disk faults")
                }
                Decision::KillLeader { fallback } | Decision::PauseLeader { fallback } => {
                    assert!(*fallback < 5);
                }
                Decision::Composed { .. } => panic!("`all` holds no compositions"),
                Decision::Membership { .. } | Decision::Damage { .. } => {
                    panic!("`all` holds no membership or disk faults")
                }
            }
            seen.insert(tag);
        }
        // 7 partition shapes + 4 packet kinds + the tags of every decision type.
        assert!(seen.len() >= 7 + 4 + 9, "{seen:?}");
    }

    #[test]
    fn partition_shapes_share_one_family_so_the_default_mix_is_balanced() {
        let kinds = FaultKind::parse_list("partition,kill,pause", 5).unwrap();
        let mut s = Schedule::new(17, Duration::from_secs(5), kinds, 5).unwrap();
        let (mut part, mut kill, mut pause) = (0, 0, 0);
        for _ in 0..3000 {
            match s.next_decision() {
                Decision::Partition { .. } => part += 1,
                Decision::Kill { .. } => kill += 1,
                Decision::Pause { .. } => pause += 1,
                d => panic!("not asked for: {d:?}"),
            }
        }
        for (name, n) in [("partition", part), ("kill", kill), ("pause", pause)] {
            assert!((850..=1150).contains(&n), "{name}: {n} of 3000");
        }
    }

    #[test]
    fn the_warm_up_is_short_but_never_longer_than_the_interval() {
        let s = |ms| Schedule::new(1, Duration::from_millis(ms), vec![FaultKind::Kill], 3).unwrap();
        assert_eq!(s(10_000).warm_up(), MAX_WARM_UP);
        assert_eq!(s(300).warm_up(), Duration::from_millis(300));
    }

    #[test]
    fn refuses_what_cannot_run() {
        assert!(Schedule::new(1, Duration::from_secs(1), vec![], 5).is_err());
        assert!(Schedule::new(1, Duration::ZERO, vec![FaultKind::Kill], 5).is_err());
        let e = Schedule::new(
            1,
            Duration::from_secs(1),
            vec![FaultKind::Partition(PartitionKind::Ring)],
            3,
        )
        .unwrap_err();
        assert!(e.to_string().contains("at least 4 nodes"), "{e}");
    }

    /// A decision's kind, as the cycling tests compare them.
    fn kind_of(d: &Decision) -> String {
        match d {
            Decision::Partition { kind, .. } => format!("partition-{kind:?}"),
            other => serde_json::to_value(other).unwrap()["decision"]
                .as_str()
                .unwrap()
                .to_string(),
        }
    }

    #[test]
    fn every_round_of_faults_is_a_seeded_permutation_of_the_kinds() {
        let kinds = FaultKind::parse_list("kill,pause,clock-bump", 5).unwrap();
        let mut first_rounds = BTreeSet::new();
        for seed in 0..20 {
            let mut s = Schedule::new(seed, Duration::from_secs(5), kinds.clone(), 5).unwrap();
            let drawn: Vec<String> = (0..30).map(|_| kind_of(&s.next_decision())).collect();
            for round in drawn.chunks(3) {
                let mut sorted = round.to_vec();
                sorted.sort();
                assert_eq!(
                    sorted,
                    ["clock-bump", "kill", "pause"],
                    "seed {seed}: {drawn:?}"
                );
            }
            first_rounds.insert(drawn[..3].to_vec());
        }
        assert!(
            first_rounds.len() > 1,
            "the seed chooses the order: {first_rounds:?}"
        );
    }

    #[test]
    fn the_clock_group_gives_both_clock_kinds_before_repeating_one() {
        let kinds = FaultKind::parse_list("clock", 3).unwrap();
        assert_eq!(kinds, vec![FaultKind::ClockBump, FaultKind::ClockStrobe]);
        for seed in 0..50 {
            let mut s = Schedule::new(seed, Duration::from_secs(5), kinds.clone(), 3).unwrap();
            for round in 0..3 {
                let mut pair = [kind_of(&s.next_decision()), kind_of(&s.next_decision())];
                pair.sort();
                assert_eq!(
                    pair,
                    ["clock-bump", "clock-strobe"],
                    "seed {seed}, round {round}"
                );
            }
        }
    }

    #[test]
    fn the_partition_family_cycles_through_its_shapes() {
        let kinds = FaultKind::parse_list("partition,kill", 5).unwrap();
        let shapes = kinds.len() - 1;
        let mut s = Schedule::new(9, Duration::from_secs(5), kinds, 5).unwrap();
        let drawn: Vec<String> = (0..4 * shapes)
            .map(|_| kind_of(&s.next_decision()))
            .collect();
        let partitions: Vec<&String> = drawn
            .iter()
            .filter(|k| k.starts_with("partition"))
            .collect();
        assert_eq!(partitions.len(), 2 * shapes, "{drawn:?}");
        for round in partitions.chunks(shapes) {
            let distinct: BTreeSet<&&String> = round.iter().collect();
            assert_eq!(distinct.len(), shapes, "{drawn:?}");
        }
    }

    /// The first four decisions of seed 4000 for `pause-leader+clock-bump` and
    /// `partition-leader+clock-bump` with `--clock-bump=-30s..-6s`, pinned: a change
    /// here means old seeds no longer replay the same faults. (Re-pinned when the
    /// schedule began cycling through the kinds: two rounds of both kinds, where the
    /// draw with replacement gave partition-leader three times first.)
    #[test]
    fn composed_decisions_are_pinned_per_seed() {
        let kinds = FaultKind::parse_list("pause-leader+clock-bump,partition-leader+clock-bump", 3)
            .unwrap();
        let params = FaultParams {
            clock_bump: Some("-30s..-6s".parse().unwrap()),
            ..FaultParams::default()
        };
        let s = Schedule::new(4000, Duration::from_secs(5), kinds, 3)
            .unwrap()
            .with_params(params);
        let got = serde_json::to_string(&s.preview(4)).unwrap();
        assert_eq!(got, PINNED_COMPOSED, "{got}");
    }

    const PINNED_COMPOSED: &str = concat!(
        r#"[{"decision":"composed","parts":[{"decision":"partition","kind":"leader","grudge"#,
        r#"":{"0":[2],"1":[2],"2":[0,1]},"fallback":2},{"decision":"clock-bump","deltas_ms""#,
        r#":[[0,-23230],[1,-22768],[2,-22009]]}]},{"decision":"composed","parts":[{"decisio"#,
        r#"n":"pause-leader","fallback":0},{"decision":"clock-bump","deltas_ms":[[0,-16325]"#,
        r#",[1,-22044],[2,-12134]]}]},{"decision":"composed","parts":[{"decision":"pause-le"#,
        r#"ader","fallback":1},{"decision":"clock-bump","deltas_ms":[[0,-12338],[1,-7795],["#,
        r#"2,-15532]]}]},{"decision":"composed","parts":[{"decision":"partition","kind":"le"#,
        r#"ader","grudge":{"0":[2],"1":[2],"2":[0,1]},"fallback":2},{"decision":"clock-bump"#,
        r#"","deltas_ms":[[0,-22928],[1,-27315],[2,-27084]]}]}]"#,
    );

    #[test]
    fn composed_parts_after_the_first_are_decided_for_every_node() {
        let kinds = FaultKind::parse_list("partition-halves+clock-bump+delay", 5).unwrap();
        let mut s = Schedule::new(8, Duration::from_secs(5), kinds, 5).unwrap();
        for _ in 0..50 {
            let Decision::Composed { parts } = s.next_decision() else {
                panic!("only the composition was asked for");
            };
            assert!(matches!(
                parts[0],
                Decision::Partition {
                    kind: PartitionKind::Halves,
                    ..
                }
            ));
            let Decision::ClockBump { deltas_ms } = &parts[1] else {
                panic!("{parts:?}");
            };
            assert_eq!(
                deltas_ms.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
                vec![0, 1, 2, 3, 4]
            );
            assert!(deltas_ms
                .iter()
                .all(|(_, d)| (100..=60_000).contains(&d.unsigned_abs())));
            let Decision::Packet { links, .. } = &parts[2] else {
                panic!("{parts:?}");
            };
            assert_eq!(links.len(), 5 * 4, "every directed link");
        }
    }

    #[test]
    fn a_composition_is_one_family_and_leader_kinds_pick_a_fallback() {
        let kinds = FaultKind::parse_list("pause-leader+clock-bump,kill-leader,pause", 5).unwrap();
        let mut s = Schedule::new(21, Duration::from_secs(5), kinds, 5).unwrap();
        let (mut composed, mut kill_leader, mut pause) = (0, 0, 0);
        for _ in 0..3000 {
            match s.next_decision() {
                Decision::Composed { parts } => {
                    assert!(matches!(parts[0], Decision::PauseLeader { fallback } if fallback < 5));
                    composed += 1;
                }
                Decision::KillLeader { fallback } => {
                    assert!(fallback < 5);
                    kill_leader += 1;
                }
                Decision::Pause { .. } => pause += 1,
                d => panic!("not asked for: {d:?}"),
            }
        }
        for (name, n) in [
            ("composed", composed),
            ("kill-leader", kill_leader),
            ("pause", pause),
        ] {
            assert!((850..=1150).contains(&n), "{name}: {n} of 3000");
        }
    }

    #[test]
    fn clock_bump_range_bounds_every_bump_and_covers_it() {
        let range: ClockBumpRange = "-30s..-6s".parse().unwrap();
        assert_eq!(
            range,
            ClockBumpRange {
                min_ms: -30_000,
                max_ms: -6_000
            }
        );
        let params = FaultParams {
            clock_bump: Some(range),
            ..FaultParams::default()
        };
        let mut s = Schedule::new(3, Duration::from_secs(5), vec![FaultKind::ClockBump], 5)
            .unwrap()
            .with_params(params);
        let mut all = Vec::new();
        for _ in 0..500 {
            let Decision::ClockBump { deltas_ms } = s.next_decision() else {
                panic!()
            };
            all.extend(deltas_ms.into_iter().map(|(_, d)| d));
        }
        assert!(all.iter().all(|d| (-30_000..=-6_000).contains(d)));
        // Uniform: each third of the range gets about a third of the bumps.
        for k in 0..3 {
            let lo = -30_000 + k * 8_000;
            let share = all.iter().filter(|d| (lo..lo + 8_000).contains(*d)).count() as f64
                / all.len() as f64;
            assert!((0.27..0.40).contains(&share), "third {k}: {share}");
        }
        // The default is unchanged: log-uniform magnitudes of either sign.
        let mut s =
            Schedule::new(3, Duration::from_secs(5), vec![FaultKind::ClockBump], 5).unwrap();
        let (mut neg, mut pos) = (0, 0);
        for _ in 0..300 {
            let Decision::ClockBump { deltas_ms } = s.next_decision() else {
                panic!()
            };
            for (_, d) in deltas_ms {
                assert!((100..=60_000).contains(&d.unsigned_abs()));
                if d < 0 {
                    neg += 1
                } else {
                    pos += 1
                }
            }
        }
        assert!(neg > 100 && pos > 100, "{neg} {pos}");
    }

    #[test]
    fn clock_bump_ranges_parse_and_refuse_clearly() {
        let ok = |t: &str| t.parse::<ClockBumpRange>().unwrap();
        assert_eq!(
            ok("-500ms..2s"),
            ClockBumpRange {
                min_ms: -500,
                max_ms: 2_000
            }
        );
        assert_eq!(
            ok(" +1m .. +1.5m "),
            ClockBumpRange {
                min_ms: 60_000,
                max_ms: 90_000
            }
        );
        assert_eq!(
            ok("-10s"),
            ClockBumpRange {
                min_ms: -10_000,
                max_ms: -10_000
            }
        );
        assert_eq!(
            ok("-7"),
            ClockBumpRange {
                min_ms: -7_000,
                max_ms: -7_000
            },
            "bare numbers are seconds"
        );
        assert_eq!(ok("-30s..-6s").to_string(), "-30s..-6s");
        assert_eq!(ok("-1500ms..+250ms").to_string(), "-1500ms..+250ms");
        let err = |t: &str| t.parse::<ClockBumpRange>().unwrap_err().to_string();
        assert!(matches!(
            "-5s..-20s".parse::<ClockBumpRange>(),
            Err(ClockBumpError::Refused { error, .. }) if matches!(*error, ClockBumpError::Reversed { .. })
        ));
        assert!(matches!(
            "soon".parse::<ClockBumpRange>(),
            Err(ClockBumpError::Syntax { .. })
        ));
        let e = err("-5s..-20s");
        assert!(
            e.contains("`-5s..-20s`")
                && e.contains("lower bound -5s is above the upper bound -20s"),
            "{e}"
        );
        let e = err("-20x..-5s");
        assert!(
            e.contains("`-20x..-5s`") && e.contains("unknown unit `x`"),
            "{e}"
        );
        let e = err("..5s");
        assert!(e.contains("a bound is missing"), "{e}");
        let e = err("soon..later");
        assert!(e.contains("`soon` is not a duration"), "{e}");
        let e = err("-400d..0s");
        assert!(e.contains("unknown unit `d`"), "{e}");
        let e = err("-9000h..0s");
        assert!(e.contains("beyond a year"), "{e}");
    }

    #[test]
    fn invalid_compositions_are_refused_by_the_schedule_too() {
        let bad = FaultKind::Composed(vec![FaultKind::Kill, FaultKind::ClockBump]);
        let e = Schedule::new(1, Duration::from_secs(1), vec![bad], 3).unwrap_err();
        assert!(e.to_string().contains("\"kill+clock-bump\""), "{e}");
    }
}
