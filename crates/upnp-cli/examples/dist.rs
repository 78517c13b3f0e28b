//! Write `upnp`'s man pages and shell completions into a directory (`cargo xtask dist` runs it
//! with `target/dist`): `man/upnp.1` and one page per command (`upnp-add.1`...), and
//! `completions/` for bash, zsh, fish, elvish and PowerShell.

use std::path::PathBuf;
use std::process::ExitCode;

use clap_complete::Shell;

fn main() -> ExitCode {
    let Some(out) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: dist DIRECTORY");
        return ExitCode::from(2);
    };
    match write(&out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dist: {}: {e}", out.display());
            ExitCode::FAILURE
        }
    }
}

fn write(out: &std::path::Path) -> std::io::Result<()> {
    let man = out.join("man");
    std::fs::create_dir_all(&man)?;
    // The page of `upnp` and one per command, as `upnp-add.1`, `upnp-pinhole-open.1`.
    clap_mangen::generate_to(upnp_cli::command(), &man)?;
    let completions = out.join("completions");
    std::fs::create_dir_all(&completions)?;
    for shell in [
        Shell::Bash,
        Shell::Zsh,
        Shell::Fish,
        Shell::Elvish,
        Shell::PowerShell,
    ] {
        let path =
            clap_complete::generate_to(shell, &mut upnp_cli::command(), "upnp", &completions)?;
        println!("{}", path.display());
    }
    println!("{}", man.display());
    Ok(())
}
