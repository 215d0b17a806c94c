//! Exclusive XML canonicalization (W3C xml-exc-c14n, without comments, no inclusive prefixes)
//! of a whole parsed document: what an enveloped signature's `URI=""` reference digests
//! after the enveloped-signature transform (the signature is added after digesting, as the
//! root element's last child, so "the document without it" is the document as it came).
//!
//! Written for documents roxmltree parsed (DTDs refused, entities expanded, line ends and
//! attribute values normalised by the parser as XML requires); the prefixes are the ones the
//! document wrote, read from its text.

use std::collections::BTreeMap;

const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

fn escape_text(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

fn escape_attribute(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

/// The prefix of a qualified name as written (`""` for none).
fn prefix_of(qname: &str) -> &str {
    qname.split_once(':').map_or("", |(p, _)| p)
}

/// The element's name as written in the document.
fn element_qname<'a>(xml: &'a str, node: &roxmltree::Node) -> &'a str {
    let after = &xml[node.range().start + 1..];
    let end = after
        .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
        .unwrap_or(after.len());
    &after[..end]
}

/// The namespace a prefix stands for where `node` is (`""` for no default namespace).
fn in_scope<'a>(node: &roxmltree::Node<'a, '_>, prefix: &str) -> &'a str {
    node.namespaces()
        .find(|ns| ns.name().unwrap_or("") == prefix)
        .map_or("", |ns| ns.uri())
}

/// The canonical form of `doc` (parsed from `xml`).
pub fn canonicalize(xml: &str, doc: &roxmltree::Document) -> String {
    let mut out = String::with_capacity(xml.len());
    let root = doc.root_element();
    let mut before = true;
    for n in doc.root().children() {
        if n == root {
            element(xml, &n, &BTreeMap::new(), &mut out);
            before = false;
        } else if let Some(pi) = n.pi() {
            // Processing instructions around the root element, each on its own line.
            if !before {
                out.push('\n');
            }
            out.push_str("<?");
            out.push_str(pi.target);
            if let Some(v) = pi.value.filter(|v| !v.is_empty()) {
                out.push(' ');
                out.push_str(v);
            }
            out.push_str("?>");
            if before {
                out.push('\n');
            }
        }
    }
    out
}

fn element(
    xml: &str,
    node: &roxmltree::Node,
    rendered: &BTreeMap<String, String>,
    out: &mut String,
) {
    let qname = element_qname(xml, node);
    // The prefixes this element visibly uses: its own, and its qualified attributes'.
    let mut used: Vec<&str> = vec![prefix_of(qname)];
    let mut attributes: Vec<(&str, &str, &str, &str)> = Vec::new();
    for a in node.attributes() {
        let aq = &xml[a.range_qname()];
        let ns = a.namespace().unwrap_or("");
        if ns.is_empty() {
            attributes.push(("", a.name(), aq, a.value()));
        } else {
            if ns != XML_NS {
                used.push(prefix_of(aq));
            }
            attributes.push((ns, a.name(), aq, a.value()));
        }
    }
    let mut scope = rendered.clone();
    let mut declarations: Vec<(String, String)> = Vec::new();
    used.sort_unstable();
    used.dedup();
    for p in used {
        let uri = in_scope(node, p);
        let shown = rendered.get(p).map(String::as_str);
        let needed = if p.is_empty() {
            // The default namespace: declared when it differs from what the output above
            // says (an empty one only to undo a rendered non-empty one).
            shown.unwrap_or("") != uri
        } else {
            shown != Some(uri)
        };
        if needed {
            declarations.push((p.to_owned(), uri.to_owned()));
            scope.insert(p.to_owned(), uri.to_owned());
        }
    }
    declarations.sort();
    // Attributes by namespace URI (none first), then local name.
    attributes.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    out.push('<');
    out.push_str(qname);
    for (p, uri) in &declarations {
        if p.is_empty() {
            out.push_str(" xmlns=\"");
        } else {
            out.push_str(" xmlns:");
            out.push_str(p);
            out.push_str("=\"");
        }
        escape_attribute(uri, out);
        out.push('"');
    }
    for (_, _, aq, value) in &attributes {
        out.push(' ');
        out.push_str(aq);
        out.push_str("=\"");
        escape_attribute(value, out);
        out.push('"');
    }
    out.push('>');
    for child in node.children() {
        if child.is_element() {
            element(xml, &child, &scope, out);
        } else if child.is_text() {
            escape_text(child.text().unwrap_or(""), out);
        } else if let Some(pi) = child.pi() {
            out.push_str("<?");
            out.push_str(pi.target);
            if let Some(v) = pi.value.filter(|v| !v.is_empty()) {
                out.push(' ');
                out.push_str(v);
            }
            out.push_str("?>");
        }
        // Comments are left out (the without-comments form).
    }
    out.push_str("</");
    out.push_str(qname);
    out.push('>');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c14n(xml: &str) -> String {
        let doc = roxmltree::Document::parse(xml).expect("xml");
        canonicalize(xml, &doc)
    }

    #[test]
    fn the_examples_of_the_specifications_come_out_as_they_say() {
        // XML C14N 1.0, 3.2 (whitespace in content) and 3.3 (start and end tags), exclusive.
        assert_eq!(
            c14n("<?xml version=\"1.0\"?>\n<doc>\n   <clean>   </clean>\n   <dirty>   A   B   </dirty>\n</doc>"),
            "<doc>\n   <clean>   </clean>\n   <dirty>   A   B   </dirty>\n</doc>"
        );
        assert_eq!(
            c14n("<doc><e1   /><e2   ></e2><e3   name = \"elem3\"   id=\"elem3\"   /><e5 a:attr=\"out\" b:attr=\"sorted\" attr2=\"all\" attr=\"I'm\" xmlns:b=\"http://www.ietf.org\" xmlns:a=\"http://www.w3.org\" xmlns=\"http://example.org\"/></doc>"),
            "<doc><e1></e1><e2></e2><e3 id=\"elem3\" name=\"elem3\"></e3><e5 xmlns=\"http://example.org\" xmlns:a=\"http://www.w3.org\" xmlns:b=\"http://www.ietf.org\" attr=\"I'm\" attr2=\"all\" b:attr=\"sorted\" a:attr=\"out\"></e5></doc>"
        );
        // Exclusive: a namespace is rendered where it is used, not where it was declared.
        assert_eq!(
            c14n("<a:root xmlns:a=\"urn:a\" xmlns:b=\"urn:b\" xmlns:unused=\"urn:u\"><b:x/><a:y b:at=\"1\"/></a:root>"),
            "<a:root xmlns:a=\"urn:a\"><b:x xmlns:b=\"urn:b\"></b:x><a:y xmlns:b=\"urn:b\" b:at=\"1\"></a:y></a:root>"
        );
        // Comments go, text and attributes are escaped, an inner default namespace is undone.
        assert_eq!(
            c14n("<r xmlns=\"urn:r\"><!-- c --><t a=\"&lt;&quot;&#9;\">x &amp; &lt;y&gt;</t><n xmlns=\"\"/></r>"),
            "<r xmlns=\"urn:r\"><t a=\"&lt;&quot;&#x9;\">x &amp; &lt;y&gt;</t><n xmlns=\"\"></n></r>"
        );
    }
}
