//! Which URLs received from the network we are willing to contact.
//!
//! An SSDP answer names a description URL, and a description names control URLs: anyone on
//! the LAN can send those. Before any is fetched, [`check`] refuses the ones that would make
//! us talk to ourselves or to nowhere: a scheme other than `http`, a loopback, unspecified,
//! multicast or broadcast host, a link-local one (unless it is the device that sent the
//! URL), and `localhost` names. Pure code: no name resolution, no socket.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

use crate::error::{Error, echo};

/// Refuse `url` unless it is fit to contact. `responder` is the address of the device that
/// sent it (the SSDP responder for a description URL, the description's host for a control
/// URL); a link-local host is allowed when it is that device.
pub fn check(url: &Url, responder: Option<IpAddr>) -> Result<(), Error> {
    let refuse = |reason| {
        Err(Error::ForbiddenUrl {
            url: echo(url.as_str()),
            reason,
        })
    };
    if url.scheme() != "http" {
        return refuse("not http");
    }
    let ip = match url.host() {
        None => return refuse("no host"),
        Some(Host::Domain(domain)) => {
            let domain = domain.trim_end_matches('.').to_ascii_lowercase();
            if domain == "localhost" || domain.ends_with(".localhost") {
                return refuse("loopback host");
            }
            return Ok(());
        }
        Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(Host::Ipv6(v6)) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
    };
    match reason(ip) {
        Some("link-local host") if responder.map(canonical) == Some(ip) => Ok(()),
        Some(reason) => refuse(reason),
        None => Ok(()),
    }
}

/// Refuse a description URL from an SSDP answer unless it names, by address, the device that
/// answered: otherwise any LAN host could make us fetch any host, port and path (the router's
/// admin pages, another LAN host, a public address), and a host name could resolve anywhere
/// (loopback included, or differently at connect time). Over IPv6 a device answers from its
/// link-local address and announces another of its addresses (miniupnpd: its ULA), so an
/// answer from a link-local address may name any IPv6 address that [`check`] allows.
pub fn check_location(url: &Url, responder: IpAddr) -> Result<(), Error> {
    check(url, Some(responder))?;
    let refuse = |reason| {
        Err(Error::ForbiddenUrl {
            url: echo(url.as_str()),
            reason,
        })
    };
    let host = match url.host() {
        Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(Host::Ipv6(v6)) => canonical(IpAddr::V6(v6)),
        Some(Host::Domain(_)) => return refuse("a host name, not the answering address"),
        None => return refuse("no host"),
    };
    match (canonical(responder), host) {
        (responder, host) if responder == host => Ok(()),
        (IpAddr::V6(from), IpAddr::V6(_)) if from.is_unicast_link_local() => Ok(()),
        _ => refuse("not the address that answered"),
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => reason_v4(v4),
        IpAddr::V6(v6) => reason_v6(v6),
    }
}

fn reason_v4(ip: Ipv4Addr) -> Option<&'static str> {
    if ip.is_loopback() {
        Some("loopback host")
    } else if ip.is_unspecified() {
        Some("unspecified host")
    } else if ip.is_multicast() {
        Some("multicast host")
    } else if ip.is_broadcast() {
        Some("broadcast host")
    } else if ip.is_link_local() {
        Some("link-local host")
    } else {
        None
    }
}

fn reason_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_loopback() {
        Some("loopback host")
    } else if ip.is_unspecified() {
        Some("unspecified host")
    } else if ip.is_multicast() {
        Some("multicast host")
    } else if ip.is_unicast_link_local() {
        Some("link-local host")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn lan_hosts_pass() {
        for ok in [
            "http://192.168.1.1:5000/rootDesc.xml",
            "http://10.0.0.138/ctl",
            "http://[fd77::1]:5000/rootDesc.xml",
            "http://router.lan/desc.xml",
            "http://11.0.0.7:80/",
        ] {
            assert!(check(&url(ok), None).is_ok(), "{ok}");
        }
    }

    #[test]
    fn dangerous_hosts_are_refused_with_a_reason() {
        for (bad, why) in [
            ("https://192.168.1.1/", "not http"),
            ("ftp://192.168.1.1/", "not http"),
            ("http://127.0.0.1:5000/", "loopback host"),
            ("http://127.9.9.9/", "loopback host"),
            ("http://[::1]/", "loopback host"),
            ("http://[::ffff:127.0.0.1]/", "loopback host"),
            ("http://localhost:8080/", "loopback host"),
            ("http://LOCALHOST./", "loopback host"),
            ("http://a.localhost/", "loopback host"),
            ("http://0.0.0.0/", "unspecified host"),
            ("http://[::]/", "unspecified host"),
            ("http://239.255.255.250:1900/", "multicast host"),
            ("http://[ff02::c]/", "multicast host"),
            ("http://255.255.255.255/", "broadcast host"),
            ("http://169.254.1.1/", "link-local host"),
            ("http://[fe80::1]/", "link-local host"),
        ] {
            match check(&url(bad), None) {
                Err(Error::ForbiddenUrl { reason, .. }) => assert_eq!(reason, why, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_location_names_the_address_that_answered() {
        let router: IpAddr = "192.168.77.1".parse().unwrap();
        assert!(check_location(&url("http://192.168.77.1:5000/rootDesc.xml"), router).is_ok());
        for (bad, why) in [
            (
                "http://192.168.77.2:5000/rootDesc.xml",
                "not the address that answered",
            ),
            ("http://8.8.8.8/", "not the address that answered"),
            (
                "http://router.lan:5000/d.xml",
                "a host name, not the answering address",
            ),
            (
                "http://rebind.example:5000/d.xml",
                "a host name, not the answering address",
            ),
            (
                "http://[fd77::1]:5000/d.xml",
                "not the address that answered",
            ),
            ("http://127.0.0.1:5000/d.xml", "loopback host"),
        ] {
            match check_location(&url(bad), router) {
                Err(Error::ForbiddenUrl { reason, .. }) => assert_eq!(reason, why, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        // IPv6: miniupnpd answers from fe80::... and announces its ULA.
        let link_local: IpAddr = "fe80::1c2d:3eff:fe4f:5a6b".parse().unwrap();
        assert!(check_location(&url("http://[fd77::1]:5000/rootDesc.xml"), link_local).is_ok());
        assert!(check_location(&url("http://[::1]:5000/d.xml"), link_local).is_err());
        assert!(check_location(&url("http://192.168.77.1:5000/d.xml"), link_local).is_err());
        let ula: IpAddr = "fd77::1".parse().unwrap();
        assert!(check_location(&url("http://[fd77::2]:5000/d.xml"), ula).is_err());
        // An IPv4-mapped answer names its IPv4 address.
        let mapped: IpAddr = "::ffff:192.168.77.1".parse().unwrap();
        assert!(check_location(&url("http://192.168.77.1:5000/d.xml"), mapped).is_ok());
    }

    #[test]
    fn link_local_is_allowed_from_the_responder_itself() {
        let responder: IpAddr = "fe80::1".parse().unwrap();
        assert!(check(&url("http://[fe80::1]:5000/d.xml"), Some(responder)).is_ok());
        assert!(check(&url("http://[fe80::2]:5000/d.xml"), Some(responder)).is_err());
        let responder: IpAddr = "169.254.3.4".parse().unwrap();
        assert!(check(&url("http://169.254.3.4/d.xml"), Some(responder)).is_ok());
        // Loopback stays refused even when the "responder" claims it.
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(check(&url("http://127.0.0.1/d.xml"), Some(lo)).is_err());
    }
}
