//! The Ids of a document to sign. A signature's reference `URI="#X"` means "the element whose
//! Id is X"; a verifier and a reader each find that element in their own way (xmlsec1 by the
//! attributes it is told are Ids, a program by `@Id`, `@id` or `xml:id`). When two elements
//! carry X, or one element carries two Ids, the two can find different elements: the verifier
//! says "valid" over data the reader never shows (signature wrapping). So every Id in a
//! document to sign must be unique, one per element, and a plain XML name (an NCName: a
//! `#xpointer(/)` is no Id, it is an XPointer the verifier evaluates).

use std::collections::HashSet;

use crate::xades::Unsignable;

const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// The Ids a document uses.
pub struct Ids(HashSet<String>);

impl Ids {
    pub fn contains(&self, id: &str) -> bool {
        self.0.contains(id)
    }
}

/// Whether an attribute is an Id by one of the names readers use.
fn is_id(a: &roxmltree::Attribute) -> bool {
    match a.namespace() {
        None => matches!(a.name(), "Id" | "id" | "ID"),
        Some(ns) => ns == XML_NS && a.name() == "id",
    }
}

/// The element's Id, if it has one.
pub fn of<'a>(node: &roxmltree::Node<'a, '_>) -> Option<&'a str> {
    node.attributes().find(is_id).map(|a| a.value())
}

/// Whether `id` is an NCName (XML Namespaces 1.0): a name without a colon.
fn is_ncname(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
        && chars.all(|c| {
            matches!(c, '_' | '-' | '.' | '\u{b7}')
                || c.is_alphanumeric()
                || ('\u{300}'..='\u{36f}').contains(&c)
                || ('\u{203f}'..='\u{2040}').contains(&c)
        })
}

/// Reads every Id of `doc`, refusing an element with two, a value that is not an XML name,
/// and a value used twice.
pub fn read(doc: &roxmltree::Document) -> Result<Ids, Unsignable> {
    let mut seen = HashSet::new();
    for node in doc.descendants().filter(roxmltree::Node::is_element) {
        let mut ids = node.attributes().filter(is_id);
        let Some(id) = ids.next() else { continue };
        let element = node.tag_name().name();
        if ids.next().is_some() {
            return Err(Unsignable(format!(
                "the element {element} has more than one Id attribute (Id, id, ID, xml:id); give it one"
            )));
        }
        let value = id.value();
        if !is_ncname(value) {
            return Err(Unsignable(format!(
                "the Id {value:?} of {element} is not an XML name (letters, digits, '_', '-', '.', starting with a letter or '_')"
            )));
        }
        if !seen.insert(value.to_owned()) {
            return Err(Unsignable(format!(
                "the Id \"{value}\" is on more than one element; each Id must name one element"
            )));
        }
    }
    Ok(Ids(seen))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(xml: &str) -> String {
        let doc = roxmltree::Document::parse(xml).expect("xml");
        read(&doc).err().map(|e| e.0).unwrap_or_default()
    }

    #[test]
    fn ids_name_one_element_each() {
        let doc = roxmltree::Document::parse(
            "<a Id=\"x\" xmlns:p=\"urn:p\"><b id=\"y\"/><c ID=\"z\" p:Id=\"x\"/><d xml:id=\"_w.1-é\"/></a>",
        )
        .expect("xml");
        let ids = read(&doc).expect("unique");
        for id in ["x", "y", "z", "_w.1-é"] {
            assert!(ids.contains(id), "{id}");
        }
        assert!(refused("<a><b Id=\"x\"/><c id=\"x\"/></a>").contains("on more than one element"));
        assert!(refused("<a><b Id=\"x\" ID=\"y\"/></a>").contains("more than one Id attribute"));
        assert!(refused("<a Id=\"xpointer(/)\"/>").contains("not an XML name"));
        assert!(refused("<a Id=\"\"/>").contains("not an XML name"));
        assert!(refused("<a Id=\"1x\"/>").contains("not an XML name"));
        assert!(refused("<a Id=\"p:x\"/>").contains("not an XML name"));
    }
}
