//! The last gateway found, kept in the user's cache directory (`$XDG_CACHE_HOME/upnp/gateway.json`
//! on Linux) so that the next command does not search again: it checks the gateway with one
//! exchange (`Upnp::revalidate`) and searches only when that fails. `--no-cache` skips it.
//!
//! The file is untrusted input: read up to [`MAX_CACHE_BYTES`], its version and the
//! interface it was found from must match, and the saved URLs pass the same checks as a
//! description's before anything is sent. It is written owner-only.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use upnp_igd::Device;

use crate::store;

/// The file's size, at most: a larger one is not read.
pub(crate) const MAX_CACHE_BYTES: u64 = 16 * 1024;

/// The file's format version.
const VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    version: u32,
    /// The `--interface` it was found from (a gateway found from one interface says nothing
    /// of another's).
    interface: Option<String>,
    device: Device,
}

/// Where the cache lives.
fn path() -> Option<PathBuf> {
    dirs::cache_dir().map(|dir| dir.join("upnp").join("gateway.json"))
}

/// The gateway saved for `interface`, if a readable one is.
pub(crate) fn load(interface: Option<&str>) -> Option<Device> {
    parse(&store::read_bounded(&path()?, MAX_CACHE_BYTES)?, interface)
}

fn parse(text: &str, interface: Option<&str>) -> Option<Device> {
    let entry: Entry = serde_json::from_str(text).ok()?;
    (entry.version == VERSION && entry.interface.as_deref() == interface).then_some(entry.device)
}

/// Save the gateway found; a failure is said on stderr, not fatal.
pub(crate) fn save(interface: Option<&str>, device: &Device) {
    let Some(path) = path() else {
        return;
    };
    let entry = Entry {
        version: VERSION,
        interface: interface.map(str::to_owned),
        device: device.clone(),
    };
    let written = serde_json::to_string(&entry)
        .map_err(std::io::Error::other)
        .and_then(|text| store::write_private(&path, &text));
    if let Err(e) = written {
        eprintln!("upnp: cannot cache the gateway in {}: {e}", path.display());
    }
}

/// Forget the saved gateway (it failed its check).
pub(crate) fn forget() {
    if let Some(path) = path() {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> Device {
        let mut device = Device::new("http://192.168.77.1:5000/rootDesc.xml", "upnp:rootdevice");
        device.igd_control_url = "http://192.168.77.1:5000/ctl/IPConn".into();
        device.igd_service_type = "urn:schemas-upnp-org:service:WANIPConnection:2".into();
        device
    }

    #[test]
    fn an_entry_reads_back_only_for_its_interface_and_version() {
        let entry = Entry {
            version: VERSION,
            interface: Some("eth0".into()),
            device: device(),
        };
        let text = serde_json::to_string(&entry).unwrap();
        assert_eq!(parse(&text, Some("eth0")), Some(device()));
        assert_eq!(parse(&text, None), None);
        assert_eq!(parse(&text, Some("wlan0")), None);
        let newer = text.replace("\"version\":1", "\"version\":2");
        assert_eq!(parse(&newer, Some("eth0")), None);
    }

    #[test]
    fn a_damaged_file_is_no_gateway() {
        for text in ["", "{", "[]", "null", "{\"version\":1}", "\u{feff}{}"] {
            assert_eq!(parse(text, None), None, "{text:?}");
        }
    }
}
