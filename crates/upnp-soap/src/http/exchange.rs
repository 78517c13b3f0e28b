//! One request and its response under one deadline: every decision of an exchange, for the
//! drivers to carry out.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Config, Request, Response, ResponseDecoder};
use crate::error::{Error, Stage};

/// Most connection attempts of one exchange (and so most addresses of one host name tried).
const MAX_ATTEMPTS: usize = 4;

/// The state of one HTTP exchange, sans I/O: which address to connect to next and for how
/// long, what to write, what the bytes read mean, and how much time is left.
///
/// The deadline is fixed when the exchange starts (`now + config.timeout`) and covers
/// resolving, connecting, sending and reading to the body's last byte: a peer that trickles
/// its answer cannot extend it. Each connection attempt also has its own timeout; a failed or
/// timed-out attempt is followed by the next (the next address of the host, or the same
/// address again), within the deadline, and never once a byte of the request was sent.
///
/// Why the attempts start short: a gateway on the LAN accepts a connection within a few
/// milliseconds, but a lost SYN or SYN-ACK is sent again by the system only after a second
/// (then three), and on a lossy network (Wi-Fi, 30% loss in the benchmark) half of all
/// handshakes lose one of the two. A new attempt, with a new SYN, after
/// `config.connect_retry` (250 ms), then after twice as long each time, up to
/// `config.connect_timeout` for the last of four, ends most such waits four times sooner. A
/// slow peer is not cut off: each attempt waits twice as long as the one before, and the last
/// the whole `connect_timeout`.
///
/// A driver's loop:
///
/// ```text
/// exchange = Exchange::new(&request, limit, &config, now)
/// exchange.resolved(addresses)                       // an IP literal, or a name resolved
///                                                    // within exchange.remaining(now)
/// loop { (addr, t) = exchange.poll_connect(now)?     // Err: no attempt left
///        connect(addr) within t: ok -> break, err -> exchange.connect_failed(err) }
/// exchange.connected()
/// while !exchange.to_send().is_empty() { write within exchange.remaining(now)?; exchange.sent(n) }
/// loop { read within exchange.remaining(now)?:
///        0 bytes -> return exchange.finish(),
///        data -> if exchange.received(data)? { return exchange.finish() },
///        error -> return Err(exchange.failed(error)) }
/// ```
#[derive(Debug)]
pub struct Exchange {
    request: Bytes,
    sent: usize,
    decoder: ResponseDecoder,
    timeout: Duration,
    connect_timeout: Duration,
    connect_retry: Duration,
    /// How long the current connection attempt may take.
    attempt_timeout: Duration,
    deadline: Instant,
    targets: Vec<SocketAddr>,
    attempts: usize,
    phase: Phase,
    last_error: Option<Error>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Resolving,
    Connecting(SocketAddr),
    Sending,
    Receiving,
}

impl Exchange {
    /// An exchange of `request` starting at `now`, refusing bodies over `body_limit`.
    pub fn new(request: &Request, body_limit: usize, config: &Config, now: Instant) -> Exchange {
        Exchange {
            request: request.encode(),
            sent: 0,
            decoder: ResponseDecoder::new(body_limit),
            timeout: config.timeout,
            connect_timeout: config.connect_timeout,
            connect_retry: config.connect_retry,
            attempt_timeout: config.connect_timeout,
            deadline: now.checked_add(config.timeout).unwrap_or(now),
            targets: Vec::new(),
            attempts: 0,
            phase: Phase::Resolving,
            last_error: None,
        }
    }

    /// End the exchange by `deadline` at the latest (the deadline of the operation it is part
    /// of): the exchange's deadline becomes the earlier of the two. A timeout then reports the
    /// time the exchange actually had.
    pub fn until(mut self, deadline: Option<Instant>, now: Instant) -> Exchange {
        if let Some(deadline) = deadline.filter(|d| *d < self.deadline) {
            self.deadline = deadline;
            self.timeout = deadline.saturating_duration_since(now);
        }
        self
    }

    /// Where the exchange is.
    pub fn stage(&self) -> Stage {
        match self.phase {
            Phase::Resolving => Stage::Resolving,
            Phase::Connecting(to) => Stage::Connecting { to },
            Phase::Sending => Stage::Sending,
            Phase::Receiving => self.decoder.stage(),
        }
    }

    /// The time left before the deadline, or [`Error::Timeout`] once it has passed.
    pub fn remaining(&self, now: Instant) -> Result<Duration, Error> {
        match self.deadline.checked_duration_since(now) {
            Some(left) if !left.is_zero() => Ok(left),
            _ => Err(self.timed_out()),
        }
    }

    /// The timeout error for where the exchange is now.
    pub fn timed_out(&self) -> Error {
        Error::Timeout {
            after: self.timeout,
            stage: self.stage(),
        }
    }

    /// The host's addresses, in the order to try them (at most four are tried). With fewer,
    /// the last is tried again until four attempts are planned.
    pub fn resolved(
        &mut self,
        addresses: impl IntoIterator<Item = SocketAddr>,
    ) -> Result<(), Error> {
        for address in addresses {
            if self.targets.len() == MAX_ATTEMPTS {
                break;
            }
            if !self.targets.contains(&address) {
                self.targets.push(address);
            }
        }
        let Some(&last) = self.targets.last() else {
            return Err(Error::Io {
                stage: Stage::Resolving,
                source: io::Error::new(io::ErrorKind::NotFound, "the host name has no address"),
            });
        };
        self.targets.resize(MAX_ATTEMPTS, last);
        Ok(())
    }

    /// The next connection attempt: the address and how long the attempt may take. When no
    /// attempt is left, the last attempt's error; past the deadline, [`Error::Timeout`].
    pub fn poll_connect(&mut self, now: Instant) -> Result<(SocketAddr, Duration), Error> {
        let left = self.remaining(now)?;
        let Some(&address) = self.targets.get(self.attempts) else {
            return Err(self.last_error.take().unwrap_or_else(|| self.timed_out()));
        };
        let within = match self.targets.get(self.attempts + 1) {
            // Not the last attempt: `connect_retry`, doubled for each attempt before (zero
            // turns the short attempts off: each waits the whole `connect_timeout`).
            Some(_) if !self.connect_retry.is_zero() => self
                .connect_retry
                .saturating_mul(1 << self.attempts.min(16))
                .min(self.connect_timeout),
            _ => self.connect_timeout,
        };
        self.attempts += 1;
        self.phase = Phase::Connecting(address);
        self.attempt_timeout = left.min(within);
        Ok((address, self.attempt_timeout))
    }

    /// The attempt [`poll_connect`](Exchange::poll_connect) gave failed.
    pub fn connect_failed(&mut self, error: io::Error) {
        let error = match error.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Error::Timeout {
                after: self.attempt_timeout,
                stage: self.stage(),
            },
            _ => Error::Io {
                stage: self.stage(),
                source: error,
            },
        };
        self.last_error = Some(error);
    }

    /// The connection is open: send the request.
    pub fn connected(&mut self) {
        self.phase = Phase::Sending;
        self.last_error = None;
    }

    /// The request bytes still to write.
    pub fn to_send(&self) -> &[u8] {
        self.request.get(self.sent..).unwrap_or_default()
    }

    /// `n` more bytes of the request were written.
    pub fn sent(&mut self, n: usize) {
        self.sent = self.sent.saturating_add(n).min(self.request.len());
        if self.sent == self.request.len() {
            self.phase = Phase::Receiving;
        }
    }

    /// Bytes read from the connection; `Ok(true)` when the response is complete (call
    /// [`finish`](Exchange::finish)).
    pub fn received(&mut self, data: &[u8]) -> Result<bool, Error> {
        self.phase = Phase::Receiving;
        self.decoder.push(data)
    }

    /// The response: once [`received`](Exchange::received) said it is complete, or when the
    /// connection has ended (reading gave 0 bytes).
    pub fn finish(self) -> Result<Response, Error> {
        self.decoder.finish()
    }

    /// An I/O error while sending or receiving, as the exchange's error: a socket timeout is
    /// [`Error::Timeout`] (socket timeouts are set from [`remaining`](Exchange::remaining)),
    /// anything else [`Error::Io`] with the stage.
    pub fn failed(&self, error: io::Error) -> Error {
        match error.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => self.timed_out(),
            _ => Error::Io {
                stage: self.stage(),
                source: error,
            },
        }
    }
}
