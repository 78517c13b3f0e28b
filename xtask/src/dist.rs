//! `cargo xtask dist [--out DIR]`: what a packager ships beside the `upnp` binary, generated
//! from its command line with clap's own crates (`clap_mangen`, `clap_complete`): the man
//! pages (`DIR/man/upnp.1`, one per command) and the shell completions (`DIR/completions/`:
//! bash, zsh, fish, elvish, PowerShell). DIR is `target/dist` unless given.
//!
//! The generator is `crates/upnp-cli/examples/dist.rs` (its dependencies are the CLI's
//! dev-dependencies), so xtask stays plain std.

use std::path::PathBuf;

use crate::cmd::{self, Result};

pub fn run(args: &[&str]) -> Result {
    let out = match args {
        [] => cmd::root().join("target").join("dist"),
        ["--out", dir] => PathBuf::from(dir),
        other => return Err(format!("cargo xtask dist: unknown arguments {other:?}")),
    };
    let out = if out.is_absolute() {
        out
    } else {
        std::env::current_dir()
            .map_err(|e| format!("cargo xtask dist: {e}"))?
            .join(out)
    };
    generate(&out)?;
    check(&out)?;
    eprintln!("man pages and completions in {}", out.display());
    Ok(())
}

/// Run the generator into `out`.
pub fn generate(out: &std::path::Path) -> Result {
    let dir = out.to_string_lossy();
    cmd::run(&mut cmd::new(
        "cargo",
        &[
            "run",
            "--quiet",
            "--package",
            "upnp-cli",
            "--example",
            "dist",
            "--",
            dir.as_ref(),
        ],
    ))
}

/// What was written is there and reads: a man page per command, each naming its command,
/// every completion script, the bash one parsing (`bash -n`).
pub fn check(out: &std::path::Path) -> Result {
    let pages = [
        "upnp",
        "discover",
        "external-ip",
        "add",
        "delete",
        "list",
        "keep",
        "check",
        "pinhole",
        "pinhole-open",
        "pinhole-close",
        "pinhole-list",
        "pinhole-status",
    ];
    for page in pages {
        let name = match page {
            "upnp" => "upnp".to_owned(),
            command => format!("upnp-{command}"),
        };
        let path = out.join("man").join(format!("{name}.1"));
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if !text.contains(&format!(".TH {name} ")) {
            return Err(format!("{}: not the page of {name}", path.display()));
        }
    }
    for file in ["upnp.bash", "_upnp", "upnp.fish", "upnp.elv", "_upnp.ps1"] {
        let path = out.join("completions").join(file);
        if !path.is_file() {
            return Err(format!("{}: not written", path.display()));
        }
    }
    let bash = out.join("completions").join("upnp.bash");
    if cmd::have("bash") {
        cmd::run(&mut cmd::new("bash", &["-n", &bash.to_string_lossy()]))?;
    }
    Ok(())
}
