//! The async searcher, for a tokio runtime (feature `tokio`): the same socket setup and the
//! same sans-I/O [`Search`] as the blocking [`super::Searcher`], on a tokio socket.

use std::net::SocketAddr;
use std::time::Instant;

use crate::error::Error;
use crate::message::MAX_MESSAGE_SIZE;
use crate::search::{Response, Search};

use super::{SearchOptions, also_to, is_transient, prepare, send_via, via};

/// A search in progress; [`Searcher::next`] yields responses until the deadline.
#[derive(Debug)]
pub struct Searcher {
    socket: tokio::net::UdpSocket,
    destination: SocketAddr,
    also_to: Vec<SocketAddr>,
    via: Vec<super::Out>,
    state: Search,
    buf: Box<[u8]>,
}

impl Searcher {
    /// Open the socket and send the first round of M-SEARCHes. Must run inside a tokio
    /// runtime.
    pub async fn start(options: &SearchOptions) -> Result<Searcher, Error> {
        let (socket, destination, state) = prepare(options)?;
        socket
            .set_nonblocking(true)
            .map_err(Error::io("set non-blocking"))?;
        let socket =
            tokio::net::UdpSocket::from_std(socket).map_err(Error::io("register socket"))?;
        let mut searcher = Searcher {
            socket,
            destination,
            also_to: also_to(options, destination),
            via: via(options),
            state,
            buf: vec![0; MAX_MESSAGE_SIZE + 1].into_boxed_slice(),
        };
        searcher.transmit(Instant::now()).await?;
        Ok(searcher)
    }

    /// When the search ends (`None`: too far to represent).
    pub fn deadline(&self) -> Option<Instant> {
        self.state.deadline()
    }

    /// The next response; `None` once the deadline has passed.
    pub async fn next(&mut self) -> Option<Result<Response, Error>> {
        loop {
            let now = Instant::now();
            if self.state.is_finished(now) {
                return None;
            }
            if let Err(e) = self.transmit(now).await {
                return Some(Err(e));
            }
            let wait = self.state.wait(now);
            if wait.is_zero() {
                continue;
            }
            match tokio::time::timeout(wait, self.socket.recv_from(&mut self.buf)).await {
                Err(_) => {}
                Ok(Ok((len, from))) => {
                    let datagram = self.buf.get(..len).unwrap_or_default();
                    if let Ok(response) = self.state.handle(from, datagram, Instant::now()) {
                        return Some(Ok(response));
                    }
                }
                Ok(Err(e)) if is_transient(&e) => {}
                Ok(Err(e)) => return Some(Err(Error::io("receive")(e))),
            }
        }
    }

    async fn transmit(&mut self, now: Instant) -> Result<(), Error> {
        while let Some(datagram) = self.state.poll_transmit(now) {
            if self.via.is_empty() {
                self.socket
                    .send_to(datagram, self.destination)
                    .await
                    .map_err(Error::io("send M-SEARCH"))?;
            } else {
                // Each send goes out of one interface: the option and the send together.
                let (via, to) = (&self.via, self.destination);
                let _ = self.socket.writable().await;
                let sent = self.socket.try_io(tokio::io::Interest::WRITABLE, || {
                    send_via(socket2::SockRef::from(&self.socket), via, datagram, to)
                });
                match sent {
                    // Not writable after all: this round is lost, the next one goes.
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(Error::io("send M-SEARCH")(e)),
                    Ok(()) => {}
                }
            }
            for to in &self.also_to {
                // A unicast copy that cannot be sent (no route there) is no reason to stop.
                let _ = self.socket.send_to(datagram, to).await;
            }
        }
        Ok(())
    }
}

/// The async [`super::Listener`]: what devices multicast to the SSDP group, on one interface.
#[derive(Debug)]
pub struct Listener {
    socket: tokio::net::UdpSocket,
    buf: Box<[u8]>,
    from: Option<std::net::IpAddr>,
}

impl Listener {
    /// Hear the SSDP group on the interface holding `interface` (IPv4 or IPv6, as
    /// [`super::Listener::open`]). Must run inside a tokio runtime.
    pub fn open(interface: std::net::IpAddr) -> Result<Listener, Error> {
        Listener::open_on(interface, crate::message::SSDP_PORT)
    }

    /// The same on another port (tests send to it by unicast).
    pub fn open_on(interface: std::net::IpAddr, port: u16) -> Result<Listener, Error> {
        let (socket, from) = super::Listener::open_on(interface, port)?.into_parts();
        socket
            .set_nonblocking(true)
            .map_err(Error::io("set non-blocking"))?;
        let socket =
            tokio::net::UdpSocket::from_std(socket).map_err(Error::io("register socket"))?;
        Ok(Listener {
            socket,
            buf: vec![0; MAX_MESSAGE_SIZE + 1].into_boxed_slice(),
            from,
        })
    }

    /// Hand over only what comes from `source` (the device watched); the rest is dropped.
    pub fn only_from(mut self, source: std::net::IpAddr) -> Listener {
        self.from = Some(source);
        self
    }

    /// The address it is bound to.
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        self.socket.local_addr().map_err(Error::io("local address"))
    }

    /// The next datagram heard.
    pub async fn recv(&mut self) -> Result<(SocketAddr, &[u8]), Error> {
        loop {
            match self.socket.recv_from(&mut self.buf).await {
                Ok((_, from)) if self.from.is_some_and(|only| only != from.ip()) => {}
                Ok((len, from)) => return Ok((from, self.buf.get(..len).unwrap_or_default())),
                Err(e) if is_transient(&e) => {}
                Err(e) => return Err(Error::io("receive")(e)),
            }
        }
    }
}
