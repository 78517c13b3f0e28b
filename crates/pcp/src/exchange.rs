//! One request and its answer, as a machine with no I/O: when to send (the retransmission
//! schedules of RFC 6886 §3.1 and RFC 6887 §8.1.1), when to give up (the caller's deadline,
//! which nothing received extends), and which datagram is the answer.
//!
//! A driver loops: [`Exchange::poll`] says send these bytes, wait until then, or give up;
//! every datagram that arrives goes to [`Exchange::receive`] with its source, which says
//! whether it is the answer or why it was ignored (another host, another mapping's nonce, a
//! truncated packet...).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::message::{PcpRequest, PcpResponse, RequestOp, Response, ResponseOp};
use crate::natpmp::{NatPmpRequest, NatPmpResponse, NatPmpResult};

#[cfg(test)]
mod tests;

/// When to send again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// The wait after the first send.
    pub initial: Duration,
    /// The longest wait between two sends (each wait doubles up to it).
    pub max_interval: Duration,
    /// How many sends at most (`None`: until the deadline).
    pub max_sends: Option<u32>,
}

impl Schedule {
    /// NAT-PMP's (RFC 6886 §3.1): 250 ms, doubling, 9 sends at most.
    pub const NATPMP: Schedule = Schedule {
        initial: Duration::from_millis(250),
        max_interval: Duration::from_secs(64),
        max_sends: Some(9),
    };

    /// PCP's (RFC 6887 §8.1.1): IRT 3 s, doubling up to MRT 1024 s, no limit on the number
    /// of sends (MRC 0): the caller's deadline ends it.
    pub const PCP: Schedule = Schedule {
        initial: Duration::from_secs(3),
        max_interval: Duration::from_secs(1024),
        max_sends: None,
    };
}

/// A request of either version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Version 0.
    NatPmp(NatPmpRequest),
    /// Version 2.
    Pcp(PcpRequest),
}

impl Request {
    /// The datagram.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        match self {
            Request::NatPmp(request) => request.encode(),
            Request::Pcp(request) => request.encode(),
        }
    }
}

/// What to do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Poll<'a> {
    /// Send this datagram to the gateway now.
    Send(&'a [u8]),
    /// Wait for an answer until then.
    Wait(Instant),
    /// No answer in time (the deadline passed, or the schedule's sends are spent and the
    /// last wait is over).
    TimedOut,
}

/// Why a datagram was not the answer.
#[non_exhaustive]
#[derive(Debug)]
pub enum Ignored {
    /// It came from another address or port than the gateway's.
    OtherSource(SocketAddr),
    /// It did not decode.
    Malformed(Error),
    /// A response of the other version (and not the fallback signal).
    OtherVersion,
    /// A response to another opcode.
    OtherOpcode(u8),
    /// A MAP response with another nonce: not our mapping (or forged).
    WrongNonce,
    /// A response about another protocol or internal port.
    OtherMapping,
    /// The exchange already has its answer.
    Finished,
}

impl std::fmt::Display for Ignored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ignored::OtherSource(from) => write!(f, "it came from {from}"),
            Ignored::Malformed(e) => write!(f, "malformed: {e}"),
            Ignored::OtherVersion => f.write_str("a response of the other version"),
            Ignored::OtherOpcode(opcode) => write!(f, "a response to opcode {opcode}"),
            Ignored::WrongNonce => f.write_str("a MAP response with another nonce"),
            Ignored::OtherMapping => f.write_str("a response about another mapping"),
            Ignored::Finished => f.write_str("the exchange had its answer already"),
        }
    }
}

/// What [`Exchange::receive`] made of a datagram.
#[non_exhaustive]
#[derive(Debug)]
pub enum Received {
    /// The answer. For a PCP request it may be a NAT-PMP response saying the gateway speaks
    /// version 0 only ([`Response::is_unsupported_version`]): then ask again in NAT-PMP.
    Answer(Response),
    /// Not the answer; keep waiting.
    Ignored(Ignored),
}

/// One request to one gateway, until its answer or its deadline.
#[derive(Clone, Debug)]
pub struct Exchange {
    request: Request,
    datagram: Vec<u8>,
    gateway: SocketAddr,
    schedule: Schedule,
    deadline: Instant,
    next_send: Option<Instant>,
    interval: Duration,
    sends: u32,
    /// PCP's RAND (each wait times 0.9 to 1.1), from a seed; 0: no jitter.
    random: u64,
    answered: bool,
    /// Datagrams from the gateway that were not the answer, and why the last one was not.
    odd: u32,
    last_odd: Option<String>,
}

impl Exchange {
    /// Send `request` to `gateway` (its address and port 5351, or another port in tests),
    /// from `now`, giving up at `deadline`; scheduled by the RFC of the request's version.
    pub fn new(
        request: Request,
        gateway: SocketAddr,
        now: Instant,
        deadline: Instant,
    ) -> Result<Exchange, Error> {
        let schedule = match request {
            Request::NatPmp(_) => Schedule::NATPMP,
            Request::Pcp(_) => Schedule::PCP,
        };
        Ok(Exchange {
            datagram: request.encode()?,
            request,
            gateway,
            schedule,
            deadline,
            next_send: Some(now),
            interval: schedule.initial,
            sends: 0,
            random: 0,
            answered: false,
            odd: 0,
            last_odd: None,
        })
    }

    /// With another schedule (shorter waits in tests; at the caller's own risk on real
    /// networks: the RFCs' schedules spare the gateway).
    pub fn schedule(mut self, schedule: Schedule) -> Exchange {
        self.interval = schedule.initial;
        self.schedule = schedule;
        self
    }

    /// Spread each wait by ±10 % (PCP's RAND), drawn from `seed` (any random number): many
    /// clients restarted together then do not send in step.
    pub fn jitter(mut self, seed: u64) -> Exchange {
        self.random = seed | 1;
        self
    }

    /// The request.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The gateway asked.
    pub fn gateway(&self) -> SocketAddr {
        self.gateway
    }

    /// When it gives up.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// How many times the request was sent.
    pub fn sends(&self) -> u32 {
        self.sends
    }

    /// Why it ended without an answer: [`Error::OddAnswers`] when the gateway did answer,
    /// never with a valid answer (short, malformed, about something else), else
    /// [`Error::TimedOut`].
    pub fn timed_out(&mut self) -> Error {
        match self.last_odd.take() {
            Some(last) => Error::OddAnswers {
                gateway: self.gateway,
                count: self.odd,
                last,
            },
            None => Error::TimedOut(self.gateway),
        }
    }

    /// What to do at `now`.
    pub fn poll(&mut self, now: Instant) -> Poll<'_> {
        if self.answered || now >= self.deadline {
            return Poll::TimedOut;
        }
        let Some(at) = self.next_send else {
            return Poll::TimedOut;
        };
        if now < at {
            return Poll::Wait(at.min(self.deadline));
        }
        let spent = self.schedule.max_sends.is_some_and(|max| self.sends >= max);
        if spent {
            return Poll::TimedOut;
        }
        self.sends += 1;
        let wait = self.spread(self.interval);
        self.next_send = now.checked_add(wait);
        self.interval = (self.interval * 2).min(self.schedule.max_interval);
        Poll::Send(&self.datagram)
    }

    fn spread(&mut self, wait: Duration) -> Duration {
        if self.random == 0 {
            return wait;
        }
        // xorshift64: enough to keep clients out of step; not for secrets.
        let mut x = self.random;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.random = x;
        let permille = 900 + u32::try_from(x % 201).unwrap_or(100);
        wait * permille / 1000
    }

    /// One more datagram from the gateway that is not the answer.
    fn odd(&mut self, why: &Ignored) {
        self.odd = self.odd.saturating_add(1);
        self.last_odd = Some(why.to_string());
    }

    /// A datagram from `from`: the answer, or why not.
    pub fn receive(&mut self, from: SocketAddr, datagram: &[u8]) -> Received {
        if self.answered {
            return Received::Ignored(Ignored::Finished);
        }
        if !same_source(from, self.gateway) {
            return Received::Ignored(Ignored::OtherSource(from));
        }
        let response = match Response::parse(datagram) {
            Ok(response) => response,
            Err(e) => {
                let why = Ignored::Malformed(e);
                self.odd(&why);
                return Received::Ignored(why);
            }
        };
        let verdict = match (&self.request, &response) {
            (Request::NatPmp(request), Response::NatPmp(response)) => {
                natpmp_answers(request, response)
            }
            (Request::Pcp(request), Response::Pcp(response)) => pcp_answers(request, response),
            (Request::Pcp(_), Response::NatPmp(r))
                if r.result() == NatPmpResult::UnsupportedVersion =>
            {
                Ok(())
            }
            _ => Err(Ignored::OtherVersion),
        };
        if let Err(why) = &verdict {
            self.odd(why);
        }
        match verdict {
            Ok(()) => {
                self.answered = true;
                Received::Answer(response)
            }
            Err(why) => Received::Ignored(why),
        }
    }
}

/// The same host and port; an IPv4-mapped IPv6 source (a dual-stack socket) is its IPv4.
fn same_source(from: SocketAddr, gateway: SocketAddr) -> bool {
    canonical(from.ip()) == canonical(gateway.ip()) && from.port() == gateway.port()
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

fn natpmp_answers(request: &NatPmpRequest, response: &NatPmpResponse) -> Result<(), Ignored> {
    if response.opcode() != request.opcode() {
        return Err(Ignored::OtherOpcode(response.opcode()));
    }
    match (request, response) {
        (
            NatPmpRequest::Map { internal_port, .. },
            NatPmpResponse::Map {
                internal_port: answered,
                ..
            },
        ) if answered != internal_port => Err(Ignored::OtherMapping),
        _ => Ok(()),
    }
}

fn pcp_answers(request: &PcpRequest, response: &PcpResponse) -> Result<(), Ignored> {
    if response.opcode() != request.opcode() {
        return Err(Ignored::OtherOpcode(response.opcode()));
    }
    match (&request.op, &response.op) {
        (RequestOp::Map(asked), ResponseOp::Map(answered)) => {
            if asked.nonce != answered.nonce {
                Err(Ignored::WrongNonce)
            } else if asked.protocol != answered.protocol
                || asked.internal_port != answered.internal_port
            {
                Err(Ignored::OtherMapping)
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

impl Response {
    /// Whether this says "I speak NAT-PMP only" (RFC 6887 §9): a version 0 response with
    /// result 1, the gateway's answer to a PCP request.
    pub fn is_unsupported_version(&self) -> bool {
        matches!(self, Response::NatPmp(r) if r.result() == NatPmpResult::UnsupportedVersion)
    }
}

/// What a gateway multicasts to 224.0.0.1:5350 (or ff02::1): its external address changed,
/// or it restarted.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Announcement {
    /// NAT-PMP (RFC 6886 §3.2.1): an external-address response.
    NatPmp {
        /// Seconds since the gateway's epoch.
        epoch: u32,
        /// Its external address.
        address: Ipv4Addr,
    },
    /// PCP (RFC 6887 §14.1.3): an ANNOUNCE response.
    Pcp {
        /// Seconds since the gateway's epoch.
        epoch: u32,
    },
}

impl Announcement {
    /// Read a datagram heard on the announcement port; only `gateway` is believed.
    pub fn read(
        from: SocketAddr,
        gateway: IpAddr,
        datagram: &[u8],
    ) -> Result<Announcement, Ignored> {
        if canonical(from.ip()) != canonical(gateway) {
            return Err(Ignored::OtherSource(from));
        }
        match Response::parse(datagram).map_err(Ignored::Malformed)? {
            Response::NatPmp(NatPmpResponse::ExternalAddress {
                result,
                epoch,
                address,
            }) if result.is_success() => Ok(Announcement::NatPmp { epoch, address }),
            Response::Pcp(PcpResponse {
                result,
                epoch,
                op: ResponseOp::Announce,
                ..
            }) if result.is_success() => Ok(Announcement::Pcp { epoch }),
            other => Err(Ignored::OtherOpcode(match other {
                Response::NatPmp(r) => r.opcode(),
                Response::Pcp(r) => r.opcode(),
            })),
        }
    }

    /// Seconds since the gateway's epoch.
    pub fn epoch(&self) -> u32 {
        match self {
            Announcement::NatPmp { epoch, .. } | Announcement::Pcp { epoch } => *epoch,
        }
    }

    /// The rule its epoch is checked by: that of the protocol it came in.
    pub fn rule(&self) -> crate::epoch::EpochRule {
        match self {
            Announcement::NatPmp { .. } => crate::epoch::EpochRule::NatPmp,
            Announcement::Pcp { .. } => crate::epoch::EpochRule::Pcp,
        }
    }
}
