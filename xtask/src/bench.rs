//! `cargo xtask bench`: the lab benchmark. Builds `tests/src/bin/lab-bench.rs`, the `upnp`
//! CLI and the peer program on igd-next (`bench/peer-igd-next`) in release mode, brings the lab up (miniupnpd in IGDv2 mode), and runs the benchmark on
//! the LAN host; it prints a Markdown table (see the README), then the CLI's footprint: its
//! stripped size and its clean release build time.

use std::time::Instant;

use crate::cmd::{self, Result};
use crate::lab::{Igd, Lab};

pub fn run(args: &[&str]) -> Result {
    let mut runs = "200".to_owned();
    let mut keep_lab = false;
    let mut only = String::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match *arg {
            "--runs" => runs = rest.next().ok_or("--runs takes a number")?.to_string(),
            "--keep-lab" => keep_lab = true,
            // `--only keeper`: the keeper's rows alone (they take minutes).
            "--only" => {
                only = rest
                    .next()
                    .ok_or("--only takes a section: keeper")?
                    .to_string()
            }
            other => return Err(format!("cargo xtask bench: unknown option {other}")),
        }
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let build = |args: &[&str]| cmd::run(&mut cmd::new(&cargo, args));
    build(&[
        "build",
        "--release",
        "--package",
        "upnp-cli",
        "--bin",
        "upnp",
    ])?;
    build(&[
        "build",
        "--release",
        "--package",
        "lab-tests",
        "--bin",
        "lab-bench",
    ])?;
    // The peer program on igd-next: a package of its own, outside the workspace.
    let peer_target = cmd::root().join("target/peer");
    build(&[
        "build",
        "--release",
        "--manifest-path",
        "bench/peer-igd-next/Cargo.toml",
        "--target-dir",
        &peer_target.display().to_string(),
    ])?;
    let peer = peer_target
        .join("release/peer-igd-next")
        .display()
        .to_string();
    let target = cmd::root().join("target/release");
    let upnp = target.join("upnp").display().to_string();
    let bench = target.join("lab-bench").display().to_string();
    let lab = Lab::from_env();
    lab.up(Igd::V2)?;
    let result = lab.exec_on_host(&[
        &format!("IGD_LAB_UPNP_BIN={upnp}"),
        &format!("IGD_BENCH_PEER={peer}"),
        &format!("IGD_BENCH_ONLY={only}"),
        &bench,
        &runs,
    ]);
    if !keep_lab {
        lab.down()?;
    }
    result?;
    if !only.is_empty() {
        return Ok(());
    }
    footprint(&cargo, &upnp)
}

/// The CLI's stripped size and its clean release build time (all dependencies compiled,
/// none downloaded: the registry cache is warmed first), printed as rows of the table.
fn footprint(cargo: &str, upnp: &str) -> Result {
    let stripped = std::env::temp_dir().join("igd-bench-upnp-stripped");
    cmd::run(&mut cmd::new(
        "strip",
        &["-o", &stripped.display().to_string(), upnp],
    ))?;
    let size = std::fs::metadata(&stripped)
        .map_err(|e| e.to_string())?
        .len();
    let _ = std::fs::remove_file(&stripped);
    println!("| `upnp` binary, release, stripped | 1 | {size} bytes | |");

    let target = cmd::root().join("target/bench-clean-build");
    let _ = std::fs::remove_dir_all(&target);
    cmd::run(&mut cmd::new(cargo, &["fetch", "--quiet"]))?;
    let start = Instant::now();
    cmd::run(
        cmd::new(
            cargo,
            &[
                "build",
                "--release",
                "--quiet",
                "--package",
                "upnp-cli",
                "--bin",
                "upnp",
            ],
        )
        .env("CARGO_TARGET_DIR", &target),
    )?;
    let took = start.elapsed();
    let _ = std::fs::remove_dir_all(&target);
    println!(
        "| clean release build of the CLI ({} cores) | 1 | {:.1} s | |",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        took.as_secs_f64()
    );
    Ok(())
}
