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
    Pause {
        nodes: Vec<usize>,
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
    /// Clock bumps are log-uniform in `[clock_min_ms, clock_max_ms]`, either sign.
    pub clock_min_ms: u64,
    pub clock_max_ms: u64,
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
            strobe_min_period_ms: 10,
            strobe_max_period_ms: 1_000,
        }
    }
}

/// Why a schedule cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError(pub String);

impl std::fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScheduleError {}

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
        }
        Ok(Schedule {
            rng: SeededRng::new(seed),
            seed,
            interval,
            kinds,
            nodes: node_count,
            params: FaultParams::default(),
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

    /// The next fault to start. The choice is first among families, every partition
    /// shape together being one family and every other kind its own, then among the
    /// family's kinds: so `partition,kill,pause` gives partitions, kills and pauses a
    /// third each, rather than partitions seven ninths for having seven shapes.
    pub fn next_decision(&mut self) -> Decision {
        let partitions: Vec<FaultKind> = self
            .kinds
            .iter()
            .copied()
            .filter(|k| matches!(k, FaultKind::Partition(_)))
            .collect();
        let others: Vec<FaultKind> = self
            .kinds
            .iter()
            .copied()
            .filter(|k| !matches!(k, FaultKind::Partition(_)))
            .collect();
        let families = others.len() as u64 + u64::from(!partitions.is_empty());
        let pick = self.rng.below(families) as usize;
        let kind = if pick < others.len() {
            others[pick]
        } else {
            partitions[self.rng.below(partitions.len() as u64) as usize]
        };
        self.decide(kind)
    }

    /// The first `count` decisions this schedule will make, without consuming them.
    pub fn preview(&self, count: usize) -> Vec<Decision> {
        let mut s = self.clone();
        (0..count).map(|_| s.next_decision()).collect()
    }

    fn decide(&mut self, kind: FaultKind) -> Decision {
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
                    kind: pk,
                    grudge,
                    fallback,
                }
            }
            FaultKind::Kill => Decision::Kill {
                nodes: targets(n, rng),
            },
            FaultKind::KillAll => Decision::KillAll,
            FaultKind::Pause => Decision::Pause {
                nodes: targets(n, rng),
            },
            FaultKind::ClockBump => {
                let deltas_ms = targets(n, rng)
                    .into_iter()
                    .map(|i| {
                        let mag = rng.log_uniform(p.clock_min_ms, p.clock_max_ms) as i64;
                        (i, if rng.coin() { mag } else { -mag })
                    })
                    .collect();
                Decision::ClockBump { deltas_ms }
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
        }
    }
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
            }
            seen.insert(tag);
        }
        // 7 partition shapes + 4 packet kinds + the tags of every decision type.
        assert!(seen.len() >= 7 + 4 + 7, "{seen:?}");
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
}
