//! The one contract of every operation of this crate: a machine with no I/O, driven by a loop
//! that performs the I/O it asks for. No socket, no clock here (time is passed in).
//!
//! In the style of str0m and quinn-proto: drain [`Machine::poll`] until it says when to wake.
//! Each output is one of four things:
//!
//! - [`Output::Start`]: start this [`Io`] (it carries its own deadline where it has one); its
//!   completion goes back to [`Machine::handle`] as [`Input::Completed`] with the same
//!   [`Token`]. Several may be in flight at once (a discovery probes devices while its search
//!   goes on); a driver may run them in any order.
//! - [`Output::Event`]: something for the caller (a keeper's events).
//! - [`Output::Wait`]: nothing to start until then, unless an input arrives. Poll again at that
//!   instant (time passing is how a machine learns that something timed out).
//! - [`Output::Done`]: the operation's value, or why it failed. Poll no more.
//!
//! The I/O a driver performs is small and fixed: an SSDP search, an HTTP GET of a description,
//! one SOAP call, our address towards a host, opening a PCP/NAT-PMP client, one PCP/NAT-PMP
//! exchange through it, listening for its announcements. No output ever asks a driver to run a
//! whole operation. [`crate::blocking`] and `tokio` are such drivers, one loop each; a game
//! engine's own loop or another runtime can be one too (`examples/driver.rs`).
//!
//! A driver that meets an [`Io`] it does not know (the enum grows) ends the operation with
//! an error of its own. A completion whose token the machine does not wait for is ignored, so
//! late answers of abandoned I/O are harmless.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use upnp_soap::{ActionRequest, ActionResponse};
use upnp_ssdp::SearchOptions;
use url::Url;

use crate::error::Error;
use crate::pmp::{Target, Way};

#[cfg(test)]
mod tests;

/// Which I/O a completion belongs to. Opaque to drivers: hand back the one given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Token(u64);

impl Token {
    /// A token of a machine's own (`n` counts its I/O).
    pub(crate) fn new(n: u16) -> Token {
        Token(u64::from(n))
    }

    /// A child machine's token, as its parent names it: tagged with which child (`tag`).
    pub(crate) fn within(self, tag: u16) -> Token {
        Token((self.0 << 16) | u64::from(tag))
    }

    /// The child tag and the child's own token.
    pub(crate) fn split(self) -> (u16, Token) {
        let tag = u16::try_from(self.0 & 0xFFFF).unwrap_or(u16::MAX);
        (tag, Token(self.0 >> 16))
    }
}

/// Where our own address is asked for.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteTo {
    /// Towards the host of this URL (a name is resolved by the system's resolver).
    Host(Url),
    /// Towards the IPv6 Internet: our global IPv6 address, where we have one.
    Internet6,
    /// Not our address: the IPv4 default gateway's, from the routing table (where a search
    /// also sends its M-SEARCHes by unicast).
    Gateway,
    /// Not our address: the IPv6 default gateway's, with its scope when it is link-local
    /// (what an IPv6 search sends its M-SEARCHes to by unicast): [`Completed::Gateway6`].
    Gateway6,
    /// Not our address: the router `distance` hops away towards the IPv4 Internet (one UDP
    /// datagram sent with that TTL to a documentation address, RFC 5737, which it never
    /// reaches; the ICMP time exceeded names the router where it died), by `deadline`:
    /// [`Completed::Routed`], `None` when nothing answered in time or the platform does not
    /// tell (Linux tells an unprivileged socket: `IP_RECVERR`).
    Hop {
        /// How many routers away (1: our gateway).
        distance: u8,
        /// When to stop waiting.
        deadline: Instant,
    },
}

/// An I/O for a driver to perform.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Io {
    /// Run an SSDP search (`upnp_ssdp::net::Searcher`): hand each answer back as
    /// [`Input::Answer`] and its end as [`Completed::Searched`]. It ends by its own timeout.
    Search(SearchOptions),
    /// GET a device description (at most 256 KiB) by `deadline`: [`Completed::Fetched`].
    Fetch {
        /// The description URL.
        url: Url,
        /// When the exchange must be over.
        deadline: Instant,
    },
    /// POST one SOAP action by `deadline`: [`Completed::Called`].
    Call {
        /// The control URL.
        url: Url,
        /// The action.
        request: ActionRequest,
        /// When the exchange must be over.
        deadline: Instant,
    },
    /// Our address on the route there (a connected UDP socket, no packet sent):
    /// [`Completed::Routed`].
    Route(RouteTo),
    /// Open a PCP/NAT-PMP client (a UDP socket connected to the gateway's port 5351) towards
    /// the gateway `target` names, speaking `way`, replacing the one open before:
    /// [`Completed::Opened`].
    OpenPmp {
        /// Which gateway.
        target: Target,
        /// PCP or NAT-PMP (NAT-PMP is IPv4 only).
        way: Way,
    },
    /// One PCP/NAT-PMP exchange through the client opened last (a
    /// [`pcp_natpmp::Exchange`], retransmitting on its schedule) by `deadline`:
    /// [`Completed::Exchanged`].
    Exchange {
        /// The request.
        request: pcp_natpmp::Request,
        /// When the exchange must be over.
        deadline: Instant,
    },
    /// One STUN transaction (RFC 5389, over UDP): from a socket bound to `bind`, send
    /// `request` to `server`, again after 500 ms, then after twice as long each time
    /// ([`crate::reach::resend_after`]), until a datagram comes back (from `server`'s
    /// address, or from anywhere when `from_any`: an answer from the server's other
    /// address) or `deadline`: [`Completed::Stunned`].
    Stun {
        /// Our address and port to send from (the mapped port).
        bind: SocketAddr,
        /// The STUN server.
        server: SocketAddr,
        /// The request's bytes.
        request: Vec<u8>,
        /// Take a datagram from any address, not only the server's.
        from_any: bool,
        /// When the transaction must be over.
        deadline: Instant,
    },
    /// Listen for this gateway's announcements (UDP 5350) from now on, in place of any
    /// gateway listened to before; hand each as [`Input::Heard`]. Completes only when it
    /// cannot hear ([`Completed::Deaf`]: the port cannot be had): the machine does not
    /// depend on it.
    Listen(IpAddr),
    /// Hear the SSDP group (239.255.255.250:1900, or the IPv6 groups when `interface` is an
    /// IPv6 address: [`upnp_ssdp::net::Listener::open`]) on the interface holding
    /// `interface` from now on, in place of any
    /// listened to before; hand each datagram whose source address is `gateway` as
    /// [`Input::Notified`]. Completes only when it cannot hear ([`Completed::Deaf`]: another
    /// program holds the port, no multicast there): the machine polls its gateway as it
    /// would anyway.
    Notifications {
        /// Whose datagrams to hand over.
        gateway: IpAddr,
        /// Our address on the LAN of the gateway.
        interface: IpAddr,
    },
}

/// How an [`Io`] ended.
#[non_exhaustive]
#[derive(Debug)]
pub enum Completed {
    /// The search is over: `Ok` at its deadline, or its socket failed.
    Searched(Result<(), upnp_ssdp::Error>),
    /// The description's bytes, or why none.
    Fetched(Result<Vec<u8>, upnp_soap::Error>),
    /// The action's response (a fault is an error), or why none.
    Called(Result<ActionResponse, upnp_soap::Error>),
    /// Our address, `None` when there is no route (for [`RouteTo::Gateway`]: the default
    /// gateway's address, `None` when there is none).
    Routed(Option<IpAddr>),
    /// The IPv6 default gateway ([`RouteTo::Gateway6`]; the port is 0), `None` when there
    /// is none.
    Gateway6(Option<std::net::SocketAddrV6>),
    /// The client's local address and the gateway's, or why it could not be opened.
    Opened(Result<(SocketAddr, SocketAddr), Error>),
    /// The gateway's answer, or why none.
    Exchanged(Result<pcp_natpmp::Response, pcp_natpmp::Error>),
    /// The first datagram that came back ([`Io::Stun`]; at most
    /// [`crate::reach::MAX_ANSWER`] + 1 bytes) and where from, or why none (`TimedOut`:
    /// nothing came in time; a socket error, e.g. the port is held by another program).
    Stunned(Result<(SocketAddr, Vec<u8>), std::io::Error>),
    /// A listener ([`Io::Listen`], [`Io::Notifications`]) cannot hear, or stopped hearing:
    /// nothing more comes from it.
    Deaf(Error),
}

/// What a driver hands a machine.
#[non_exhaustive]
#[derive(Debug)]
pub enum Input {
    /// An I/O ended.
    Completed(Token, Completed),
    /// An answer of the search started with this token.
    Answer(Token, upnp_ssdp::search::Response),
    /// An announcement from the gateway listened to ([`Io::Listen`]).
    Heard(pcp_natpmp::Announcement),
    /// A datagram heard on the SSDP group from the gateway ([`Io::Notifications`]): judged
    /// by the machine ([`upnp_ssdp::watch::Watch`]).
    Notified {
        /// Its source address and port.
        from: SocketAddr,
        /// Its bytes (at most [`upnp_ssdp::MAX_MESSAGE_SIZE`] + 1).
        datagram: Vec<u8>,
    },
    /// The caller asks the operation to stop (a keeper removes what it made, then is done).
    Stop,
}

impl Input {
    /// A datagram heard on the SSDP group ([`Input::Notified`]).
    #[cfg(any(feature = "blocking", feature = "tokio"))]
    pub(crate) fn notified(from: SocketAddr, datagram: &[u8]) -> Input {
        let datagram = datagram.to_vec();
        Input::Notified { from, datagram }
    }

    /// For a parent machine: which child an input with a token is for (the tag its token
    /// was given with [`Token::within`]) and the input as the child named it; any other
    /// input as it is, with no tag.
    pub(crate) fn for_child(self) -> (Option<u16>, Input) {
        match self {
            Input::Completed(token, completed) => {
                let (tag, inner) = token.split();
                (Some(tag), Input::Completed(inner, completed))
            }
            Input::Answer(token, answer) => {
                let (tag, inner) = token.split();
                (Some(tag), Input::Answer(inner, answer))
            }
            other => (None, other),
        }
    }
}

/// What a machine asks of its driver next.
#[non_exhaustive]
#[derive(Debug)]
pub enum Output<T, E> {
    /// Start this I/O; hand its completion back with this token.
    Start(Token, Io),
    /// Deliver this to the caller.
    Event(E),
    /// Nothing to start until this instant, unless an input arrives; then poll again.
    Wait(Instant),
    /// Over: the value, or why it failed.
    Done(Result<T, Error>),
}

impl<T, E> Output<T, E> {
    /// The instant of a [`Output::Wait`].
    #[cfg(test)]
    pub(crate) fn wait(&self) -> Option<Instant> {
        match self {
            Output::Wait(at) => Some(*at),
            _ => None,
        }
    }
}

/// An operation of this crate, sans I/O.
pub trait Machine {
    /// What it ends with.
    type Value;
    /// What it tells the caller on the way (`Infallible` for one-shot operations).
    type Event;

    /// The next output at `now`. After [`Output::Done`], polling again is a misuse
    /// ([`Error::Misuse`]).
    fn poll(&mut self, now: Instant) -> Output<Self::Value, Self::Event>;

    /// An input, at `now`.
    fn handle(&mut self, input: Input, now: Instant);
}

/// The I/O a one-at-a-time machine waits for: its token, fresh for each I/O so that a late
/// completion of an abandoned one is told apart.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    count: u16,
    waiting: Option<Token>,
}

impl Pending {
    /// A token for a new I/O, now the one waited for.
    pub(crate) fn start(&mut self) -> Token {
        self.count = self.count.wrapping_add(1);
        let token = Token::new(self.count);
        self.waiting = Some(token);
        token
    }

    /// Whether `token` is the one waited for (it is not any more).
    pub(crate) fn take(&mut self, token: Token) -> bool {
        if self.waiting == Some(token) {
            self.waiting = None;
            return true;
        }
        false
    }

    /// Whether an I/O is out.
    pub(crate) fn is_waiting(&self) -> bool {
        self.waiting.is_some()
    }

    /// Stop waiting (its completion will be ignored).
    pub(crate) fn forget(&mut self) {
        self.waiting = None;
    }
}

/// Inputs waiting for a driver's loop, at most (both drivers): senders of completions wait
/// for room, announcements past it are dropped.
#[cfg(any(feature = "blocking", feature = "tokio"))]
pub(crate) const INBOX: usize = 64;

/// What a machine polled after it was done answers.
pub(crate) fn polled_after_done<T, E>() -> Output<T, E> {
    Output::Done(Err(Error::Misuse("polled after it was done")))
}
