use super::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

const IGD1: &str = "urn:schemas-upnp-org:device:InternetGatewayDevice:1";

#[test]
fn miniupnpd_igd2_response() {
    let r = SearchResponse::parse(&fixture("miniupnpd-2.3.1-response-igd2.txt")).unwrap();
    assert_eq!(r.location, "http://192.168.77.1:5000/rootDesc.xml");
    assert_eq!(
        r.search_target,
        SearchTarget::device("InternetGatewayDevice", 2)
    );
    assert_eq!(
        r.usn.as_deref(),
        Some(
            "uuid:3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b::urn:schemas-upnp-org:device:InternetGatewayDevice:2"
        )
    );
    assert_eq!(r.max_age, Some(120));
    assert_eq!(
        r.server.as_deref().map(|s| s.ends_with("MiniUPnPd/2.3.1")),
        Some(true)
    );
    assert_eq!(r.config_id, Some(1337));
    assert!(r.boot_id.is_some());
    // OPT and 01-NLS are kept; EXT carries nothing and is dropped.
    let names: Vec<_> = r.extra.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["OPT", "01-NLS"]);
    assert_eq!(
        r.extra[0].value,
        "\"http://schemas.upnp.org/upnp/1/0/\"; ns=01"
    );
}

#[test]
fn miniupnpd_service_response_and_rootdevice() {
    let r = SearchResponse::parse(&fixture("miniupnpd-2.3.1-response-all-wanipconnection.txt"))
        .unwrap();
    assert_eq!(r.search_target, SearchTarget::service("WANIPConnection", 2));
    let r = SearchResponse::parse(&fixture("miniupnpd-2.3.1-response-rootdevice.txt")).unwrap();
    assert_eq!(r.search_target, SearchTarget::RootDevice);
}

#[test]
fn miniupnpd_notify_alive_and_byebye() {
    let n = Notify::parse(&fixture("miniupnpd-2.3.1-notify-alive-igd.txt")).unwrap();
    assert_eq!(n.kind, NotifyKind::Alive);
    assert_eq!(n.host, IPV4_MULTICAST);
    assert_eq!(
        n.location.as_deref(),
        Some("http://192.168.77.1:5000/rootDesc.xml")
    );
    assert_eq!(n.max_age, Some(120));
    let n = Notify::parse(&fixture("miniupnpd-2.3.1-notify-byebye.txt")).unwrap();
    assert_eq!(n.kind, NotifyKind::ByeBye);
    assert_eq!(n.notification_type, SearchTarget::RootDevice);
    assert!(
        n.usn
            .starts_with("uuid:3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b")
    );
}

#[test]
fn miniupnpc_msearch() {
    let m = MSearch::parse(&fixture("miniupnpc-2.2.4-msearch.txt")).unwrap();
    assert_eq!(m.host, IPV4_MULTICAST);
    assert_eq!(m.mx, Some(2));
    assert_eq!(m.search_target.to_string(), IGD1);
    assert_eq!(m.user_agent, None);
}

#[test]
fn every_fixture_round_trips() {
    let dir = format!("{}/tests/data", env!("CARGO_MANIFEST_DIR"));
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let message = Message::parse(&bytes).unwrap();
        assert_eq!(Message::parse(&message.encode().unwrap()).unwrap(), message);
        count += 1;
    }
    assert!(count >= 5);
}

#[test]
fn tolerates_case_spaces_bare_lf_and_no_final_blank_line() {
    let text = "http/1.1   200 ok\n  location :  http://10.0.0.1/d.xml  \nst:upnp:rootdevice\nUsn: uuid:x::upnp:rootdevice";
    let r = SearchResponse::parse(text.as_bytes()).unwrap();
    assert_eq!(r.location, "http://10.0.0.1/d.xml");
    assert_eq!(r.search_target, SearchTarget::RootDevice);
    assert_eq!(r.usn.as_deref(), Some("uuid:x::upnp:rootdevice"));
}

#[test]
fn status_without_reason_phrase_and_http_1_0() {
    let r = SearchResponse::parse(b"HTTP/1.0 200\r\nLOCATION: http://a/\r\nST: ssdp:all\r\n\r\n");
    assert!(r.is_ok(), "{r:?}");
}

#[test]
fn repeated_headers_first_wins_rest_kept() {
    let text =
        "HTTP/1.1 200 OK\r\nLOCATION: http://a/1\r\nLOCATION: http://a/2\r\nST: ssdp:all\r\n\r\n";
    let r = SearchResponse::parse(text.as_bytes()).unwrap();
    assert_eq!(r.location, "http://a/1");
    assert_eq!(r.extra, vec![Header::new("LOCATION", "http://a/2")]);
}

#[test]
fn unparsable_numbers_stay_in_extra() {
    let text = "HTTP/1.1 200 OK\r\nLOCATION: http://a/\r\nST: ssdp:all\r\nBOOTID.UPNP.ORG: soon\r\nCACHE-CONTROL: no-cache\r\nBOOTID.UPNP.ORG: 7\r\n\r\n";
    let r = SearchResponse::parse(text.as_bytes()).unwrap();
    assert_eq!(r.boot_id, Some(7));
    assert_eq!(r.max_age, None);
    assert_eq!(
        r.extra,
        vec![
            Header::new("BOOTID.UPNP.ORG", "soon"),
            Header::new("CACHE-CONTROL", "no-cache")
        ]
    );
}

#[test]
fn max_age_among_other_directives() {
    assert_eq!(
        parse_max_age("no-cache=\"Ext\", max-age = 1800"),
        Some(1800)
    );
    assert_eq!(parse_max_age("MAX-AGE=5"), Some(5));
    assert_eq!(parse_max_age("max-age=-5"), None);
    assert_eq!(parse_max_age("max-age=99999999999"), None);
}

#[test]
fn body_after_blank_line_is_ignored() {
    let text = "HTTP/1.1 200 OK\r\nLOCATION: http://a/\r\nST: ssdp:all\r\n\r\nnot a header\r\n";
    assert!(SearchResponse::parse(text.as_bytes()).is_ok());
}

#[test]
fn typed_errors() {
    let cases: &[(&[u8], &str)] = &[
        (b"", "Empty"),
        (b"\r\n\r\n", "Empty"),
        (b"\xff\xfe", "NotUtf8"),
        (b"GET / HTTP/1.1\r\n\r\n", "UnknownStartLine"),
        (b"NOTIFY / HTTP/1.1\r\n\r\n", "UnknownStartLine"),
        (b"M-SEARCH * HTTP/2\r\n\r\n", "UnknownStartLine"),
        (b"HTTP/1.1 OK\r\n\r\n", "UnknownStartLine"),
        (b"HTTP/1.1 404 Not Found\r\n\r\n", "Status"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "MalformedHeader"),
        (b"HTTP/1.1 200 OK\r\n: empty name\r\n\r\n", "MalformedHeader"),
        (b"HTTP/1.1 200 OK\r\nbad name: x\r\n\r\n", "MalformedHeader"),
        (b"HTTP/1.1 200 OK\r\nST: ssdp:all\r\n\r\n", "MissingHeader"),
        (b"HTTP/1.1 200 OK\r\nLOCATION: http://a/\r\nST:\r\n\r\n", "MissingHeader"),
        (b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNT: upnp:rootdevice\r\nUSN: u\r\nNTS: ssdp:alive\r\n\r\n", "MissingHeader"),
        (b"NOTIFY * HTTP/1.1\r\nHOST: nowhere\r\nNT: upnp:rootdevice\r\nUSN: u\r\nNTS: ssdp:byebye\r\n\r\n", "InvalidHeader"),
        (b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNT: upnp:rootdevice\r\nUSN: u\r\nNTS: ssdp:sleepy\r\n\r\n", "InvalidHeader"),
        (b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:other\"\r\nST: ssdp:all\r\n\r\n", "InvalidHeader"),
        (b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nST: ssdp:all\r\n\r\n", "MissingHeader"),
    ];
    for (bytes, variant) in cases {
        let err = Message::parse(bytes).unwrap_err();
        assert!(
            format!("{err:?}").starts_with(variant),
            "{:?}: expected {variant}, got {err:?}",
            String::from_utf8_lossy(bytes)
        );
    }
}

#[test]
fn too_large() {
    let mut big = b"HTTP/1.1 200 OK\r\nLOCATION: http://a/\r\nST: ssdp:all\r\nX: ".to_vec();
    big.resize(MAX_MESSAGE_SIZE + 1, b'a');
    assert!(matches!(
        Message::parse(&big),
        Err(Error::TooLarge { size, limit: MAX_MESSAGE_SIZE }) if size == MAX_MESSAGE_SIZE + 1
    ));
}

#[test]
fn wrong_kind() {
    let err = Notify::parse(&fixture("miniupnpd-2.3.1-response-igd2.txt")).unwrap_err();
    assert!(matches!(
        err,
        Error::UnexpectedKind {
            expected: "NOTIFY",
            found: "search response"
        }
    ));
}

#[test]
fn host_without_port_and_ipv6_hosts() {
    let m = MSearch::parse(
        b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250\r\nMAN: ssdp:discover\r\nST: ssdp:all\r\n\r\n",
    )
    .unwrap();
    assert_eq!(m.host, IPV4_MULTICAST);
    for (host, want) in [
        ("[FF02::C]:1900", IPV6_LINK_LOCAL),
        ("[ff05::c]:1900", IPV6_SITE_LOCAL),
    ] {
        let text = format!(
            "M-SEARCH * HTTP/1.1\r\nHOST: {host}\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: ssdp:all\r\n\r\n"
        );
        let m = MSearch::parse(text.as_bytes()).unwrap();
        assert_eq!(m.host, want);
        let encoded = String::from_utf8(m.encode().unwrap()).unwrap();
        assert!(encoded.contains(&format!("HOST: {}", host.to_uppercase())));
    }
}

#[test]
fn msearch_encoding_is_what_routers_expect() {
    let mut m = MSearch::new(SearchTarget::device("InternetGatewayDevice", 1), 2);
    m.user_agent = Some("linux/1.0 UPnP/2.0 test/1".into());
    let text = String::from_utf8(m.encode().unwrap()).unwrap();
    assert_eq!(
        text,
        "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 2\r\n\
         ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\
         USER-AGENT: linux/1.0 UPnP/2.0 test/1\r\n\r\n"
    );
}

#[test]
fn encode_refuses_header_injection() {
    let mut r = SearchResponse::new("http://a/\r\nEVIL: 1", SearchTarget::All);
    assert!(matches!(r.encode(), Err(Error::Unencodable { .. })));
    r.location = "http://a/".into();
    r.extra.push(Header::new("Bad Name", "x"));
    assert!(matches!(r.encode(), Err(Error::Unencodable { .. })));
    r.extra = vec![Header::new("X", " padded")];
    assert!(matches!(r.encode(), Err(Error::Unencodable { .. })));
    let mut n = Notify::parse(&fixture("miniupnpd-2.3.1-notify-alive-igd.txt")).unwrap();
    n.location = None;
    assert!(matches!(n.encode(), Err(Error::MissingHeader("LOCATION"))));
}

#[test]
fn search_targets() {
    use SearchTarget as T;
    assert_eq!(parse_target("SSDP:ALL"), T::All);
    assert_eq!(parse_target("upnp:RootDevice"), T::RootDevice);
    assert_eq!(parse_target("uuid:abc"), T::Uuid("abc".into()));
    assert_eq!(parse_target("uuid:"), T::Other("uuid:".into()));
    assert_eq!(parse_target(IGD1), T::device("InternetGatewayDevice", 1));
    assert_eq!(
        parse_target("urn:schemas-wifialliance-org:service:WFAWLANConfig:1"),
        T::Service(UrnType {
            domain: "schemas-wifialliance-org".into(),
            name: "WFAWLANConfig".into(),
            version: 1
        })
    );
    for other in [
        "urn:a:device:b",
        "urn:a:device:b:x",
        "urn:a:device:b:+1",
        "urn:a:widget:b:1",
        "urn::device:b:1",
        "urn:a:device:b:1:2",
        "nonsense",
    ] {
        assert_eq!(parse_target(other), T::Other(other.into()), "{other}");
    }
    assert_eq!(T::device("InternetGatewayDevice", 1).to_string(), IGD1);
}

#[test]
fn version_aware_satisfies() {
    let igd1 = SearchTarget::device("InternetGatewayDevice", 1);
    let igd2 = SearchTarget::device("InternetGatewayDevice", 2);
    assert!(igd2.satisfies(&igd1));
    assert!(igd1.satisfies(&igd1));
    assert!(!igd1.satisfies(&igd2));
    assert!(igd1.satisfies(&SearchTarget::All));
    assert!(!SearchTarget::service("InternetGatewayDevice", 2).satisfies(&igd1));
    assert!(SearchTarget::RootDevice.satisfies(&SearchTarget::RootDevice));
}

#[test]
fn long_values_are_shortened_in_errors() {
    let line = format!("GET {} HTTP/1.1", "x".repeat(5000));
    let Err(Error::UnknownStartLine(echoed)) = Message::parse(line.as_bytes()) else {
        panic!("expected UnknownStartLine");
    };
    assert!(echoed.len() <= crate::error::MAX_ECHO + '…'.len_utf8());
}
