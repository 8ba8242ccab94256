//! Packet faults on real namespaces: loss drops about p, the shaper delays and
//! reorders, TEE duplicates, and healing leaves no rule, shaper thread or namespace.
//! Needs root.

mod common;

use common::*;
use nemesis::netfilter::Netfilter;
use nemesis::{Fault, Link, Nemesis, PacketKind};
use std::sync::Arc;
use std::time::Duration;

fn link(a: &str, b: &str) -> Link {
    Link {
        from: a.into(),
        to: b.into(),
    }
}

/// NFQUEUE queues bound in these nodes' namespaces (one line each in the namespace's
/// own /proc/net/netfilter/nfnetlink_queue): the shapers' sockets.
fn bound_queues(nodes: &[nemesis::control::NodeRef]) -> usize {
    nodes
        .iter()
        .map(|n| {
            let ns = nemesis::netns::Netns::open(&n.netns).unwrap();
            ns.run(|| {
                std::fs::read_to_string("/proc/thread-self/net/netfilter/nfnetlink_queue").unwrap()
            })
            .unwrap()
            .lines()
            .count()
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_drops_about_p_of_the_packets_on_its_link_only() {
    let net = TestNet::new(3);
    let (n1, n2, n3) = (
        net.node("n1").clone(),
        net.node("n2").clone(),
        net.node("n3").clone(),
    );
    let mut nemesis = Nemesis::new(Arc::new(FakeControl::new(net.nodes.clone(), None)));
    let fault = Fault::Packet {
        kind: PacketKind::Loss { p: 0.5 },
        links: vec![link("n1", "n2")],
    };
    nemesis.start(&fault).await.unwrap();
    let got = transfer(
        &n1,
        &n2,
        7201,
        600,
        Duration::ZERO,
        Duration::from_millis(300),
    );
    let frac = got.len() as f64 / 600.0;
    assert!(
        (0.35..=0.65).contains(&frac),
        "delivered {frac} with loss 0.5"
    );
    let other = transfer(
        &n3,
        &n2,
        7202,
        200,
        Duration::ZERO,
        Duration::from_millis(300),
    );
    assert_eq!(other.len(), 200, "n3 -> n2 is not a chosen link");
    nemesis.stop(&fault).await.unwrap();
    let after = transfer(
        &n1,
        &n2,
        7203,
        200,
        Duration::ZERO,
        Duration::from_millis(300),
    );
    assert_eq!(after.len(), 200);
    nemesis.teardown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_holds_packets_for_at_least_the_configured_time() {
    let net = TestNet::new(2);
    let (n1, n2) = (net.node("n1").clone(), net.node("n2").clone());
    let mut nemesis = Nemesis::new(Arc::new(FakeControl::new(net.nodes.clone(), None)));
    let base = echo_rtt(&n1, &n2, 7301).expect("echo works before the fault");
    assert!(base < Duration::from_millis(100), "baseline rtt {base:?}");
    let fault = Fault::Packet {
        kind: PacketKind::Delay {
            ms: 150,
            jitter_ms: 0,
        },
        links: vec![link("n1", "n2"), link("n2", "n1")],
    };
    nemesis.start(&fault).await.unwrap();
    if nemesis.delay_backend().unwrap() == nemesis::packet::DelayBackend::Nfqueue {
        assert_eq!(
            bound_queues(&net.nodes),
            2,
            "one shaper per receiving namespace"
        );
    }
    for port in [7302, 7303, 7304] {
        let rtt = echo_rtt(&n1, &n2, port).expect("delayed, not dropped");
        assert!(
            rtt >= Duration::from_millis(300),
            "round trip {rtt:?} with 150 ms each way"
        );
    }
    assert!(
        nemesis.describe().contains("delay 150"),
        "{}",
        nemesis.describe()
    );
    nemesis.stop(&fault).await.unwrap();
    assert_eq!(bound_queues(&net.nodes), 0, "shapers stopped");
    let after = echo_rtt(&n1, &n2, 7305).unwrap();
    assert!(
        after < Duration::from_millis(100),
        "rtt after healing {after:?}"
    );
    nemesis.teardown().await.unwrap();
    for node in &net.nodes {
        assert!(Netfilter::inspect(node).await.unwrap().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_packets_are_released_not_dropped_when_healed() {
    let net = TestNet::new(2);
    let (n1, n2) = (net.node("n1").clone(), net.node("n2").clone());
    let mut nemesis = Nemesis::new(Arc::new(FakeControl::new(net.nodes.clone(), None)));
    let fault = Fault::Packet {
        kind: PacketKind::Delay {
            ms: 5000,
            jitter_ms: 0,
        },
        links: vec![link("n1", "n2")],
    };
    nemesis.start(&fault).await.unwrap();
    let rx = udp_in(&n2, 7401);
    let tx = udp_in(&n1, 0);
    for i in 0u32..20 {
        tx.send_to(&i.to_be_bytes(), (n2.ip, 7401)).unwrap();
    }
    let mut buf = [0u8; 8];
    assert!(rx.recv(&mut buf).is_err(), "held by the shaper");
    let t0 = std::time::Instant::now();
    nemesis.stop(&fault).await.unwrap();
    let mut got = 0;
    rx.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    while rx.recv(&mut buf).is_ok() {
        got += 1;
    }
    assert_eq!(got, 20, "every held packet delivered on heal");
    assert!(
        t0.elapsed() < Duration::from_secs(4),
        "released at once, not after the delay"
    );
    nemesis.teardown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reorder_and_jitter_deliver_out_of_order() {
    let net = TestNet::new(2);
    let (n1, n2) = (net.node("n1").clone(), net.node("n2").clone());
    let mut nemesis =
        Nemesis::new(Arc::new(FakeControl::new(net.nodes.clone(), None)).clone()).with_seed(3);
    for (kind, port) in [
        (PacketKind::Reorder { p: 0.5, ms: 60 }, 7501),
        (
            PacketKind::Delay {
                ms: 40,
                jitter_ms: 30,
            },
            7502,
        ),
    ] {
        let fault = Fault::Packet {
            kind,
            links: vec![link("n1", "n2")],
        };
        nemesis.start(&fault).await.unwrap();
        let got = transfer(
            &n1,
            &n2,
            port,
            100,
            Duration::from_millis(1),
            Duration::from_millis(400),
        );
        assert_eq!(got.len(), 100, "{kind:?}: nothing lost");
        let inversions = got.windows(2).filter(|w| w[0] > w[1]).count();
        assert!(
            inversions >= 5,
            "{kind:?}: only {inversions} packets out of order"
        );
        nemesis.stop(&fault).await.unwrap();
    }
    nemesis.teardown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_delivers_packets_twice() {
    let net = TestNet::new(2);
    let (n1, n2) = (net.node("n1").clone(), net.node("n2").clone());
    let mut nemesis = Nemesis::new(Arc::new(FakeControl::new(net.nodes.clone(), None)));
    let all = Fault::Packet {
        kind: PacketKind::Duplicate { p: 1.0 },
        links: vec![link("n1", "n2")],
    };
    nemesis.start(&all).await.unwrap();
    let got = transfer(
        &n1,
        &n2,
        7601,
        50,
        Duration::ZERO,
        Duration::from_millis(300),
    );
    for i in 0..50u32 {
        assert_eq!(
            got.iter().filter(|x| **x == i).count(),
            2,
            "packet {i} twice: {got:?}"
        );
    }
    let back = transfer(
        &n2,
        &n1,
        7602,
        50,
        Duration::ZERO,
        Duration::from_millis(300),
    );
    assert_eq!(back.len(), 50, "the reverse link is not duplicated");
    nemesis.stop(&all).await.unwrap();
    let some = Fault::Packet {
        kind: PacketKind::Duplicate { p: 0.3 },
        links: vec![link("n1", "n2")],
    };
    nemesis.start(&some).await.unwrap();
    let got = transfer(
        &n1,
        &n2,
        7603,
        400,
        Duration::ZERO,
        Duration::from_millis(300),
    );
    let extra = got.len() as f64 / 400.0 - 1.0;
    assert!(
        (0.15..=0.45).contains(&extra),
        "duplicated fraction {extra}"
    );
    nemesis.heal_all().await.unwrap();
    assert_eq!(
        transfer(
            &n1,
            &n2,
            7604,
            50,
            Duration::ZERO,
            Duration::from_millis(300)
        )
        .len(),
        50
    );
    nemesis.teardown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packet_faults_stack_and_heal_independently_and_nothing_is_left() {
    let net = TestNet::new(2);
    let names = net.namespaces();
    let (n1, n2) = (net.node("n1").clone(), net.node("n2").clone());
    let mut nemesis = Nemesis::new(Arc::new(FakeControl::new(net.nodes.clone(), None)));
    let loss = Fault::Packet {
        kind: PacketKind::Loss { p: 1.0 },
        links: vec![link("n1", "n2")],
    };
    let delay = Fault::Packet {
        kind: PacketKind::Delay {
            ms: 100,
            jitter_ms: 0,
        },
        links: vec![link("n2", "n1")],
    };
    nemesis.start(&loss).await.unwrap();
    nemesis.start(&delay).await.unwrap();
    assert!(!reaches(&n1, &n2, 7701));
    nemesis.stop(&loss).await.unwrap();
    assert!(reaches(&n1, &n2, 7702), "loss healed");
    let rtt = echo_rtt(&n1, &n2, 7703).unwrap();
    assert!(
        rtt >= Duration::from_millis(100),
        "delay still in force: {rtt:?}"
    );
    // Dropping the nemesis without healing still cleans up (the Drop guard).
    assert_eq!(bound_queues(&net.nodes), 1);
    drop(nemesis);
    assert_eq!(bound_queues(&net.nodes), 0);
    for node in &net.nodes {
        assert!(Netfilter::inspect(node).await.unwrap().is_empty());
    }
    drop(net);
    for ns in names {
        assert!(
            !std::path::Path::new("/run/netns").join(&ns).exists(),
            "{ns} left behind"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finds_the_egress_device_and_probes_netem_without_error() {
    let net = TestNet::new(2);
    let control = FakeControl::new(net.nodes.clone(), None);
    let dev = nemesis::packet::netem::egress_device(&control, net.node("n1"), net.node("n2").ip)
        .await
        .unwrap();
    assert_eq!(dev, "eth0");
    // Present or not, the probe answers without error and leaves no namespace behind.
    let _present = nemesis::packet::netem::available().unwrap();
}

/// With netem in the kernel, the netem path delays like the shaper does; without it
/// (this machine), forcing it fails with tc's reason and leaves no qdisc behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_netem_path_delays_or_fails_cleanly() {
    let net = TestNet::new(2);
    let (n1, n2) = (net.node("n1").clone(), net.node("n2").clone());
    let mut nemesis = Nemesis::new(Arc::new(FakeControl::new(net.nodes.clone(), None)))
        .with_delay_backend(nemesis::packet::DelayBackend::Netem);
    let fault = Fault::Packet {
        kind: PacketKind::Delay {
            ms: 120,
            jitter_ms: 0,
        },
        links: vec![link("n1", "n2"), link("n2", "n1")],
    };
    let qdiscs = |node: &nemesis::control::NodeRef| {
        let out = std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                &node.netns,
                "tc",
                "qdisc",
                "show",
                "dev",
                "eth0",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    if nemesis::packet::netem::available().unwrap() {
        nemesis.start(&fault).await.unwrap();
        let rtt = echo_rtt(&n1, &n2, 7801).unwrap();
        assert!(rtt >= Duration::from_millis(240), "round trip {rtt:?}");
        nemesis.stop(&fault).await.unwrap();
    } else {
        let err = format!("{:#}", nemesis.start(&fault).await.unwrap_err());
        assert!(err.contains("netem") && err.contains("node n1"), "{err}");
        assert!(nemesis.is_healthy());
    }
    for node in [&n1, &n2] {
        let q = qdiscs(node);
        assert!(
            !q.contains("prio") && !q.contains("netem"),
            "qdisc left on {}: {q}",
            node.id
        );
    }
    assert!(echo_rtt(&n1, &n2, 7802).unwrap() < Duration::from_millis(100));
    nemesis.teardown().await.unwrap();
}
