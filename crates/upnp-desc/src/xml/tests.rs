use super::*;

/// Run `f` on a thread with a 2 MiB stack, as small as a default spawned thread's: a
/// recursion that escaped the gate would abort the whole test process here.
fn small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

fn gate(doc: impl Into<Vec<u8>>) -> Result<Element, Error> {
    gate_with(doc, Limits::DESCRIPTION)
}

fn gate_with(doc: impl Into<Vec<u8>>, limits: Limits) -> Result<Element, Error> {
    let doc = doc.into();
    small_stack(move || parse(&doc, &limits))
}

#[test]
fn billion_laughs_is_refused() {
    let mut doc =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n");
    for i in 1..10 {
        let prev = if i == 1 {
            "lol".to_owned()
        } else {
            format!("lol{}", i - 1)
        };
        doc.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">\n",
            format!("&{prev};").repeat(10)
        ));
    }
    doc.push_str("]>\n<root>&lol9;</root>");
    assert!(matches!(gate(doc), Err(Error::Doctype)));
}

#[test]
fn quadratic_blowup_is_refused() {
    let big = "a".repeat(30_000);
    let doc = format!(
        "<!DOCTYPE r [<!ENTITY a \"{big}\">]><r>{}</r>",
        "&a;".repeat(1000)
    );
    assert!(matches!(gate(doc), Err(Error::Doctype)));
}

#[test]
fn external_entities_are_refused() {
    for doc in [
        "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r>&x;</r>",
        "<!doctype r SYSTEM \"http://192.0.2.1/evil.dtd\"><r/>",
        "<r><!ENTITY x \"y\"></r>",
    ] {
        assert!(matches!(gate(doc), Err(Error::Doctype)), "{doc}");
    }
}

#[test]
fn an_undeclared_entity_is_malformed_not_expanded() {
    assert!(matches!(
        gate("<r>&undeclared;</r>"),
        Err(Error::Malformed(_))
    ));
}

#[test]
fn deep_nesting_is_refused_before_the_tree_is_built() {
    // Past the byte cap so that the depth check, not the size check, must catch them.
    let roomy = Limits {
        max_bytes: 16 * 1024 * 1024,
        ..Limits::DESCRIPTION
    };
    for levels in [33, 1_000, 10_000, 100_000] {
        let doc = format!("{}{}", "<a>".repeat(levels), "</a>".repeat(levels));
        assert!(
            matches!(gate_with(doc, roomy), Err(Error::TooDeep { limit: 32 })),
            "{levels} levels"
        );
        // Unclosed, and with prefixes and attributes, too.
        let doc = "<x:a b='1'>".repeat(levels);
        assert!(matches!(gate_with(doc, roomy), Err(Error::TooDeep { .. })));
    }
    // At the default caps, 100 000 levels are over the byte cap already.
    let doc = "<a>".repeat(100_000);
    assert!(matches!(gate(doc), Err(Error::TooLarge { .. })));
    let ok = format!("{}{}", "<a>".repeat(32), "</a>".repeat(32));
    assert!(gate(ok).is_ok());
}

#[test]
fn self_closing_tags_and_quoted_angle_brackets_do_not_fool_the_count() {
    let siblings = format!("<r>{}</r>", "<a/>".repeat(1000));
    assert!(gate(siblings).is_ok());
    let quoted = format!("<r>{}</r>", "<a t='/>'></a>".repeat(100));
    assert!(gate(quoted).is_ok());
    // A '>' inside a quoted value must not end the tag early and hide nesting.
    let hidden = "<a t='x>'>".repeat(100);
    assert!(matches!(gate(hidden), Err(Error::TooDeep { .. })));
}

#[test]
fn too_many_elements_and_too_large() {
    let many = format!("<r>{}</r>", "<a/>".repeat(Limits::DESCRIPTION.max_elements));
    assert!(matches!(gate(many), Err(Error::TooManyElements { .. })));
    let large = format!("<r>{}</r>", " ".repeat(Limits::DESCRIPTION.max_bytes));
    assert!(matches!(gate(large), Err(Error::TooLarge { .. })));
}

#[test]
fn truncated_documents_are_malformed() {
    for doc in [
        "<a:",
        "<e attr=",
        "<e attr='v",
        "<r><a>text",
        "<r",
        "<r></",
        "<?xml version='1.0'?>",
    ] {
        assert!(
            matches!(gate(doc), Err(Error::Malformed(_))),
            "{doc:?}: {:?}",
            gate(doc)
        );
    }
}

#[test]
fn bom_whitespace_nuls_and_no_declaration_are_fine() {
    let doc = b"\xef\xbb\xbf \r\n<?xml version=\"1.0\"?>\n<r><v> x </v></r>\n\0\0".to_vec();
    let root = gate(doc).unwrap();
    assert_eq!(child_text(&root, "v").as_deref(), Some("x"));
    assert_eq!(gate("<r/>").unwrap().name, "r");
    assert!(matches!(gate(" \0 "), Err(Error::Empty)));
}

#[test]
fn bytes_that_are_not_utf8_are_read_not_refused() {
    // Invalid UTF-8: replaced.
    let root = gate(b"<r><v>caf\xe9 \xff</v></r>".to_vec()).unwrap();
    assert_eq!(
        child_text(&root, "v").as_deref(),
        Some("caf\u{fffd} \u{fffd}")
    );
    // Declared Latin-1: read as Latin-1.
    let doc = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><r><v>caf\xe9</v></r>".to_vec();
    assert_eq!(
        child_text(&gate(doc).unwrap(), "v").as_deref(),
        Some("caf\u{e9}")
    );
    // Declared Latin-1 yet UTF-8 (and ASCII): read as the UTF-8 it is.
    let doc = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><r><v>caf\u{e9}</v></r>";
    assert_eq!(
        child_text(&gate(doc).unwrap(), "v").as_deref(),
        Some("caf\u{e9}")
    );
}

#[test]
fn prefixes_default_namespaces_comments_and_cdata() {
    let doc = "<s:r xmlns:s='urn:x'><!-- a <comment> --><s:v><![CDATA[a<b]]></s:v><w xmlns='urn:y'> 1 </w></s:r>";
    let root = gate(doc).unwrap();
    assert_eq!(root.name, "r");
    assert_eq!(child_text(&root, "v").as_deref(), Some("a<b"));
    assert_eq!(child_text(&root, "w").as_deref(), Some("1"));
    assert_eq!(child_text(&root, "absent"), None);
}

#[test]
fn predefined_entities_still_decode() {
    let root = gate("<r><v>a &amp; b &lt;c&gt; &#233;</v></r>").unwrap();
    assert_eq!(child_text(&root, "v").as_deref(), Some("a & b <c> é"));
}
