//! Ask a gateway what NAT-PMP and PCP give: its external address, a UDP mapping made and
//! removed with each protocol. Each answer is printed decoded, and as hex with `--hex`.
//!
//! `cargo run -p pcp-natpmp --example probe -- [GATEWAY] [--port PORT] [--hex] [--only NAME]`
//! (GATEWAY: the default gateway when left out).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use pcp_natpmp::net::{Client, default_gateway};
use pcp_natpmp::{Exchange, Map, NatPmpRequest, Nonce, PcpRequest, Protocol, Request};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let hex = args.iter().any(|a| a == "--hex");
    let port: u16 = args
        .iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1))
        .map_or(Ok(7777), |p| p.parse())?;
    let gateway: IpAddr = match args
        .iter()
        .find(|a| !a.starts_with("--") && a.parse::<IpAddr>().is_ok())
    {
        Some(g) => g.parse()?,
        None => default_gateway()?,
    };
    let mut client = Client::new(gateway)?;
    let us = client.local_address();
    println!("gateway {gateway}, us {us}");
    let nonce = Nonce::random()?;
    let map = Map::new(nonce, Protocol::Udp, port, port);
    let other = Map::new(Nonce::random()?, Protocol::Udp, port, port);
    let requests = [
        (
            "natpmp-external-address",
            Request::NatPmp(NatPmpRequest::ExternalAddress),
        ),
        (
            "natpmp-map-udp",
            Request::NatPmp(NatPmpRequest::map(Protocol::Udp, port, port, 120)),
        ),
        (
            "natpmp-unmap-udp",
            Request::NatPmp(NatPmpRequest::unmap(Protocol::Udp, port)),
        ),
        ("pcp-announce", Request::Pcp(PcpRequest::announce(us))),
        ("pcp-map-udp", Request::Pcp(PcpRequest::map(us, map, 120))),
        ("pcp-unmap-udp", Request::Pcp(PcpRequest::map(us, map, 0))),
        (
            "pcp-unmap-absent",
            Request::Pcp(PcpRequest::map(us, map, 0)),
        ),
        ("pcp-map-again", Request::Pcp(PcpRequest::map(us, map, 120))),
        (
            "pcp-unmap-other-nonce",
            Request::Pcp(PcpRequest::map(us, other, 0)),
        ),
        (
            "natpmp-unmap-pcp-made",
            Request::NatPmp(NatPmpRequest::unmap(Protocol::Udp, port)),
        ),
        ("pcp-map-short", Request::Pcp(PcpRequest::map(us, map, 10))),
        (
            "pcp-map-any-port",
            Request::Pcp(PcpRequest::map(
                us,
                Map::new(nonce, Protocol::Tcp, port, 0),
                120,
            )),
        ),
        (
            "pcp-unmap-tcp",
            Request::Pcp(PcpRequest::map(
                us,
                Map::new(nonce, Protocol::Tcp, port, 0),
                0,
            )),
        ),
    ];
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1));
    for (name, request) in requests {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        let now = Instant::now();
        let mut exchange =
            Exchange::new(request, client.gateway(), now, now + Duration::from_secs(4))?;
        match client.run(&mut exchange) {
            Ok(response) => {
                println!("{name}: {response:?}");
                if hex {
                    let bytes = response.encode()?;
                    let text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                    println!("{name} hex {text}");
                }
            }
            Err(e) => println!("{name}: error: {e}"),
        }
    }
    Ok(())
}
