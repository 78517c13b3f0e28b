//! `cargo xtask test`: everything CI checks, in order, stopping at the first failure.
//!
//! 1. `cargo fmt --check`;
//! 2. clippy with `-D warnings`, with all features and with each layer's least features;
//!    `igd --no-default-features` checked to pull no socket, HTTP or runtime crate;
//! 3. every unit, property and doc test of the workspace;
//! 4. every fuzz target run over its seeds and then fuzzed for a short while
//!    (`FUZZ_SECONDS`, 30 s each by default); the CLI's man pages and completions
//!    generated (`cargo xtask dist`) and checked;
//! 5. the lab suite: the `lab-tests` binaries run on the lab's LAN host against miniupnpd,
//!    once with the router in IGDv2 mode and once in IGDv1 mode.

use std::process::Command;

use crate::cmd::{self, Result};
use crate::fuzz;
use crate::lab::{Igd, Lab};

pub fn run(args: &[&str]) -> Result {
    let mut no_lab = false;
    let mut keep_lab = false;
    for arg in args {
        match *arg {
            "--no-lab" => no_lab = true,
            "--keep-lab" => keep_lab = true,
            other => return Err(format!("cargo xtask test: unknown option {other}")),
        }
    }
    step("format", || {
        cmd::run(&mut cargo(&["fmt", "--all", "--check"]))
    })?;
    step("clippy", || {
        cmd::run(&mut cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    step("feature sets: each layer alone, clippy-clean", || {
        FEATURE_SETS.iter().try_for_each(|set| {
            let mut args = vec!["clippy"];
            args.extend_from_slice(set);
            args.extend_from_slice(&["--all-targets", "--", "-D", "warnings"]);
            cmd::run(&mut cargo(&args))
        })
    })?;
    step(
        "the pure core pulls no socket, HTTP or runtime crate",
        pure_core,
    )?;
    step("unit, property and doc tests", || {
        cmd::run(&mut cargo(&[
            "test",
            "--workspace",
            "--all-features",
            "--exclude",
            "lab-tests",
        ]))
    })?;
    let seconds = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    step("fuzz targets: seeds, then a short run each", || {
        fuzz::short(seconds)
    })?;
    step("the CLI's man pages and completions generate", || {
        let out = cmd::root().join("target").join("dist");
        crate::dist::generate(&out)?;
        crate::dist::check(&out)
    })?;
    if no_lab {
        eprintln!("== lab suite skipped (--no-lab)");
        return Ok(());
    }
    let binaries = step("build the lab suite", build_lab_tests)?;
    let cli = step("build the CLI", build_cli)?;
    let cli_env = format!("IGD_LAB_UPNP_BIN={cli}");
    let driver = step("build the example driver", build_driver)?;
    let driver_env = format!("IGD_LAB_DRIVER_BIN={driver}");
    let lab = Lab::from_env();
    let result = [Igd::V2, Igd::V1].into_iter().try_for_each(|igd| {
        step(
            &format!("lab suite, miniupnpd in IGDv{} mode", igd.number()),
            || {
                lab.up(igd)?;
                binaries.iter().try_for_each(|exe| {
                    lab.exec_on_host(&[
                        cli_env.as_str(),
                        driver_env.as_str(),
                        exe.as_str(),
                        "--test-threads=1",
                    ])
                })
            },
        )
    });
    // Behind a second NAT: the suite written for that topology only (the others assume one
    // router with IPv6).
    let result = result.and_then(|()| {
        step("lab suite, behind a second NAT (--double-nat)", || {
            lab.up_double_nat()?;
            binaries
                .iter()
                .filter(|exe| {
                    std::path::Path::new(exe.as_str())
                        .file_name()
                        .is_some_and(|name| name.to_string_lossy().starts_with("double_nat-"))
                })
                .try_for_each(|exe| {
                    lab.exec_on_host(&[
                        cli_env.as_str(),
                        driver_env.as_str(),
                        exe.as_str(),
                        "--test-threads=1",
                    ])
                })
        })
    });
    if keep_lab {
        eprintln!("lab kept up (--keep-lab); `cargo xtask lab down` removes it");
    } else {
        lab.down()?;
    }
    if result.is_err() {
        eprintln!("miniupnpd log: {}", lab.log_file().display());
    }
    result
}

/// Feature sets built besides `--all-features`: each crate with the least it can have, and
/// each driver alone.
const FEATURE_SETS: &[&[&str]] = &[
    &["-p", "upnp-ssdp", "--no-default-features"],
    &["-p", "upnp-soap", "--no-default-features"],
    &[
        "-p",
        "upnp-soap",
        "--no-default-features",
        "--features",
        "http",
    ],
    &[
        "-p",
        "upnp-soap",
        "--no-default-features",
        "--features",
        "tokio",
    ],
    &["-p", "upnp-igd", "--no-default-features"],
    &[
        "-p",
        "upnp-igd",
        "--no-default-features",
        "--features",
        "tokio",
    ],
    &["-p", "pcp-natpmp", "--no-default-features"],
    &[
        "-p",
        "pcp-natpmp",
        "--no-default-features",
        "--features",
        "tokio",
    ],
];

/// Crates that would mean I/O in `igd --no-default-features`.
const NOT_IN_THE_CORE: &[&str] = &[
    "socket2",
    "if-addrs",
    "httparse",
    "bytes",
    "tokio",
    "mio",
    "hyper",
    "reqwest",
    "h2",
    "netdev",
    "getrandom",
];

/// `igd` without its drivers depends on no socket, HTTP or runtime crate.
fn pure_core() -> Result {
    let tree = cmd::output(&mut cargo(&[
        "tree",
        "-p",
        "upnp-igd",
        "--no-default-features",
        "-e",
        "normal",
        "--prefix",
        "none",
    ]))?;
    let found: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| NOT_IN_THE_CORE.contains(name))
        .collect();
    if found.is_empty() {
        Ok(())
    } else {
        Err(format!("igd --no-default-features depends on {found:?}"))
    }
}

fn cargo(args: &[&str]) -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    cmd::new(&cargo, args)
}

fn step<T>(name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    eprintln!("\n== {name}");
    f().map_err(|e| format!("{name}: {e}"))
}

/// Build the `upnp` CLI; the path of its binary, for the lab suite's CLI tests.
fn build_cli() -> Result<String> {
    built(&["--package", "upnp-cli", "--bin", "upnp"])
}

/// Build `upnp-igd`'s example of a driver written outside the crate; its path.
fn build_driver() -> Result<String> {
    built(&["--package", "upnp-igd", "--example", "driver"])
}

/// `cargo build` of the one executable `what` names; its path, from cargo's JSON messages.
fn built(what: &[&str]) -> Result<String> {
    let mut args = vec!["build"];
    args.extend_from_slice(what);
    args.push("--message-format=json");
    let out = cmd::output(&mut cargo(&args))?;
    out.lines()
        .filter(|l| l.contains("\"reason\":\"compiler-artifact\""))
        .find_map(|l| json_string(l, "executable"))
        .ok_or_else(|| format!("cargo built no executable for {what:?}"))
}

/// Build the lab suite's test binaries; their paths, from cargo's JSON messages.
fn build_lab_tests() -> Result<Vec<String>> {
    let out = cmd::output(&mut cargo(&[
        "test",
        "--package",
        "lab-tests",
        "--no-run",
        "--message-format=json",
    ]))?;
    let binaries: Vec<String> = out
        .lines()
        .filter(|l| {
            l.contains("\"reason\":\"compiler-artifact\"")
                && l.contains("\"test\":true")
                && l.contains("\"kind\":[\"test\"]")
        })
        .filter_map(|l| json_string(l, "executable"))
        .collect();
    if binaries.is_empty() {
        return Err("cargo built no lab test binary".to_owned());
    }
    Ok(binaries)
}

/// The string value of `"key":"..."` in one line of JSON (paths have no escapes here but
/// backslashes and quotes are undone anyway).
fn json_string(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!("\"{key}\":\""))? + key.len() + 4;
    let mut out = String::new();
    let mut chars = line.get(start..)?.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => out.push(chars.next()?),
            c => out.push(c),
        }
    }
    None
}
