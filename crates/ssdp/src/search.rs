//! The logic of a search, without sockets or a clock: the caller passes `now` in.
//!
//! A [`Search`] says which datagrams to send and when ([`Search::poll_transmit`],
//! [`Search::poll_timeout`]), and judges every datagram received ([`Search::handle`]): too
//! large, not UTF-8, malformed, not a response, a duplicate or late, it is [`Ignored`] and the
//! search goes on. One deadline, fixed at the start, bounds the whole search: no datagram can
//! extend it. [`crate::net::Searcher`] drives a `Search` with a blocking socket; an async
//! driver drives the same type.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::message::{MAX_MESSAGE_SIZE, MSearch, Message, SearchResponse, SearchTarget};

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

/// How many distinct responses one search keeps track of; further new ones are
/// [`Ignored::TooMany`], so a flood of forged responses cannot grow memory without bound.
pub const MAX_RESPONSES: usize = 512;

/// How many distinct responses one search takes from one address; further new ones from it
/// are [`Ignored::TooManyFromSource`], so that one host flooding forged answers cannot push
/// out another's. A real device gives a handful (one per search target it matches).
pub const MAX_RESPONSES_PER_SOURCE: usize = 32;

/// What to search for and how long: everything of a search but the socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchRequest {
    /// The search targets; one M-SEARCH is sent for each.
    pub targets: Vec<SearchTarget>,
    /// The `HOST` header: the multicast group, or the device for a unicast search.
    pub host: SocketAddr,
    /// The whole search's duration, from its start. Responses after it are not waited for.
    pub timeout: Duration,
    /// The `MX` header, in seconds (1..=5 per UDA). `None` omits it (unicast searches).
    pub mx: Option<u8>,
    /// How many rounds of M-SEARCHes are sent (UDP loses packets), spread over the first half
    /// of the timeout. At least one is always sent while the search is running.
    pub sends: u8,
    /// How many of the targets, the first ones, make up the first round: those most likely to
    /// be answered. Every later round sends every target while no response has been
    /// accepted, and only these once one has (resends for answers lost, without asking the
    /// devices that answered for more). 0, or as many as there are targets: every target in
    /// every round.
    pub leading: usize,
    /// The `USER-AGENT` header.
    pub user_agent: Option<String>,
}

impl SearchRequest {
    /// A request with the defaults: MX from the timeout, three rounds of every target, our
    /// user agent.
    pub fn new(targets: Vec<SearchTarget>, host: SocketAddr, timeout: Duration) -> Self {
        SearchRequest {
            targets,
            host,
            timeout,
            mx: Some(default_mx(timeout)),
            sends: 3,
            leading: 0,
            user_agent: Some(default_user_agent()),
        }
    }
}

/// The MX that lets responses arrive within the timeout: half of it in whole seconds,
/// within UDA's 1..=5.
pub fn default_mx(timeout: Duration) -> u8 {
    let half = timeout.as_secs() / 2;
    u8::try_from(half.clamp(1, 5)).unwrap_or(5)
}

/// `OS/version UPnP/2.0 product/version`, as UDA 2.0 asks.
pub fn default_user_agent() -> String {
    format!(
        "{}/1.0 UPnP/2.0 igd-rs/{}",
        std::env::consts::OS,
        env!("CARGO_PKG_VERSION")
    )
}

/// A response accepted by a [`Search`].
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Who sent it. Devices answer from any port; the layers above compare the LOCATION host
    /// with this address.
    pub from: SocketAddr,
    /// The response itself.
    pub response: SearchResponse,
    /// When it was received (the `now` given to [`Search::handle`]).
    pub received: Instant,
}

impl Response {
    /// `response`, sent by `from`, received at `received` (for drivers and tests that make
    /// one without a [`Search`]).
    pub fn new(from: SocketAddr, response: SearchResponse, received: Instant) -> Response {
        Response {
            from,
            response,
            received,
        }
    }
}

/// Why a datagram did not become a [`Response`].
#[non_exhaustive]
#[derive(Debug)]
pub enum Ignored {
    /// It arrived at or after the deadline.
    Late,
    /// It is larger than [`MAX_MESSAGE_SIZE`].
    TooLarge,
    /// It does not decode (the error says why).
    Malformed(Error),
    /// It decodes, but it is not a search response: an M-SEARCH (perhaps our own, looped
    /// back) or a NOTIFY.
    NotAResponse,
    /// The same LOCATION, ST and USN were already accepted.
    Duplicate,
    /// [`MAX_RESPONSES`] distinct responses were already accepted.
    TooMany,
    /// [`MAX_RESPONSES_PER_SOURCE`] distinct responses were already accepted from its address.
    TooManyFromSource,
}

/// The state of one search.
#[derive(Debug)]
pub struct Search {
    /// One M-SEARCH per target, in the request's order.
    datagrams: Vec<Vec<u8>>,
    /// How many of `datagrams` a round of "leading" targets sends (1..=all).
    leading: usize,
    /// Rounds not started yet.
    rounds_left: usize,
    /// Rounds started.
    rounds_started: usize,
    /// The round being sent: (next datagram, how many it sends).
    round: Option<(usize, usize)>,
    /// When the next round is due.
    next_send: Instant,
    interval: Duration,
    /// `None` when `start + timeout` is beyond what `Instant` can represent.
    deadline: Option<Instant>,
    seen: HashSet<(String, String, Option<String>)>,
    per_source: HashMap<IpAddr, usize>,
}

impl Search {
    /// Start a search at `now`. Fails only if a target cannot be encoded.
    pub fn new(request: &SearchRequest, now: Instant) -> Result<Self, Error> {
        let datagrams = request
            .targets
            .iter()
            .map(|st| {
                MSearch {
                    host: request.host,
                    search_target: st.clone(),
                    mx: request.mx,
                    user_agent: request.user_agent.clone(),
                    extra: Vec::new(),
                }
                .encode()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let sends = request.sends.max(1);
        // Spread the rounds over the first half of the timeout, no closer than 10 ms apart.
        let interval = (request.timeout / 2)
            .checked_div(u32::from(sends))
            .unwrap_or_default()
            .max(Duration::from_millis(10));
        let leading = match request.leading {
            0 => datagrams.len(),
            n => n.min(datagrams.len()),
        };
        Ok(Search {
            leading,
            rounds_left: usize::from(sends),
            rounds_started: 0,
            round: None,
            datagrams,
            next_send: now,
            interval,
            deadline: now.checked_add(request.timeout),
            seen: HashSet::new(),
            per_source: HashMap::new(),
        })
    }

    /// The instant the search ends; `None` if it is too far to represent.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Whether the search is over at `now`.
    pub fn is_finished(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|d| now >= d)
    }

    /// The next datagram to send at `now`, if one is due. Call until `None`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<&[u8]> {
        if self.is_finished(now) {
            return None;
        }
        let (index, count) = match self.round {
            Some(round) => round,
            None if self.rounds_left > 0 && now >= self.next_send => {
                // The first round asks for the leading targets; later ones for every target
                // until a response is accepted, then for the leading ones again.
                let count = if self.rounds_started == 0 || !self.seen.is_empty() {
                    self.leading
                } else {
                    self.datagrams.len()
                };
                self.rounds_left -= 1;
                self.rounds_started = self.rounds_started.saturating_add(1);
                (0, count)
            }
            None => return None,
        };
        if index + 1 >= count {
            // The round is complete: the next one is due one interval later.
            self.round = None;
            self.next_send = now.checked_add(self.interval).unwrap_or(now);
        } else {
            self.round = Some((index + 1, count));
        }
        self.datagrams.get(index).map(Vec::as_slice)
    }

    /// When the driver must call in again: the next send or the deadline, whichever is first.
    /// `None` means neither is representable (wait for datagrams only).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let next_send = (self.round.is_some() || self.rounds_left > 0).then_some(self.next_send);
        match (next_send, self.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// How long a driver may wait for a datagram at `now` before calling in again: until
    /// [`Search::poll_timeout`], or a minute when that is `None` (so a driver still looks at
    /// the clock now and then). Zero means: call in now.
    pub fn wait(&self, now: Instant) -> Duration {
        self.poll_timeout().map_or(Duration::from_secs(60), |t| {
            t.saturating_duration_since(now)
        })
    }

    /// Judge a datagram received at `now` from `from`.
    pub fn handle(
        &mut self,
        from: SocketAddr,
        datagram: &[u8],
        now: Instant,
    ) -> Result<Response, Ignored> {
        if self.is_finished(now) {
            return Err(Ignored::Late);
        }
        if datagram.len() > MAX_MESSAGE_SIZE {
            return Err(Ignored::TooLarge);
        }
        let response = match Message::parse(datagram) {
            Ok(Message::SearchResponse(r)) => r,
            Ok(_) => return Err(Ignored::NotAResponse),
            Err(e) => return Err(Ignored::Malformed(e)),
        };
        let key = (
            response.location.clone(),
            response.search_target.to_string(),
            response.usn.clone(),
        );
        if self.seen.contains(&key) {
            return Err(Ignored::Duplicate);
        }
        let from_source = self.per_source.get(&from.ip()).copied().unwrap_or(0);
        if from_source >= MAX_RESPONSES_PER_SOURCE {
            return Err(Ignored::TooManyFromSource);
        }
        if self.seen.len() >= MAX_RESPONSES {
            return Err(Ignored::TooMany);
        }
        self.seen.insert(key);
        self.per_source
            .insert(from.ip(), from_source.saturating_add(1));
        Ok(Response {
            from,
            response,
            received: now,
        })
    }
}
