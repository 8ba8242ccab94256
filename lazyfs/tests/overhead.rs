//! The lazy filesystem's cost: fsync'd small writes per second through the mount
//! against the same writes directly in the backing directory. Ignored (it measures,
//! it does not check); run as root:
//!
//!     cargo test --release -p lazyfs --test overhead -- --ignored --nocapture

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// Appends `size`-byte records to a file, each followed by fdatasync, for `time`;
/// returns records per second.
fn fsynced_writes_per_second(dir: &Path, name: &str, size: usize, time: Duration) -> f64 {
    let mut f = std::fs::File::create(dir.join(name)).unwrap();
    let record = vec![b'x'; size];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < time {
        f.write_all(&record).unwrap();
        f.sync_data().unwrap();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

#[test]
#[ignore]
fn fsynced_small_writes_through_the_mount_against_direct() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root");
        return;
    }
    let dir =
        tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or("/var/tmp".into())).unwrap();
    let (m, b) = (dir.path().join("m"), dir.path().join("b"));
    std::fs::create_dir(&m).unwrap();
    std::fs::create_dir(&b).unwrap();
    let sock = dir.path().join("c.sock");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_faultline-lazyfs"))
        .args([&m, &b])
        .arg("--control")
        .arg(&sock)
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !sock.exists() {
        assert!(t0.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(20));
    }
    let time = Duration::from_secs(3);
    // Alternated, each on its own file, so neither side always runs first on a
    // disk that other work shares.
    for (round, size) in [100, 4096, 100, 4096].into_iter().enumerate() {
        let mounted = fsynced_writes_per_second(&m, &format!("m{round}"), size, time);
        let direct = fsynced_writes_per_second(&b, &format!("d{round}"), size, time);
        println!(
            "{size}-byte fsync'd appends: direct {direct:.0}/s, through lazyfs {mounted:.0}/s ({:.0}% of direct)",
            100.0 * mounted / direct
        );
    }
    let stats = lazyfs::control::request(
        &sock,
        lazyfs::control::Command::Stats,
        Duration::from_secs(5),
    )
    .unwrap();
    println!("{stats:?}");
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
}
