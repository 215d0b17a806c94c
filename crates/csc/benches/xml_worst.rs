//! What the worst XML documents within signDoc's bounds cost to read (check, parse, Ids,
//! canonical form), against the reference: a plain document of the same size read the same
//! way. Each shape sits at the bounds of `xml_bounds::SIGN_DOC` and fills what one signDoc
//! body (8 MiB of JSON, Base64) can carry; the figures go to docs/security.md.
//!
//!     cargo bench -p hpki-csc --bench xml_worst

use std::time::{Duration, Instant};

use hpki_csc::xades::XmlToSign;
use hpki_csc::xml_bounds::SIGN_DOC;

/// What one signDoc call can carry: 8 MiB of JSON holds about 6 MiB of document in Base64.
const BUDGET: usize = 6 * 1024 * 1024;

/// Declarations of `n` namespaces, prefixes `{p}0…`.
fn declarations(p: &str, n: usize) -> String {
    (0..n)
        .map(|i| format!(" xmlns:{p}{i}=\"urn:{p}:{i}\""))
        .collect()
}

/// Plain elements with text, as large as the budget and within the node bound.
fn plain() -> String {
    let text = "x".repeat(BUDGET / (SIGN_DOC.nodes / 2));
    let mut s = String::from("<r>");
    while s.len() + text.len() + 16 < BUDGET {
        s.push_str(&format!("<e>{text}</e>"));
    }
    s.push_str("</r>");
    s
}

/// As many elements with the most attributes each as the attribute bound allows: every
/// attribute is compared with the ones before it on its element.
fn attributes() -> String {
    let per = SIGN_DOC.attributes_per_element;
    let elements = SIGN_DOC.attributes / per;
    let one = format!(
        "<e {}/>",
        (0..per)
            .map(|i| format!("a{i}=\"{i}\""))
            .collect::<Vec<_>>()
            .join(" ")
    );
    format!("<r>{}</r>", one.repeat(elements))
}

/// Elements that each declare the most namespaces, under a parent that declares as many: each
/// declaration is compared with the ones in scope.
fn namespaces() -> String {
    let per = SIGN_DOC.namespaces_per_element;
    let elements = SIGN_DOC.attributes / per - 1;
    let child = format!("<p0:e{}/>", declarations("q", per));
    format!(
        "<r{}>{}</r>",
        declarations("p", per),
        child.repeat(elements)
    )
}

/// The most nodes, each in the most namespaces, each using a prefix the canonical form looks
/// up among all of them, nested as deep as allowed.
fn nodes_in_scope() -> String {
    let per = SIGN_DOC.namespaces_per_element;
    let depth = SIGN_DOC.depth - 2;
    let nest = format!("{}{}", "<p1:d>".repeat(depth), "</p1:d>".repeat(depth));
    let leaf = format!("<q{}:e p{}:a=\"1\"/>", per - 1, per - 1);
    let leaves = SIGN_DOC.nodes - depth - 8;
    format!(
        "<r{}><s{}>{nest}{}</s></r>",
        declarations("p", per),
        declarations("q", per),
        leaf.repeat(leaves)
    )
}

/// The best of `runs` reads of `xml`.
fn read(xml: &str, runs: usize) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let started = Instant::now();
        let read = XmlToSign::read(xml.as_bytes());
        let took = started.elapsed();
        assert!(read.is_ok(), "{:?}", read.err().map(|e| e.0));
        best = best.min(took);
    }
    best
}

fn main() {
    let reference = plain();
    let base = read(&reference, 5);
    println!(
        "{:<44} {:>9} {:>10} {:>8}",
        "document (each within SIGN_DOC's bounds)", "size", "read", "× plain"
    );
    println!(
        "{:<44} {:>6} KiB {:>7.1} ms {:>8}",
        "plain elements (reference)",
        reference.len() / 1024,
        base.as_secs_f64() * 1e3,
        "1.0"
    );
    for (name, xml) in [
        ("256 attributes on each of 390 elements", attributes()),
        ("64 namespaces on each of 1,561 elements", namespaces()),
        ("100,000 nodes, 128 namespaces in scope", nodes_in_scope()),
    ] {
        assert!(xml.len() <= BUDGET, "{name}: {} bytes", xml.len());
        let took = read(&xml, 5);
        println!(
            "{:<44} {:>6} KiB {:>7.1} ms {:>8.1}",
            name,
            xml.len() / 1024,
            took.as_secs_f64() * 1e3,
            took.as_secs_f64() / base.as_secs_f64()
        );
    }
}
