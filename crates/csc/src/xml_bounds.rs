//! What an XML document may cost, checked in one linear pass over its text before anything
//! parses it.
//!
//! roxmltree, like most XML parsers, does work that grows with the square of some counts: it
//! compares each attribute of an element with the ones before it (duplicates), and each
//! namespace declaration with those already in scope. A document of a few dozen kilobytes
//! with 40,000 attributes on one element, or thousands of namespace declarations on nested
//! elements, costs seconds of processor time. Nesting costs stack in any recursive walk. So a
//! document is first read here, without recursion and in time linear in its length, and
//! refused (with the bound it broke) when it nests too deep, has too many attributes or
//! namespace declarations on one element, too many namespaces in scope, or too many nodes
//! or attributes in all; when it declares an encoding other than UTF-8 (the text is signed
//! as the UTF-8 it arrives in, so a verifier must read it as UTF-8 too); when it has a DTD;
//! and when it declares a relative namespace URI (canonical XML cannot process one).
//!
//! The pass reads only as much structure as the bounds need; well-formedness is roxmltree's to
//! judge afterwards. Where the text stops making sense here (a tag that is not closed, an
//! attribute without a value), the pass stops and says nothing: roxmltree refuses the
//! document at that point or earlier, and everything before it was counted.

/// The bounds (see `docs/security.md`).
#[derive(Clone, Copy, Debug)]
pub struct XmlBounds {
    /// Elements open at once (the root is 1).
    pub depth: usize,
    /// Attributes on one element, namespace declarations included.
    pub attributes_per_element: usize,
    /// Namespace declarations on one element.
    pub namespaces_per_element: usize,
    /// Namespace declarations in scope at any element (its own and its ancestors').
    pub namespaces_in_scope: usize,
    /// Attributes in the whole document.
    pub attributes: usize,
    /// Elements, text runs, comments and processing instructions in the whole document.
    pub nodes: usize,
}

/// The bounds signDoc applies to every XML document (prescriptions and any other).
pub const SIGN_DOC: XmlBounds = XmlBounds {
    depth: 256,
    attributes_per_element: 256,
    namespaces_per_element: 64,
    namespaces_in_scope: 128,
    attributes: 100_000,
    nodes: 100_000,
};

/// Why a document is refused before parsing.
#[derive(Debug, PartialEq, Eq)]
pub struct OutOfBounds(pub String);

fn refuse(why: impl Into<String>) -> OutOfBounds {
    OutOfBounds(why.into())
}

/// Checks `xml` against `bounds` (see the module's documentation).
pub fn check(xml: &str, bounds: &XmlBounds) -> Result<(), OutOfBounds> {
    let text = xml.strip_prefix('\u{feff}').unwrap_or(xml);
    declared_encoding(text)?;
    Scan {
        b: text.as_bytes(),
        at: 0,
        bounds,
        open: Vec::new(),
        in_scope: 0,
        nodes: 0,
        attributes: 0,
    }
    .run()
}

/// Refuses an XML declaration that names an encoding other than UTF-8.
fn declared_encoding(text: &str) -> Result<(), OutOfBounds> {
    let Some(rest) = text.strip_prefix("<?xml") else {
        return Ok(());
    };
    if !rest.starts_with(|c: char| c.is_ascii_whitespace()) {
        return Ok(());
    }
    let Some(end) = rest.find("?>") else {
        return Ok(());
    };
    let declaration = &rest[..end];
    let Some(at) = declaration.find("encoding") else {
        return Ok(());
    };
    let value = declaration[at + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')
        .map(str::trim_start)
        .and_then(|v| {
            let quote = v.chars().next().filter(|q| *q == '"' || *q == '\'')?;
            v[1..].split(quote).next()
        });
    match value {
        Some(name) if name.eq_ignore_ascii_case("UTF-8") => Ok(()),
        Some(name) => Err(refuse(format!(
            "the document declares encoding=\"{name}\"; it is signed as the UTF-8 text it arrives in, so send it in UTF-8 and declare encoding=\"UTF-8\" (or no encoding)"
        ))),
        None => Ok(()),
    }
}

/// Whether a namespace URI is absolute (has a scheme, RFC 3986): canonical XML cannot process
/// a relative one.
fn absolute_uri(raw: &[u8]) -> bool {
    match raw.iter().position(|&c| c == b':') {
        Some(colon) if colon > 0 => {
            raw[0].is_ascii_alphabetic()
                && raw[1..colon]
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        }
        _ => false,
    }
}

struct Scan<'a> {
    b: &'a [u8],
    at: usize,
    bounds: &'a XmlBounds,
    /// For each open element, how many namespaces it declared.
    open: Vec<usize>,
    in_scope: usize,
    nodes: usize,
    attributes: usize,
}

impl Scan<'_> {
    fn find(&self, from: usize, what: &[u8]) -> Option<usize> {
        self.b
            .get(from..)?
            .windows(what.len())
            .position(|w| w == what)
            .map(|i| from + i)
    }

    fn node(&mut self) -> Result<(), OutOfBounds> {
        self.nodes += 1;
        if self.nodes > self.bounds.nodes {
            return Err(refuse(format!(
                "the document has more than {} nodes (elements, text, comments)",
                self.bounds.nodes
            )));
        }
        Ok(())
    }

    fn skip_space(&mut self) {
        while self.b.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn run(mut self) -> Result<(), OutOfBounds> {
        let mut text_since = 0;
        while let Some(lt) = self.b[self.at..].iter().position(|&c| c == b'<') {
            let lt = self.at + lt;
            if self.b[text_since..lt]
                .iter()
                .any(|c| !c.is_ascii_whitespace())
            {
                self.node()?;
            }
            let rest = &self.b[lt..];
            let end = if rest.starts_with(b"<!--") {
                self.node()?;
                self.find(lt + 4, b"-->").map(|e| e + 3)
            } else if rest.starts_with(b"<![CDATA[") {
                self.node()?;
                self.find(lt + 9, b"]]>").map(|e| e + 3)
            } else if rest.starts_with(b"<?") {
                self.node()?;
                self.find(lt + 2, b"?>").map(|e| e + 2)
            } else if rest.starts_with(b"<!") {
                return Err(refuse(
                    "the document has a DTD (<!DOCTYPE …>); documents are signed without DTDs",
                ));
            } else if rest.starts_with(b"</") {
                if let Some(declared) = self.open.pop() {
                    self.in_scope -= declared;
                }
                self.find(lt + 2, b">").map(|e| e + 1)
            } else {
                self.at = lt + 1;
                match self.start_tag()? {
                    Some(end) => Some(end),
                    None => return Ok(()),
                }
            };
            let Some(end) = end else {
                return Ok(());
            };
            self.at = end;
            text_since = end;
        }
        if self.b[text_since..]
            .iter()
            .any(|c| !c.is_ascii_whitespace())
        {
            self.node()?;
        }
        Ok(())
    }

    /// Reads a start tag from just after its `<`: its attributes counted, the element opened
    /// unless it is empty (`/>`). `None` where the tag stops making sense.
    fn start_tag(&mut self) -> Result<Option<usize>, OutOfBounds> {
        self.node()?;
        let name_end = self.b[self.at..]
            .iter()
            .position(|&c| c.is_ascii_whitespace() || c == b'/' || c == b'>')
            .map(|i| self.at + i);
        let Some(name_end) = name_end else {
            return Ok(None);
        };
        self.at = name_end;
        let (mut attributes, mut declared) = (0usize, 0usize);
        loop {
            self.skip_space();
            match self.b.get(self.at) {
                None => return Ok(None),
                Some(b'>') => {
                    if self.open.len() >= self.bounds.depth {
                        return Err(refuse(format!(
                            "the document nests elements more than {} deep",
                            self.bounds.depth
                        )));
                    }
                    self.open.push(declared);
                    return Ok(Some(self.at + 1));
                }
                Some(b'/') => {
                    self.in_scope -= declared;
                    return Ok((self.b.get(self.at + 1) == Some(&b'>')).then_some(self.at + 2));
                }
                Some(_) => {}
            }
            // An attribute: name, '=', a quoted value.
            let name_start = self.at;
            while self
                .b
                .get(self.at)
                .is_some_and(|&c| !c.is_ascii_whitespace() && c != b'=' && c != b'>' && c != b'/')
            {
                self.at += 1;
            }
            let name = &self.b[name_start..self.at];
            self.skip_space();
            if name.is_empty() || self.b.get(self.at) != Some(&b'=') {
                return Ok(None);
            }
            self.at += 1;
            self.skip_space();
            let Some(&quote) = self.b.get(self.at).filter(|q| **q == b'"' || **q == b'\'') else {
                return Ok(None);
            };
            let Some(close) = self.b[self.at + 1..].iter().position(|&c| c == quote) else {
                return Ok(None);
            };
            let value = &self.b[self.at + 1..self.at + 1 + close];
            self.at += close + 2;
            attributes += 1;
            self.attributes += 1;
            if attributes > self.bounds.attributes_per_element {
                return Err(refuse(format!(
                    "an element has more than {} attributes",
                    self.bounds.attributes_per_element
                )));
            }
            if self.attributes > self.bounds.attributes {
                return Err(refuse(format!(
                    "the document has more than {} attributes",
                    self.bounds.attributes
                )));
            }
            let default_namespace = name == b"xmlns";
            if default_namespace || name.starts_with(b"xmlns:") {
                declared += 1;
                self.in_scope += 1;
                if declared > self.bounds.namespaces_per_element {
                    return Err(refuse(format!(
                        "an element declares more than {} namespaces",
                        self.bounds.namespaces_per_element
                    )));
                }
                if self.in_scope > self.bounds.namespaces_in_scope {
                    return Err(refuse(format!(
                        "more than {} namespace declarations are in scope at one element",
                        self.bounds.namespaces_in_scope
                    )));
                }
                // xmlns="" undeclares the default namespace; anything else must be absolute.
                let undeclares = default_namespace && value.is_empty();
                if !undeclares && !absolute_uri(value) {
                    return Err(refuse(format!(
                        "the namespace URI \"{}\" is relative; canonical XML needs absolute namespace URIs (such as urn:… or http://…)",
                        String::from_utf8_lossy(value)
                    )));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(xml: &str) -> String {
        check(xml, &SIGN_DOC).err().map(|e| e.0).unwrap_or_default()
    }

    #[test]
    fn ordinary_documents_pass() {
        for xml in [
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document><Prescription a='1' b=\"2\"/></Document>",
            "<?xml version='1.0' encoding='utf-8'?><a/>",
            "\u{feff}<?xml version=\"1.0\"?><a xmlns=\"urn:x\" xmlns:p=\"http://example.jp/p\"><p:b xmlns=\"\">t<!-- <c d=e> --><![CDATA[<x y>]]><?pi <z?></p:b></a>",
            "<a b=\"&gt;/>\"><c/></a>",
        ] {
            assert_eq!(check(xml, &SIGN_DOC), Ok(()), "{xml}");
        }
    }

    #[test]
    fn each_bound_is_refused_with_its_reason() {
        let deep = format!("{}{}", "<a>".repeat(257), "</a>".repeat(257));
        assert!(refused(&deep).contains("more than 256 deep"));
        let ok_deep = format!("{}{}", "<a>".repeat(256), "</a>".repeat(256));
        assert_eq!(check(&ok_deep, &SIGN_DOC), Ok(()));
        // Siblings do not add up to depth.
        let wide = "<r>".to_owned() + &"<a></a><b/>".repeat(1000) + "</r>";
        assert_eq!(check(&wide, &SIGN_DOC), Ok(()));

        let attrs = |n: usize| {
            format!(
                "<a {}/>",
                (0..n)
                    .map(|i| format!("a{i}=\"\""))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        };
        assert_eq!(check(&attrs(256), &SIGN_DOC), Ok(()));
        assert!(refused(&attrs(257)).contains("more than 256 attributes"));

        let declarations = |n: usize, at: usize| {
            (at..at + n)
                .map(|i| format!(" xmlns:n{i}=\"urn:n{i}\""))
                .collect::<String>()
        };
        assert!(
            refused(&format!("<a{}/>", declarations(65, 0))).contains("more than 64 namespaces")
        );
        // 64 on the root and 64 on a child: 128 in scope; one more is refused, but not on a
        // sibling (the first child's declarations went out of scope).
        let scope = format!(
            "<a{}><b{}/><c{}/></a>",
            declarations(64, 0),
            declarations(64, 64),
            declarations(64, 200)
        );
        assert_eq!(check(&scope, &SIGN_DOC), Ok(()));
        let over = format!(
            "<a{}><b{}><c xmlns:z=\"urn:z\"/></b></a>",
            declarations(64, 0),
            declarations(64, 64)
        );
        assert!(refused(&over).contains("more than 128 namespace declarations"));

        let many = "<r>".to_owned() + &"<a/>".repeat(100_000) + "</r>";
        assert!(refused(&many).contains("more than 100000 nodes"));
        let many_attributes = "<r>".to_owned()
            + &format!(
                "<a {}/>",
                (0..200).map(|i| format!("a{i}=''")).collect::<String>()
            )
            .repeat(501)
            + "</r>";
        assert!(refused(&many_attributes).contains("more than 100000 attributes"));
    }

    #[test]
    fn encodings_other_than_utf8_and_relative_namespaces_and_dtds_are_refused() {
        for name in ["ISO-8859-1", "Shift_JIS", "UTF-16", "utf-16le"] {
            let why = refused(&format!("<?xml version=\"1.0\" encoding=\"{name}\"?><a/>"));
            assert!(why.contains(&format!("encoding=\"{name}\"")), "{why}");
        }
        assert!(refused("<?xml version='1.0' encoding = 'EUC-JP' ?><a/>").contains("EUC-JP"));
        for ns in ["relative", "../x", "", "1urn:x"] {
            let why = refused(&format!("<a xmlns:p=\"{ns}\"/>"));
            assert!(why.contains("is relative"), "{ns}: {why}");
        }
        assert!(refused("<a xmlns=\"x/y\"/>").contains("is relative"));
        assert!(refused("<!DOCTYPE a><a/>").contains("DTD"));
    }

    #[test]
    fn text_that_stops_making_sense_is_left_to_the_parser() {
        for xml in ["<a b>", "<a b=c>", "<a", "<a b='", "<!-- x", "</a>", "x<y"] {
            assert_eq!(check(xml, &SIGN_DOC), Ok(()), "{xml}");
        }
    }
}
