use super::*;

fn entry(id: u16, expires_at: u64) -> PinholeOut {
    PinholeOut {
        gateway: "http://[2001:db8:77::1]:5000/rootDesc.xml".into(),
        unique_id: id,
        proto: "UDP".into(),
        internal_client: "2001:db8:77::10".parse().unwrap(),
        internal_port: 7777,
        remote_host: None,
        remote_port: 0,
        lease_seconds: 600,
        expires_at,
    }
}

#[test]
fn a_record_round_trips_and_ended_leases_are_dropped() {
    let text = serde_json::to_string(&[entry(1, 2000), entry(2, 500)]).unwrap();
    assert_eq!(parse_record(&text, 1000), [entry(1, 2000)]);
}

#[test]
fn a_damaged_record_is_read_as_far_as_it_parses() {
    assert!(parse_record("not json", 0).is_empty());
    assert!(parse_record("{\"a\": 1}", 0).is_empty());
    let good = serde_json::to_value(entry(3, 2000)).unwrap();
    let text = format!(
        "[{good}, {{\"unique_id\": 70000}}, {{\"internal_client\": \"fe80::1\\u001b[2J\"}}, 7]"
    );
    assert_eq!(parse_record(&text, 1000), [entry(3, 2000)]);
}

#[test]
fn at_most_the_newest_entries_are_kept() {
    let many: Vec<PinholeOut> = (0..300).map(|id| entry(id, 2000)).collect();
    let kept = parse_record(&serde_json::to_string(&many).unwrap(), 1000);
    assert_eq!(kept.len(), MAX_RECORDED);
    assert_eq!(kept.first().map(|e| e.unique_id), Some(44));
}

#[test]
fn a_line_escapes_what_came_from_the_file() {
    let mut out = entry(4, u64::MAX);
    out.proto = "U\u{1b}[2J".into();
    let line = out.line();
    assert!(!line.contains('\u{1b}'), "{line}");
    assert!(line.starts_with("id 4: "));
}
