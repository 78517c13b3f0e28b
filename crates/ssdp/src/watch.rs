//! Hearing one device's notifications, without sockets or a clock: the caller passes `now`.
//!
//! A device multicasts `NOTIFY` `ssdp:byebye` when it stops and `ssdp:alive` when it starts
//! (and every so often while it runs), with a `BOOTID.UPNP.ORG` that changes at every boot
//! (UDA 1.1, 1.2). A [`Watch`] follows one device, the one a client uses, and judges every
//! datagram heard on the group: only a NOTIFY whose source address is the device's, and whose
//! LOCATION or USN is the device's, counts; anything else is [`Ignored`]. What counts becomes
//! at most one [`Heard`] a second ([`MIN_INTERVAL`]): a flood from the device's address makes
//! no more work than one notification a second, and a change heard within the second after
//! another is not lost but handed out when the second is over ([`Watch::poll`]).
//!
//! ```
//! use std::time::{Duration, Instant};
//! use upnp_ssdp::watch::{Heard, Watch};
//!
//! let now = Instant::now();
//! let gateway: std::net::SocketAddr = "192.168.77.1:1900".parse().unwrap();
//! let mut watch = Watch::new(gateway.ip(), "http://192.168.77.1:5000/rootDesc.xml");
//! let alive = |boot: u32| format!(
//!     "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=120\r\n\
//!      LOCATION: http://192.168.77.1:5000/rootDesc.xml\r\nNT: upnp:rootdevice\r\n\
//!      NTS: ssdp:alive\r\nSERVER: Debian/12 UPnP/1.1 MiniUPnPd/2.3.1\r\n\
//!      USN: uuid:3d3cec3a::upnp:rootdevice\r\nBOOTID.UPNP.ORG: {boot}\r\n\r\n");
//! // The first alive tells the boot id; the next one with another is a restart.
//! assert!(watch.handle(gateway, alive(7).as_bytes(), now).is_err());
//! let later = now + Duration::from_secs(5);
//! assert_eq!(
//!     watch.handle(gateway, alive(8).as_bytes(), later).ok(),
//!     Some(Heard::Restarted { boot_id: Some(8) })
//! );
//! ```

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::message::{Message, Notify, NotifyKind};

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

/// At most one [`Heard`] in this long.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// Longest LOCATION or UUID a watch keeps.
const MAX_KEPT: usize = 512;

/// How long an `ssdp:alive` without `CACHE-CONTROL: max-age` holds (UDA's least
/// recommended max-age); a max-age given is taken within [`MIN_MAX_AGE`] to [`MAX_MAX_AGE`].
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(1800);

/// The shortest max-age taken (a device saying less is taken to say this much).
pub const MIN_MAX_AGE: Duration = Duration::from_secs(10);

/// The longest max-age taken: an advertisement holds a day at most.
pub const MAX_MAX_AGE: Duration = Duration::from_secs(86_400);

/// What a notification of the watched device says happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Heard {
    /// `ssdp:byebye`: the device is going away (stop asking it; it will say when it is
    /// back).
    Leaving,
    /// It started again: an `ssdp:alive` (or `ssdp:update`) with another boot id than the
    /// last one heard, or the first alive after a byebye. Its mappings may be gone.
    Restarted {
        /// Its new boot id, when it gives one.
        boot_id: Option<u32>,
    },
    /// It is there, at another description URL (another address or port): probe that
    /// description first.
    Moved {
        /// The new LOCATION (as received: show it escaped).
        location: String,
    },
}

/// Why a datagram heard changed nothing.
#[non_exhaustive]
#[derive(Debug)]
pub enum Ignored {
    /// Not from the device's address (another host, or a forgery from the LAN).
    OtherSource(IpAddr),
    /// Over [`crate::MAX_MESSAGE_SIZE`], not UTF-8, or malformed.
    Malformed(Error),
    /// Not a NOTIFY (an M-SEARCH, a search response).
    NotNotify,
    /// A NOTIFY of another device, or another device of the same host.
    OtherDevice,
    /// The device says what it said before (a periodic alive, a second byebye).
    Unchanged,
    /// A change heard within [`MIN_INTERVAL`] of the last one handed out: kept, and handed
    /// out by [`Watch::poll`] when the interval is over.
    TooSoon,
}

/// The state of one watched device, and the rate limit.
#[derive(Clone, Debug)]
pub struct Watch {
    source: IpAddr,
    location: String,
    uuid: Option<String>,
    boot_id: Option<u32>,
    leaving: bool,
    last_out: Option<Instant>,
    pending: Option<Heard>,
    advertised_until: Option<Instant>,
}

impl Watch {
    /// Watch the device at `source` whose description is at `location` (the SSDP LOCATION
    /// it was found with).
    pub fn new(source: IpAddr, location: &str) -> Watch {
        Watch {
            source,
            location: bounded(location),
            uuid: None,
            boot_id: None,
            leaving: false,
            last_out: None,
            pending: None,
            advertised_until: None,
        }
    }

    /// Know the device's UUID from the start (its description's `UDN`, `uuid:...`): a
    /// notification naming it counts even at another LOCATION before any alive was heard.
    pub fn with_uuid(mut self, uuid: &str) -> Watch {
        self.uuid = uuid_of(uuid).map(bounded);
        self
    }

    /// Know the device's boot id from the start (its search answer's `BOOTID.UPNP.ORG`): the
    /// first alive heard with another is a restart.
    pub fn with_boot_id(mut self, boot_id: u32) -> Watch {
        self.boot_id = Some(boot_id);
        self
    }

    /// The device's address.
    pub fn source(&self) -> IpAddr {
        self.source
    }

    /// Its description URL as last heard.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The boot id last heard, if any.
    pub fn boot_id(&self) -> Option<u32> {
        self.boot_id
    }

    /// Until when the device's last `ssdp:alive` holds (heard at `t`, it holds until `t` +
    /// its max-age): while it does, the device is known to be there and to say so, and a
    /// restart of it is heard. `None` before any alive, after a byebye, and (as the caller
    /// compares with its clock) once it has expired.
    pub fn advertised_until(&self) -> Option<Instant> {
        self.advertised_until
    }

    /// Judge a datagram from `from` heard at `now`.
    pub fn handle(
        &mut self,
        from: SocketAddr,
        datagram: &[u8],
        now: Instant,
    ) -> Result<Heard, Ignored> {
        if canonical(from.ip()) != canonical(self.source) {
            return Err(Ignored::OtherSource(from.ip()));
        }
        let notify = match Message::parse(datagram) {
            Ok(Message::Notify(notify)) => notify,
            Ok(_) => return Err(Ignored::NotNotify),
            Err(e) => return Err(Ignored::Malformed(e)),
        };
        let heard = self.judge(&notify, now)?;
        self.hand_out(heard, now)
    }

    /// A change kept for later ([`Ignored::TooSoon`]), once [`MIN_INTERVAL`] has passed
    /// since the last one handed out.
    pub fn poll(&mut self, now: Instant) -> Option<Heard> {
        let due = self.poll_timeout()?;
        if now < due {
            return None;
        }
        self.last_out = Some(now);
        self.pending.take()
    }

    /// When [`Watch::poll`] has something to hand out, if it has.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending.as_ref()?;
        // Something is kept only after something was handed out.
        let last = self.last_out?;
        Some(last.checked_add(MIN_INTERVAL).unwrap_or(last))
    }

    /// What `notify` means for the device, updating what is known of it.
    fn judge(&mut self, notify: &Notify, now: Instant) -> Result<Heard, Ignored> {
        let uuid = uuid_of(&notify.usn);
        let same_location = notify.location.as_deref() == Some(self.location.as_str());
        let same_uuid = match (uuid, self.uuid.as_deref()) {
            (Some(heard), Some(known)) => heard.eq_ignore_ascii_case(known),
            _ => false,
        };
        // A byebye names no LOCATION: before the device's UUID is learnt (from an alive at
        // its LOCATION), one from its address is taken as its own (at worst, one check more).
        let unknown_byebye = notify.kind == NotifyKind::ByeBye && self.uuid.is_none();
        if !same_location && !same_uuid && !unknown_byebye {
            return Err(Ignored::OtherDevice);
        }
        if same_location && self.uuid.is_none() {
            self.uuid = uuid.map(bounded);
        }
        match notify.kind {
            NotifyKind::ByeBye if self.leaving => Err(Ignored::Unchanged),
            NotifyKind::ByeBye => {
                self.leaving = true;
                self.advertised_until = None;
                Ok(Heard::Leaving)
            }
            NotifyKind::Alive | NotifyKind::Update => {
                let max_age = notify.max_age.map_or(DEFAULT_MAX_AGE, |age| {
                    Duration::from_secs(u64::from(age)).clamp(MIN_MAX_AGE, MAX_MAX_AGE)
                });
                self.advertised_until = now.checked_add(max_age).or(Some(now));
                let boot_id = match notify.kind {
                    NotifyKind::Update => notify.next_boot_id.or(notify.boot_id),
                    _ => notify.boot_id,
                };
                let rebooted =
                    self.boot_id.is_some() && boot_id.is_some() && boot_id != self.boot_id;
                let back = self.leaving;
                self.leaving = false;
                if boot_id.is_some() {
                    self.boot_id = boot_id;
                }
                let moved = match &notify.location {
                    Some(location) if !same_location => {
                        self.location = bounded(location);
                        Some(self.location.clone())
                    }
                    _ => None,
                };
                match (moved, rebooted || back) {
                    (Some(location), _) => Ok(Heard::Moved { location }),
                    (None, true) => Ok(Heard::Restarted { boot_id }),
                    (None, false) => Err(Ignored::Unchanged),
                }
            }
        }
    }

    /// Hand `heard` out now, or keep it for when the interval is over.
    fn hand_out(&mut self, heard: Heard, now: Instant) -> Result<Heard, Ignored> {
        let ready = self
            .last_out
            .and_then(|t| t.checked_add(MIN_INTERVAL))
            .is_none_or(|due| now >= due);
        if ready {
            self.last_out = Some(now);
            self.pending = None;
            return Ok(heard);
        }
        // The latest wins, except that a restart or a move is never replaced by a byebye:
        // what happened is checked all the same.
        let keep_old = matches!(heard, Heard::Leaving) && self.pending.is_some();
        if !keep_old {
            self.pending = Some(heard);
        }
        Err(Ignored::TooSoon)
    }
}

/// `uuid:...` of a USN (`uuid:X::urn:...`, or `uuid:X` alone).
fn uuid_of(usn: &str) -> Option<&str> {
    let uuid = usn.split("::").next()?.trim();
    uuid.to_ascii_lowercase()
        .starts_with("uuid:")
        .then_some(uuid)
        .filter(|u| u.len() > 5)
}

fn bounded(text: &str) -> String {
    let mut end = text.len().min(MAX_KEPT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default().to_owned()
}

/// An IPv4-mapped IPv6 source (a dual-stack socket) is its IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}
