//! `cargo xtask fuzz`: run the cargo-fuzz targets of `fuzz/` on stable Rust.
//!
//! No nightly toolchain can be installed here, so cargo-fuzz runs with `RUSTC_BOOTSTRAP=1`,
//! which lets stable rustc take the `-Z` flags it passes. Seeds (real captures) are committed
//! in `fuzz/seeds/TARGET/`; the growing corpus lives in `fuzz/corpus/TARGET/`, not committed.

use std::fs;
use std::process::Command;

use crate::cmd::{self, Result};

pub fn run(args: &[&str]) -> Result {
    let mut seconds = 60u64;
    let mut target = None;
    let mut replay_only = false;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match *arg {
            "--seconds" => {
                seconds = rest
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or("--seconds takes a number")?;
            }
            "--replay" => replay_only = true,
            t if !t.starts_with('-') && target.is_none() => target = Some(t.to_owned()),
            other => return Err(format!("cargo xtask fuzz: unexpected {other:?}")),
        }
    }
    if replay_only {
        return replay();
    }
    let targets = match target {
        Some(t) => vec![t],
        None => targets()?,
    };
    ensure_cargo_fuzz()?;
    for t in targets {
        let corpus = format!("fuzz/corpus/{t}");
        let seeds = format!("fuzz/seeds/{t}");
        fs::create_dir_all(cmd::root().join(&corpus)).map_err(|e| e.to_string())?;
        let max_time = format!("-max_total_time={seconds}");
        cmd::run(&mut fuzz_cmd(&[
            "run", &t, &corpus, &seeds, "--", &max_time,
        ]))?;
    }
    Ok(())
}

/// Build every target and run it over its seeds once (`cargo xtask fuzz --replay`).
pub fn replay() -> Result {
    ensure_cargo_fuzz()?;
    for t in targets()? {
        let seeds = format!("fuzz/seeds/{t}");
        cmd::run(&mut fuzz_cmd(&["run", &t, &seeds, "--", "-runs=0"]))?;
    }
    Ok(())
}

/// Every target, its seeds first, then fuzzed for `seconds` from a scratch corpus under
/// `target/` (so runs do not depend on what an earlier one found): what `cargo xtask test`
/// and CI do, so that a decoder a few hundred inputs can break fails the build.
pub fn short(seconds: u64) -> Result {
    ensure_cargo_fuzz()?;
    let max_time = format!("-max_total_time={seconds}");
    for t in targets()? {
        let scratch = cmd::root().join("target/fuzz-short").join(&t);
        let _ = fs::remove_dir_all(&scratch);
        fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
        let scratch = scratch.to_string_lossy().into_owned();
        let seeds = format!("fuzz/seeds/{t}");
        cmd::run(&mut fuzz_cmd(&[
            "run", &t, &scratch, &seeds, "--", &max_time,
        ]))?;
    }
    Ok(())
}

/// The targets, from `fuzz/fuzz_targets/*.rs`.
fn targets() -> Result<Vec<String>> {
    let dir = cmd::root().join("fuzz/fuzz_targets");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| {
            let path = e.ok()?.path();
            (path.extension()? == "rs").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    names.sort();
    Ok(names)
}

fn fuzz_cmd(args: &[&str]) -> Command {
    let mut c = cmd::new("cargo", &["fuzz"]);
    c.args(args).env("RUSTC_BOOTSTRAP", "1");
    c
}

fn ensure_cargo_fuzz() -> Result {
    if cmd::succeeds(&mut cmd::new("cargo", &["fuzz", "--version"])) {
        return Ok(());
    }
    cmd::run(&mut cmd::new(
        "cargo",
        &["install", "cargo-fuzz", "--locked"],
    ))
}
