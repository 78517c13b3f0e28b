use proptest::prelude::*;

use super::*;

/// A header value as a device could send it: printable, no line breaks, no surrounding space.
fn value() -> impl Strategy<Value = String> {
    "[!-~]([ -~]{0,30}[!-~])?|[a-zé€][a-zé€ ]{0,3}[a-z]"
}

fn urn_part() -> impl Strategy<Value = String> {
    "[A-Za-z0-9.-]{1,20}"
}

fn urn_type() -> impl Strategy<Value = UrnType> {
    (urn_part(), urn_part(), any::<u32>()).prop_map(|(domain, name, version)| UrnType {
        domain,
        name,
        version,
    })
}

fn search_target() -> impl Strategy<Value = SearchTarget> {
    prop_oneof![
        Just(SearchTarget::All),
        Just(SearchTarget::RootDevice),
        "[a-f0-9-]{1,36}".prop_map(SearchTarget::Uuid),
        urn_type().prop_map(SearchTarget::Device),
        urn_type().prop_map(SearchTarget::Service),
        // Only values that do not read as one of the forms above stay `Other`.
        value()
            .prop_map(SearchTarget::Other)
            .prop_filter("reads as another form", |t| parse_target(&t.to_string())
                == *t),
    ]
}

/// A header none of the typed fields takes.
fn header() -> impl Strategy<Value = Header> {
    ("X-[A-Za-z0-9-]{1,12}|01-NLS|OPT|DATE", value()).prop_map(|(n, v)| Header::new(n, v))
}

fn host() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        Just(IPV4_MULTICAST),
        Just(IPV6_LINK_LOCAL),
        Just(IPV6_SITE_LOCAL),
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
    ]
}

fn msearch() -> impl Strategy<Value = MSearch> {
    (
        host(),
        search_target(),
        proptest::option::of(any::<u8>()),
        proptest::option::of(value()),
        proptest::collection::vec(header(), 0..4),
    )
        .prop_map(|(host, search_target, mx, user_agent, extra)| MSearch {
            host,
            search_target,
            mx,
            user_agent,
            extra,
        })
}

fn search_response() -> impl Strategy<Value = SearchResponse> {
    (
        (value(), search_target(), proptest::option::of(value())),
        (
            proptest::option::of(any::<u32>()),
            proptest::option::of(value()),
            proptest::option::of(any::<u32>()),
            proptest::option::of(any::<u32>()),
            proptest::option::of(any::<u16>()),
        ),
        proptest::collection::vec(header(), 0..4),
    )
        .prop_map(
            |(
                (location, search_target, usn),
                (max_age, server, boot_id, config_id, search_port),
                extra,
            )| {
                SearchResponse {
                    location,
                    search_target,
                    usn,
                    max_age,
                    server,
                    boot_id,
                    config_id,
                    search_port,
                    extra,
                }
            },
        )
}

fn notify_kind() -> impl Strategy<Value = NotifyKind> {
    prop_oneof![
        Just(NotifyKind::Alive),
        Just(NotifyKind::ByeBye),
        Just(NotifyKind::Update)
    ]
}

fn notify() -> impl Strategy<Value = Notify> {
    (
        (host(), notify_kind(), search_target(), value(), value()),
        (
            proptest::option::of(any::<u32>()),
            proptest::option::of(value()),
            proptest::option::of(any::<u32>()),
            proptest::option::of(any::<u32>()),
            proptest::option::of(any::<u32>()),
            proptest::option::of(any::<u16>()),
        ),
        proptest::collection::vec(header(), 0..4),
        any::<bool>(),
    )
        .prop_map(
            |(
                (host, kind, notification_type, usn, location),
                (max_age, server, boot_id, config_id, next_boot_id, search_port),
                extra,
                byebye_has_location,
            )| Notify {
                host,
                kind,
                notification_type,
                usn,
                location: (kind != NotifyKind::ByeBye || byebye_has_location).then_some(location),
                max_age,
                server,
                boot_id,
                config_id,
                next_boot_id,
                search_port,
                extra,
            },
        )
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        msearch().prop_map(Message::MSearch),
        search_response().prop_map(Message::SearchResponse),
        notify().prop_map(Message::Notify),
    ]
}

/// Rewrite an encoded message the way sloppy devices do: header names in another case, bare
/// LF line ends, spaces around values, no final blank line.
fn sloppy(encoded: &[u8], lower: bool, bare_lf: bool) -> Vec<u8> {
    let text = String::from_utf8(encoded.to_vec()).unwrap();
    let mut out = String::new();
    for (i, line) in text.trim_end().split("\r\n").enumerate() {
        if i > 0 {
            let (name, value) = line.split_once(':').unwrap();
            let name = if lower {
                name.to_lowercase()
            } else {
                name.to_owned()
            };
            out.push_str(&format!("{name} :  {value}  "));
        } else {
            out.push_str(line);
        }
        out.push_str(if bare_lf { "\n" } else { "\r\n" });
    }
    out.into_bytes()
}

proptest! {
    #[test]
    fn message_round_trips(m in message()) {
        let encoded = m.encode().unwrap();
        prop_assert_eq!(Message::parse(&encoded).unwrap(), m);
    }

    #[test]
    fn sloppy_formatting_decodes_the_same(mut m in message(), lower: bool, bare_lf: bool) {
        let encoded = sloppy(&m.encode().unwrap(), lower, bare_lf);
        if lower {
            // Names of kept headers stay as received.
            let extra = match &mut m {
                Message::MSearch(x) => &mut x.extra,
                Message::SearchResponse(x) => &mut x.extra,
                Message::Notify(x) => &mut x.extra,
            };
            extra.iter_mut().for_each(|h| h.name.make_ascii_lowercase());
        }
        prop_assert_eq!(Message::parse(&encoded).unwrap(), m);
    }

    #[test]
    fn search_target_round_trips(t in search_target()) {
        prop_assert_eq!(parse_target(&t.to_string()), t);
    }

    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = Message::parse(&bytes);
    }

    #[test]
    fn parse_never_panics_on_near_messages(
        start in prop_oneof![
            Just("HTTP/1.1 200 OK"), Just("NOTIFY * HTTP/1.1"), Just("M-SEARCH * HTTP/1.1")
        ],
        lines in proptest::collection::vec("[ -~]{0,40}", 0..12),
        sep in prop_oneof![Just("\r\n"), Just("\n")],
    ) {
        let text = format!("{start}{sep}{}", lines.join(sep));
        if let Ok(m) = Message::parse(text.as_bytes()) {
            // What decodes re-encodes, unless a kept value cannot be written back.
            if let Ok(encoded) = m.encode() {
                prop_assert_eq!(Message::parse(&encoded).unwrap(), m);
            }
        }
    }
}
