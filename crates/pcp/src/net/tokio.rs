//! The async client and listener (feature `tokio`): the same machines as the blocking ones,
//! on tokio's sockets and timers.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

use super::{announcement_socket, connected, is_transient, send_error};
use crate::MAX_MESSAGE_SIZE;
use crate::error::Error;
use crate::exchange::{Announcement, Exchange, Poll, Received};
use crate::message::{ANNOUNCE_PORT, Response, SERVER_PORT};

/// A UDP socket connected to a gateway's NAT-PMP/PCP port.
#[derive(Debug)]
pub struct Client {
    socket: UdpSocket,
    gateway: SocketAddr,
    local: SocketAddr,
    buf: Vec<u8>,
}

impl Client {
    /// A client of `gateway` on port 5351.
    pub fn new(gateway: IpAddr) -> Result<Client, Error> {
        Client::connect(SocketAddr::new(gateway, SERVER_PORT))
    }

    /// A client of a gateway at this address and port (needs a tokio runtime).
    pub fn connect(gateway: SocketAddr) -> Result<Client, Error> {
        Client::connect_from(None, gateway)
    }

    /// A client whose requests leave from `local` (see the blocking
    /// [`super::Client::connect_from`]).
    pub fn connect_from(local: Option<IpAddr>, gateway: SocketAddr) -> Result<Client, Error> {
        let std = connected(local, gateway)?;
        std.set_nonblocking(true)
            .map_err(Error::io("set non-blocking"))?;
        let local = std.local_addr().map_err(Error::io("local address"))?;
        let socket = UdpSocket::from_std(std).map_err(Error::io("register the socket"))?;
        Ok(Client {
            socket,
            gateway,
            local,
            buf: vec![0; MAX_MESSAGE_SIZE + 1],
        })
    }

    /// The gateway's address and port.
    pub fn gateway(&self) -> SocketAddr {
        self.gateway
    }

    /// Our address on the route to the gateway.
    pub fn local_address(&self) -> IpAddr {
        self.local.ip()
    }

    /// Our address and port: where the requests leave from.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Run `exchange` to its answer or its deadline.
    pub async fn run(&mut self, exchange: &mut Exchange) -> Result<Response, Error> {
        loop {
            let until = match exchange.poll(Instant::now()) {
                Poll::Send(datagram) => {
                    if let Err(e) = self.socket.send(datagram).await {
                        return Err(send_error(e, self.gateway));
                    }
                    continue;
                }
                Poll::Wait(until) => until,
                Poll::TimedOut => return Err(exchange.timed_out()),
            };
            let received =
                tokio::time::timeout_at(until.into(), self.socket.recv_from(&mut self.buf)).await;
            match received {
                Err(_elapsed) => {}
                Ok(Ok((len, from))) => {
                    let datagram = self.buf.get(..len).unwrap_or_default();
                    if let Received::Answer(response) = exchange.receive(from, datagram) {
                        return Ok(response);
                    }
                }
                Ok(Err(e)) if is_transient(&e) => {}
                Ok(Err(e)) => return Err(send_error(e, self.gateway)),
            }
        }
    }
}

/// The announcement listener, async.
#[derive(Debug)]
pub struct Listener {
    socket: UdpSocket,
    gateway: IpAddr,
    buf: Vec<u8>,
}

impl Listener {
    /// Listen on 0.0.0.0:5350 (needs a tokio runtime).
    pub fn bind(gateway: IpAddr) -> Result<Listener, Error> {
        Listener::bind_port(gateway, ANNOUNCE_PORT)
    }

    /// Listen on another port (tests).
    pub fn bind_port(gateway: IpAddr, port: u16) -> Result<Listener, Error> {
        let std = announcement_socket(port)?;
        std.set_nonblocking(true)
            .map_err(Error::io("set non-blocking"))?;
        Ok(Listener {
            socket: UdpSocket::from_std(std).map_err(Error::io("register the socket"))?,
            gateway,
            buf: vec![0; MAX_MESSAGE_SIZE + 1],
        })
    }

    /// The gateway whose announcements are believed.
    pub fn gateway(&self) -> IpAddr {
        self.gateway
    }

    /// The next announcement from the gateway within `within`; `None` when none came.
    pub async fn next_within(&mut self, within: Duration) -> Result<Option<Announcement>, Error> {
        let until = tokio::time::Instant::now() + within;
        loop {
            let received =
                tokio::time::timeout_at(until, self.socket.recv_from(&mut self.buf)).await;
            match received {
                Err(_elapsed) => return Ok(None),
                Ok(Ok((len, from))) => {
                    let datagram = self.buf.get(..len).unwrap_or_default();
                    if let Ok(announcement) = Announcement::read(from, self.gateway, datagram) {
                        return Ok(Some(announcement));
                    }
                }
                Ok(Err(e)) if is_transient(&e) => {}
                Ok(Err(e)) => return Err(Error::io("receive an announcement")(e)),
            }
        }
    }
}
