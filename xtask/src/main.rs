//! Project automation, run as `cargo xtask COMMAND` (see `cargo xtask help`).
//!
//! Plain std, one module per command: `lab` brings the test gateway up and down, `test` is the
//! whole check CI runs, `fuzz` runs the fuzz targets, `bench` the lab benchmark, `release` a version of
//! every crate, `dist` the CLI's man pages and completions.

mod bench;
mod cmd;
mod dist;
mod fuzz;
mod lab;
mod release;
mod test;

use std::process::ExitCode;

const HELP: &str = "\
cargo xtask COMMAND

  test [--no-lab] [--keep-lab]     fmt check, clippy -D warnings, unit and property tests,
                                   fuzz seeds and a short run of each target (FUZZ_SECONDS,
                                   30 by default), then the lab suite against miniupnpd
  lab up [--igd v1|v2]             create the lab namespaces and start miniupnpd (idempotent)
  lab down                         remove everything `lab up` made
  lab status                       what exists and runs now
  lab exec -- CMD...               run a command on the lab's LAN host
  fuzz [TARGET] [--seconds N]      run a fuzz target (all targets one after the other if none)
  fuzz --replay                    build every target and replay its committed seeds
  release VERSION [--publish]      refuse a dirty tree; set VERSION everywhere, move the
                                   CHANGELOG's unreleased section, run the tests that need no
                                   lab, package every crate; only with --publish: commit,
                                   publish bottom-up, tag vVERSION (else all in a throwaway
                                   worktree; `release --next`: the dry run of the next minor)
  dist [--out DIR]                 the CLI's man pages and shell completions (bash, zsh, fish,
                                   elvish, PowerShell), into target/dist unless DIR is given
  bench [--runs N] [--keep-lab]    in the lab: time to a usable gateway (ours, upnpc, a bare
                                   script) and per-action time (ours against the bare exchange)

  The lab's namespaces are named PREFIX-lan, PREFIX-rtr, PREFIX-isp; PREFIX is `igdlab` or
  the value of IGD_LAB_PREFIX.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["test", rest @ ..] => test::run(rest),
        ["lab", rest @ ..] => lab::run(rest),
        ["fuzz", rest @ ..] => fuzz::run(rest),
        ["bench", rest @ ..] => bench::run(rest),
        ["release", rest @ ..] => release::run(rest),
        ["dist", rest @ ..] => dist::run(rest),
        [] | ["help" | "--help" | "-h"] => {
            print!("{HELP}");
            Ok(())
        }
        _ => Err(format!("unknown command {args:?}\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
