//! The CLI's files (the gateway cache, the pinhole record): read as untrusted input with a
//! size limit, written owner-only and whole (a temporary file renamed over the old one).

use std::fs;
use std::io::{Read, Write};
use std::path::Path;

/// The file's text, if it exists, is at most `max` bytes and is UTF-8.
pub(crate) fn read_bounded(path: &Path, max: u64) -> Option<String> {
    let file = fs::File::open(path).ok()?;
    let mut text = String::new();
    // One byte more than allowed tells a file that is too large from one that fits.
    file.take(max.saturating_add(1))
        .read_to_string(&mut text)
        .ok()?;
    (u64::try_from(text.len()).ok()? <= max).then_some(text)
}

/// Write `text` to `path`, readable by its owner only (the directory too, when made): into
/// a temporary file beside it, then renamed, so a reader never sees half a file and an
/// old file's permissions are not kept.
pub(crate) fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("no directory"))?;
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)?;
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("no file name"))?;
    let temporary = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options
        .open(&temporary)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .and_then(|()| fs::rename(&temporary, path));
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_written_is_owner_only_and_read_back_within_its_limit() {
        let dir = std::env::temp_dir().join(format!("upnp-store-test-{}", std::process::id()));
        let path = dir.join("sub").join("f.json");
        write_private(&path, "{\"a\":1}").unwrap();
        assert_eq!(read_bounded(&path, 7).as_deref(), Some("{\"a\":1}"));
        assert_eq!(read_bounded(&path, 6), None, "one byte too large");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let mode = fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700);
            // An old file open to others is replaced, not kept with its permissions.
            fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).unwrap();
            write_private(&path, "x").unwrap();
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(read_bounded(&dir.join("none"), 10), None);
        let _ = fs::remove_dir_all(&dir);
    }
}
