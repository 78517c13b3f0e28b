//! A driver of `upnp_igd`'s machines written outside the crate: blocking std sockets (the
//! workspace's SSDP searcher and HTTP client, a UDP socket for routes), one I/O at a time on
//! this thread, no runtime. It finds the gateway and reads its external address; another
//! runtime or a game engine's own loop drives the same machines the same way.
//!
//! `cargo run --example driver` on a LAN with a UPnP router.

use std::convert::Infallible;
use std::net::{IpAddr, ToSocketAddrs, UdpSocket};
use std::time::Instant;

use upnp_igd::machine::{Completed, Input, Io, Machine, Output, RouteTo};
use upnp_igd::upnp_soap::{blocking::Client, http::Config};
use upnp_igd::upnp_ssdp::net::Searcher;
use upnp_igd::{DiscoverOptions, DiscoverSettings, Error, Goal, Limits, ops};

/// Our address on the route to `to` (a connected UDP socket tells; nothing is sent).
fn route(to: &RouteTo) -> Option<IpAddr> {
    let RouteTo::Host(url) = to else { return None };
    let host = (url.host_str()?, url.port_or_known_default()?);
    let remote = host.to_socket_addrs().ok()?.next()?;
    let socket = UdpSocket::bind(if remote.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    })
    .ok()?;
    socket.connect(remote).ok()?;
    Some(socket.local_addr().ok()?.ip())
}

/// Drain `machine`'s outputs, performing each I/O at once, until it is done.
fn drive<M: Machine<Event = Infallible>>(mut machine: M) -> Result<M::Value, Error> {
    let http = Client::new(&Config::default());
    loop {
        let (token, io) = match machine.poll(Instant::now()) {
            Output::Start(token, io) => (token, io),
            Output::Wait(until) => {
                std::thread::sleep(until.saturating_duration_since(Instant::now()));
                continue;
            }
            Output::Done(value) => return value,
            Output::Event(never) => match never {},
            _ => return Err(Error::Misuse("an output this driver does not know")),
        };
        let done = match io {
            Io::Search(options) => {
                let mut ended = Ok(());
                for answer in Searcher::start(&options)? {
                    match answer {
                        Ok(answer) => machine.handle(Input::Answer(token, answer), Instant::now()),
                        Err(e) => ended = Err(e),
                    }
                }
                Completed::Searched(ended)
            }
            Io::Fetch { url, deadline } => {
                Completed::Fetched(http.until(deadline).get_description(&url))
            }
            Io::Call {
                url,
                request,
                deadline,
            } => Completed::Called(http.until(deadline).call(&url, &request)),
            Io::Route(to) => Completed::Routed(route(&to)),
            // PCP/NAT-PMP: not asked by these two machines.
            _ => return Err(Error::Misuse("an I/O this driver does not perform")),
        };
        machine.handle(Input::Completed(token, done), Instant::now());
    }
}

fn main() -> Result<(), Error> {
    let (settings, limits) = (DiscoverSettings::default(), Limits::default());
    let options = DiscoverOptions::default().timeout(2000);
    let now = Instant::now();
    let devices = drive(ops::DiscoveryRun::new(
        Goal::FirstPublic,
        &settings,
        &options,
        &limits,
        now,
    )?)?;
    let gateway = devices
        .iter()
        .find(|d| d.is_valid_gateway())
        .ok_or(Error::NoDevices)?;
    let address = drive(ops::external_address(gateway, &limits, Instant::now())?)?;
    println!("{} via {}", address, gateway.description_url);
    Ok(())
}
