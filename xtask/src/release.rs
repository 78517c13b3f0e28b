//! `cargo xtask release VERSION [--publish]`: one version for every crate of the workspace.
//!
//! 1. Refuse a dirty tree (what is released is what is committed), a version that is not
//!    `MAJOR.MINOR.PATCH[-PRE]`, one the CHANGELOG already has, or an empty unreleased section.
//! 2. Set the version: `[workspace.package] version` and every inter-crate requirement in
//!    `[workspace.dependencies]`; move the CHANGELOG's unreleased section under the version.
//! 3. Run the tests that need no lab (`cargo test --workspace --exclude lab-tests --all-features`).
//! 4. Package every crate in dependency order, each built from its packaged form
//!    (`cargo package --workspace`).
//! 5. With `--publish` only: commit, publish bottom-up (`cargo publish --workspace`) and tag
//!    `vVERSION`. Without it (the dry run, which CI runs), steps 2 to 4 happen in a throwaway
//!    worktree and nothing leaves the machine; the tree is left as it was. `--next` is the
//!    dry run of the next minor version, whatever it is (what CI runs).

use std::fs;
use std::path::{Path, PathBuf};

use crate::cmd::{self, Result};

pub fn run(args: &[&str]) -> Result {
    let next;
    let (version, publish) = match args {
        // CI's dry run: whatever the next minor version will be.
        ["--next"] => {
            next = next_minor(&read(&cmd::root().join("Cargo.toml"))?)?;
            (next.as_str(), false)
        }
        [version] => (*version, false),
        [version, "--publish"] | ["--publish", version] => (*version, true),
        _ => return Err("usage: cargo xtask release VERSION [--publish] | --next".into()),
    };
    check_version(version)?;
    let root = cmd::root();
    step("the tree is clean", || clean(&root))?;
    if publish {
        release_in(&root, version)?;
        step("commit", || {
            let message = format!("Release {version}");
            cmd::run(&mut cmd::new("git", &["commit", "-am", &message]))
        })?;
        step("publish, bottom-up", || {
            cmd::run(&mut cargo(
                &root,
                &[
                    "publish",
                    "--workspace",
                    "--exclude",
                    "xtask",
                    "--exclude",
                    "lab-tests",
                ],
            ))
        })?;
        let tag = format!("v{version}");
        step("tag", || cmd::run(&mut cmd::new("git", &["tag", &tag])))?;
        eprintln!("\nreleased {version}: push the commit and the tag `{tag}`");
        return Ok(());
    }
    // The dry run: the same steps in a worktree of HEAD, removed afterwards.
    let worktree = std::env::temp_dir().join(format!("xtask-release-{}", std::process::id()));
    let path = worktree.display().to_string();
    cmd::run(&mut cmd::new(
        "git",
        &["worktree", "add", "--detach", &path, "HEAD"],
    ))?;
    let result = release_in(&worktree, version);
    let _ = cmd::output(&mut cmd::new(
        "git",
        &["worktree", "remove", "--force", &path],
    ));
    result?;
    eprintln!(
        "\ndry run of {version} done: every crate packages and builds; nothing was published \
         (`--publish` does)"
    );
    Ok(())
}

/// Steps 2 to 4 in the checkout at `root`.
fn release_in(root: &Path, version: &str) -> Result {
    step("set the version", || {
        let manifest = root.join("Cargo.toml");
        let text = read(&manifest)?;
        write(&manifest, &set_version(&text, version)?)
    })?;
    step("move the CHANGELOG's unreleased section", || {
        let changelog = root.join("CHANGELOG.md");
        let text = read(&changelog)?;
        write(&changelog, &move_unreleased(&text, version, &today())?)
    })?;
    step("tests that need no lab", || {
        cmd::run(&mut cargo(
            root,
            &[
                "test",
                "--workspace",
                "--exclude",
                "lab-tests",
                "--all-features",
            ],
        ))
    })?;
    step("forget what earlier dry runs unpacked", || {
        forget_unpacked(root, version)
    })?;
    step("package every crate, each built from its package", || {
        // The version bump changed Cargo.toml: `--allow-dirty` for that alone (step 1
        // checked the tree was clean before).
        cmd::run(&mut cargo(
            root,
            &[
                "package",
                "--workspace",
                "--allow-dirty",
                "--exclude",
                "xtask",
                "--exclude",
                "lab-tests",
            ],
        ))
    })
}

/// Removes the sources an earlier `cargo package --workspace` unpacked for our own crates at
/// `version`.
///
/// To build a crate from its package, cargo "publishes" the crates it depends on to a temporary
/// local registry overlaid on crates.io and unpacks them under
/// `$CARGO_HOME/registry/src/-HASH/NAME-VERSION` (a registry without a name, hence the leading
/// dash). It unpacks a `NAME-VERSION` only once: a directory left by an earlier dry run of the
/// same version (every dry run packages the next minor version, and the hash depends only on
/// the target directory's path, which a CI checkout reuses) would be built instead of today's
/// package, so a crate would be verified against yesterday's code of the crate below it.
/// (CI failed this way once: pcp-natpmp built from an unpacked copy that still used a
/// dependency the workspace had dropped.)
fn forget_unpacked(root: &Path, version: &str) -> Result {
    let crates = crate_names(root)?;
    let Some(src) = cargo_home().map(|home| home.join("registry").join("src")) else {
        return Ok(());
    };
    let Ok(registries) = fs::read_dir(&src) else {
        return Ok(()); // nothing unpacked yet
    };
    for registry in registries.flatten() {
        let name = registry.file_name().to_string_lossy().into_owned();
        for dir in stale_unpacked(&name, &crates, version) {
            let path = registry.path().join(dir);
            if path.exists() {
                eprintln!("removing {}", path.display());
                fs::remove_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
    }
    Ok(())
}

/// The directories under `registry/src/REGISTRY` that are our crates unpacked at `version` by
/// cargo's temporary overlay: none unless the registry has no name (crates.io's own unpacked
/// crates are never touched).
pub fn stale_unpacked(registry: &str, crates: &[String], version: &str) -> Vec<String> {
    if !registry.starts_with('-') {
        return Vec::new();
    }
    crates
        .iter()
        .map(|name| format!("{name}-{version}"))
        .collect()
}

/// The package names of the crates under `crates/`.
fn crate_names(root: &Path) -> Result<Vec<String>> {
    let dir = root.join("crates");
    let entries = fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut names = Vec::new();
    for entry in entries.flatten() {
        let manifest = entry.path().join("Cargo.toml");
        if manifest.is_file() {
            names.extend(package_name(&read(&manifest)?));
        }
    }
    Ok(names)
}

/// The `name` of a manifest's `[package]` section.
pub fn package_name(manifest: &str) -> Option<String> {
    let package = manifest.split("[package]").nth(1)?;
    package
        .lines()
        .take_while(|l| !l.trim_start().starts_with('['))
        .find(|l| l.trim_start().starts_with("name") && l.contains('='))
        .and_then(|l| l.split('"').nth(1))
        .map(str::to_owned)
}

/// `$CARGO_HOME`, else `~/.cargo`.
fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
}

fn step<T>(name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    eprintln!("\n== release: {name}");
    f().map_err(|e| format!("release: {name}: {e}"))
}

/// Cargo in `root`, with the workspace's own target directory (builds are shared with the
/// checkout's).
fn cargo(root: &Path, args: &[&str]) -> std::process::Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut c = cmd::new(&cargo, args);
    c.current_dir(root);
    c.env("CARGO_TARGET_DIR", target_dir());
    c
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| cmd::root().join("target"))
}

fn clean(root: &Path) -> Result {
    let mut status = cmd::new("git", &["status", "--porcelain"]);
    status.current_dir(root);
    let dirty = cmd::output(&mut status)?;
    if dirty.trim().is_empty() {
        Ok(())
    } else {
        Err(format!("commit or stash first:\n{dirty}"))
    }
}

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn write(path: &Path, text: &str) -> Result {
    fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// `MAJOR.MINOR.PATCH`, optionally `-PRE` (dot-separated ASCII alphanumerics and hyphens).
pub fn check_version(version: &str) -> Result {
    let (core, pre) = match version.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (version, None),
    };
    let numbers: Vec<&str> = core.split('.').collect();
    let numeric = |n: &&str| {
        !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
            && (n.len() == 1 || !n.starts_with('0'))
    };
    let pre_ok = pre.is_none_or(|pre| {
        pre.split('.')
            .all(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    });
    if numbers.len() == 3 && numbers.iter().all(numeric) && pre_ok {
        Ok(())
    } else {
        Err(format!(
            "`{version}` is not a version (MAJOR.MINOR.PATCH[-PRE])"
        ))
    }
}

/// The minor version after the workspace's: `0.1.3` gives `0.2.0`.
pub fn next_minor(manifest: &str) -> Result<String> {
    let current = manifest
        .split("[workspace.package]")
        .nth(1)
        .and_then(|package| {
            package
                .lines()
                .find(|l| l.trim_start().starts_with("version"))
        })
        .and_then(|line| line.split('"').nth(1))
        .ok_or("no `version` in [workspace.package]")?;
    let mut parts = current.split(['.', '-']);
    let major: u64 = parts
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or("a bad version")?;
    let minor: u64 = parts
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or("a bad version")?;
    Ok(format!("{major}.{}.0", minor + 1))
}

/// The workspace manifest with `version` as the workspace's version and as the requirement of
/// every workspace crate on another (the entries with a `path`).
pub fn set_version(manifest: &str, version: &str) -> Result<String> {
    let mut section = "";
    let mut set_package = false;
    let mut out = String::with_capacity(manifest.len());
    for line in manifest.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            section = match trimmed {
                "[workspace.package]" => "package",
                "[workspace.dependencies]" => "dependencies",
                _ => "",
            };
        }
        let replaced = match section {
            "package" if trimmed.starts_with("version") && trimmed.contains('=') => {
                set_package = true;
                Some(format!("version = \"{version}\"\n"))
            }
            "dependencies" if trimmed.contains("path = ") => Some(with_requirement(line, version)?),
            _ => None,
        };
        out.push_str(replaced.as_deref().unwrap_or(line));
    }
    if set_package {
        Ok(out)
    } else {
        Err("no `version` in [workspace.package]".into())
    }
}

/// `name = { path = "...", version = "OLD", ... }` with `version = "NEW"`.
fn with_requirement(line: &str, version: &str) -> Result<String> {
    let key = "version = \"";
    let start = line
        .find(key)
        .ok_or_else(|| format!("a workspace crate without a version requirement: {line}"))?
        + key.len();
    let end = line[start..]
        .find('"')
        .map(|n| start + n)
        .ok_or_else(|| format!("an unterminated version: {line}"))?;
    Ok(format!("{}{version}{}", &line[..start], &line[end..]))
}

const UNRELEASED: &str = "## [Unreleased]";

/// The changelog with what was under "Unreleased" moved under `## [VERSION] - DATE`, and an
/// empty "Unreleased" above it.
pub fn move_unreleased(changelog: &str, version: &str, date: &str) -> Result<String> {
    if changelog.contains(&format!("## [{version}]")) {
        return Err(format!("the CHANGELOG has a section for {version} already"));
    }
    let start = changelog
        .find(UNRELEASED)
        .ok_or("the CHANGELOG has no `## [Unreleased]` section")?;
    let body_start = start + UNRELEASED.len();
    let body_end = changelog[body_start..]
        .find("\n## [")
        .map_or(changelog.len(), |n| body_start + n + 1);
    let body = changelog[body_start..body_end].trim();
    if body.is_empty() {
        return Err("nothing under `## [Unreleased]`: nothing to release".into());
    }
    Ok(format!(
        "{}{UNRELEASED}\n\n## [{version}] - {date}\n\n{body}\n{}{}",
        &changelog[..start],
        if body_end < changelog.len() { "\n" } else { "" },
        &changelog[body_end..],
    ))
}

/// Today's date (UTC) as YYYY-MM-DD.
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    civil_date(secs / 86_400)
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_date(days: u64) -> String {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_overlays_unpacked_crates_are_forgotten() {
        let crates = vec!["upnp-ssdp".to_owned(), "pcp-natpmp".to_owned()];
        assert_eq!(
            stale_unpacked("-22c3805da5a543b4", &crates, "0.2.0"),
            ["upnp-ssdp-0.2.0", "pcp-natpmp-0.2.0"]
        );
        assert!(stale_unpacked("index.crates.io-1949cf8c6b5b557f", &crates, "0.2.0").is_empty());
    }

    #[test]
    fn the_package_name_is_the_package_sections() {
        let manifest = "[package]\nname = \"upnp-igd\"\nversion.workspace = true\n\n\
                        [[example]]\nname = \"keep\"\n";
        assert_eq!(package_name(manifest).as_deref(), Some("upnp-igd"));
        assert_eq!(package_name("[[bin]]\nname = \"upnp\"\n"), None);
        assert_eq!(
            package_name("[package]\nversion = \"1\"\n[lib]\nname = \"x\"\n"),
            None
        );
    }

    #[test]
    fn versions_are_checked() {
        for good in ["0.2.0", "1.0.0", "10.20.30", "1.0.0-rc.1", "0.2.0-alpha-2"] {
            assert!(check_version(good).is_ok(), "{good}");
        }
        for bad in [
            "0.2",
            "v0.2.0",
            "0.2.0.1",
            "01.2.3",
            "1.2.x",
            "1.0.0-",
            "1.0.0-a..b",
            "",
        ] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_version_is_set_in_the_workspace_and_its_requirements_only() {
        let manifest = "[workspace]\nmembers = [\"crates/*\"]\n\n[workspace.package]\n\
            version = \"0.1.0\"\nedition = \"2024\"\n\n[workspace.dependencies]\n\
            pcp-natpmp = { path = \"crates/pcp\", version = \"0.1.0\", default-features = false }\n\
            thiserror = \"2\"\ntokio = { version = \"1\", default-features = false }\n";
        let set = set_version(manifest, "0.2.0").unwrap();
        assert!(set.contains("[workspace.package]\nversion = \"0.2.0\"\n"));
        assert!(set.contains(
            "pcp-natpmp = { path = \"crates/pcp\", version = \"0.2.0\", default-features = false }"
        ));
        assert!(set.contains("thiserror = \"2\"\ntokio = { version = \"1\""));
        let unversioned = "[workspace.package]\nversion = \"0.1.0\"\n[workspace.dependencies]\n\
            a = { path = \"crates/a\" }\n";
        assert!(set_version(unversioned, "0.2.0").is_err());
    }

    #[test]
    fn the_unreleased_section_moves_under_the_version() {
        let changelog = "# Changelog\n\nIntro.\n\n## [Unreleased]\n\n### Added\n- a thing\n\n\
            ## [0.1.0] - 2026-01-01\n\n- the first\n";
        let moved = move_unreleased(changelog, "0.2.0", "2026-11-23").unwrap();
        assert_eq!(
            moved,
            "# Changelog\n\nIntro.\n\n## [Unreleased]\n\n## [0.2.0] - 2026-11-23\n\n\
             ### Added\n- a thing\n\n## [0.1.0] - 2026-01-01\n\n- the first\n"
        );
        let last = "# Changelog\n\n## [Unreleased]\n\n- only\n";
        assert_eq!(
            move_unreleased(last, "0.1.0", "2026-11-23").unwrap(),
            "# Changelog\n\n## [Unreleased]\n\n## [0.1.0] - 2026-11-23\n\n- only\n"
        );
        assert!(move_unreleased(&moved, "0.2.0", "2026-11-24").is_err());
        assert!(
            move_unreleased(&moved, "0.3.0", "2026-11-24").is_err(),
            "empty"
        );
        assert!(move_unreleased("# Changelog\n", "0.3.0", "2026-11-24").is_err());
    }

    #[test]
    fn the_next_minor_version_follows_the_workspaces() {
        let manifest = "[workspace.package]\nversion = \"0.1.3\"\n";
        assert_eq!(next_minor(manifest).unwrap(), "0.2.0");
        assert!(next_minor("[package]\nversion = \"1.0.0\"\n").is_err());
    }

    #[test]
    fn dates_are_civil() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(20_415), "2025-11-23");
        assert_eq!(civil_date(11_016), "2000-02-29");
    }
}
