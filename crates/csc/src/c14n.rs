//! Exclusive XML canonicalization (W3C xml-exc-c14n, without comments, no inclusive prefixes)
//! of a whole parsed document: what an enveloped signature's `URI=""` reference digests
//! after the enveloped-signature transform (the signature is added after digesting, as the
//! root element's last child, so "the document without it" is the document as it came).
//!
//! Written for documents roxmltree parsed (DTDs refused, entities expanded, line ends and
//! attribute values normalised by the parser as XML requires); the prefixes are the ones the
//! document wrote, read from its text.

use std::collections::BTreeMap;
use std::rc::Rc;

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
            element(xml, n, &mut out);
            before = false;
        } else if let Some(pi) = n.pi() {
            // Processing instructions around the root element, each on its own line.
            if !before {
                out.push('\n');
            }
            processing_instruction(&pi, &mut out);
            if before {
                out.push('\n');
            }
        }
    }
    out
}

fn processing_instruction(pi: &roxmltree::PI, out: &mut String) {
    out.push_str("<?");
    out.push_str(pi.target);
    if let Some(v) = pi.value.filter(|v| !v.is_empty()) {
        out.push(' ');
        out.push_str(v);
    }
    out.push_str("?>");
}

/// The namespaces the output has declared where an element starts (prefix to URI).
type Rendered = Rc<BTreeMap<String, String>>;

/// What is left to write, innermost last: the walk keeps its own stack, so a document nested
/// however deep costs heap, never the thread's stack.
enum Step<'a, 'input, 'x> {
    Node(roxmltree::Node<'a, 'input>, Rendered),
    EndTag(&'x str),
}

/// The canonical form of the element `top` and everything in it.
fn element(xml: &str, top: roxmltree::Node, out: &mut String) {
    let mut steps = vec![Step::Node(top, Rendered::default())];
    while let Some(step) = steps.pop() {
        let (node, rendered) = match step {
            Step::EndTag(qname) => {
                out.push_str("</");
                out.push_str(qname);
                out.push('>');
                continue;
            }
            Step::Node(node, rendered) => (node, rendered),
        };
        if node.is_text() {
            escape_text(node.text().unwrap_or(""), out);
            continue;
        }
        if let Some(pi) = node.pi() {
            processing_instruction(&pi, out);
            continue;
        }
        if !node.is_element() {
            // Comments are left out (the without-comments form).
            continue;
        }
        let qname = element_qname(xml, &node);
        let scope = start_tag(xml, &node, qname, &rendered, out);
        steps.push(Step::EndTag(qname));
        for child in node.children().rev() {
            steps.push(Step::Node(child, scope.clone()));
        }
    }
}

/// Writes the element's start tag; gives the namespaces rendered for its children.
fn start_tag(
    xml: &str,
    node: &roxmltree::Node,
    qname: &str,
    rendered: &Rendered,
    out: &mut String,
) -> Rendered {
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
    if declarations.is_empty() {
        return rendered.clone();
    }
    let mut scope = BTreeMap::clone(rendered);
    scope.extend(declarations);
    Rc::new(scope)
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

    #[test]
    fn a_document_nested_100000_deep_is_walked_without_the_stack() {
        // The walk once recursed per element: 5,000 levels overflowed a worker thread's stack
        // and took the whole process down. Here on a small thread's stack, far deeper.
        let depth = 100_000;
        let xml = format!("{}x{}", "<a>".repeat(depth), "</a>".repeat(depth));
        let out = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                let options = roxmltree::ParsingOptions {
                    nodes_limit: u32::MAX,
                    ..roxmltree::ParsingOptions::default()
                };
                let doc = roxmltree::Document::parse_with_options(&xml, options).expect("xml");
                canonicalize(&xml, &doc) == xml
            })
            .expect("thread")
            .join()
            .expect("no stack overflow");
        assert!(
            out,
            "the canonical form of plain nesting is the text itself"
        );
    }
}
