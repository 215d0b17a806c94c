//! Electronic prescriptions signed with XAdES-BES (XAdES 1.3.2): the `ds:Signature` that goes
//! into `PrescriptionSign`, with exclusive C14N, `rsa-sha256`, SHA-256 digests,
//! `SigningCertificateV2` / `IssuerSerialV2`, and three references: the prescription data
//! (`PrescriptionDocument`, by its `Id`), `KeyInfo` with the signer's certificate, and
//! `SignedProperties`.
//!
//! The parts this service writes are written directly in their exclusive-C14N form and put
//! into the document as they are, so what is digested is byte for byte what the document
//! holds. The one part that comes from the relying system, `PrescriptionDocument`, holds
//! only Base64 text; its canonical form is made here from the parsed element.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, FixedOffset, Utc};
use hpki_core::keystore::Sha256Digest;
use sha2::{Digest, Sha256};

use crate::{cades, ids, xml_bounds};

const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
const XADES: &str = "http://uri.etsi.org/01903/v1.3.2#";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
const SIGNED_PROPERTIES_TYPE: &str = "http://uri.etsi.org/01903#SignedProperties";

/// The Id the service gives `PrescriptionDocument` when it has none.
pub const DOCUMENT_ID: &str = "PrescriptionDocument";
const SIGNATURE_ID: &str = "PrescriptionSign-Signature";
const KEY_INFO_ID: &str = "PrescriptionSign-KeyInfo";
const SIGNED_PROPERTIES_ID: &str = "PrescriptionSign-SignedProperties";

/// Why a prescription cannot be signed (said to the relying system).
#[derive(Debug, PartialEq, Eq)]
pub struct Unsignable(pub String);

fn unsignable(why: impl Into<String>) -> Unsignable {
    Unsignable(why.into())
}

/// A prescription read for signing: where its parts are, and the digest of its data.
pub struct Prescription {
    xml: String,
    /// Where ` Id="PrescriptionDocument"` goes when the element has no Id.
    insert_id_at: Option<usize>,
    /// The `PrescriptionSign` element's range.
    sign_range: std::ops::Range<usize>,
    pub document_id: String,
    pub digest: Sha256Digest,
}

/// The qualified name an element was written with (`PrescriptionSign`, `p:PrescriptionSign`).
fn qname<'a>(xml: &'a str, node: &roxmltree::Node) -> &'a str {
    let after = &xml[node.range().start + 1..];
    let end = after
        .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
        .unwrap_or(after.len());
    &after[..end]
}

fn escape_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\r', "&#xD;")
}

fn escape_attribute(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
        .replace('\t', "&#x9;")
        .replace('\n', "&#xA;")
        .replace('\r', "&#xD;")
}

/// An XML document to sign, read once: an e-prescription (its root element is `Document`, as
/// the e-prescription format's is), signed in its `PrescriptionSign` (and refused with the
/// reason when it is not a complete one), or any other XML document, signed whole.
pub enum XmlToSign {
    Prescription(Prescription),
    Enveloped(EnvelopedXml),
}

impl XmlToSign {
    /// Reads a document: UTF-8, within [`xml_bounds::SIGN_DOC`] (checked before it is parsed),
    /// well-formed without a DTD, and with Ids that point at one element each.
    pub fn read(bytes: &[u8]) -> Result<Self, Unsignable> {
        let xml = std::str::from_utf8(bytes).map_err(|_| {
            unsignable("XAdES signs UTF-8 XML, and the document is not valid UTF-8")
        })?;
        xml_bounds::check(xml, &xml_bounds::SIGN_DOC).map_err(|e| unsignable(e.0))?;
        let options = roxmltree::ParsingOptions {
            allow_dtd: false,
            nodes_limit: xml_bounds::SIGN_DOC.nodes as u32,
            ..roxmltree::ParsingOptions::default()
        };
        let doc = roxmltree::Document::parse_with_options(xml, options)
            .map_err(|e| unsignable(format!("the document is not well-formed XML: {e}")))?;
        let ids = ids::read(&doc)?;
        if doc.root_element().tag_name().name() == "Document" {
            Prescription::from_document(xml, &doc, &ids).map(Self::Prescription)
        } else {
            EnvelopedXml::from_document(xml, &doc).map(Self::Enveloped)
        }
    }
}

impl Prescription {
    /// Reads `Document/Prescription` and finds `PrescriptionDocument` (Base64 text only) and an
    /// empty `PrescriptionSign`, each the only one of its name in the document.
    #[cfg(test)]
    pub fn read(xml: &str) -> Result<Self, Unsignable> {
        match XmlToSign::read(xml.as_bytes())? {
            XmlToSign::Prescription(p) => Ok(p),
            XmlToSign::Enveloped(_) => Err(unsignable("the root element is not Document")),
        }
    }

    fn from_document(
        xml: &str,
        doc: &roxmltree::Document,
        ids: &ids::Ids,
    ) -> Result<Self, Unsignable> {
        let root = doc.root_element();
        // One of each: a second Prescription (or data, or signature element) anywhere is a
        // document whose reader may show what was not signed.
        for name in ["Prescription", "PrescriptionDocument", "PrescriptionSign"] {
            let count = doc
                .descendants()
                .filter(|n| n.is_element() && n.tag_name().name() == name)
                .take(2)
                .count();
            if count > 1 {
                return Err(unsignable(format!(
                    "the document has more than one {name} element; a prescription is signed only with exactly one"
                )));
            }
        }
        let prescription = root
            .children()
            .find(|n| n.is_element() && n.tag_name().name() == "Prescription")
            .ok_or_else(|| unsignable("Document has no Prescription element"))?;
        let child = |name: &str| {
            prescription
                .children()
                .find(|n| n.is_element() && n.tag_name().name() == name)
                .ok_or_else(|| unsignable(format!("Prescription has no {name} element")))
        };
        let data = child("PrescriptionDocument")?;
        let sign = child("PrescriptionSign")?;
        if sign.children().any(|n| n.is_element())
            || sign
                .children()
                .any(|n| n.is_text() && !n.text().unwrap_or("").trim().is_empty())
        {
            return Err(unsignable(
                "PrescriptionSign is not empty: the prescription is signed already",
            ));
        }
        if data.children().any(|n| !n.is_text()) {
            return Err(unsignable(
                "PrescriptionDocument must hold the Base64 text of the prescription only",
            ));
        }
        let text = data.text().unwrap_or("");
        if STANDARD
            .decode(text.split_whitespace().collect::<String>())
            .is_err()
        {
            return Err(unsignable("PrescriptionDocument is not Base64 text"));
        }
        // Its canonical form (exclusive C14N of the element alone): the default namespace
        // when it is in one, then its attributes in order (only unqualified ones are taken).
        let name = qname(xml, &data);
        if name.contains(':') {
            return Err(unsignable(
                "PrescriptionDocument must be written without a namespace prefix",
            ));
        }
        let mut attributes: Vec<(String, String)> = Vec::new();
        for a in data.attributes() {
            if a.namespace().is_some() {
                return Err(unsignable(format!(
                    "PrescriptionDocument has the qualified attribute {}; only unqualified ones can be signed",
                    a.name()
                )));
            }
            attributes.push((a.name().to_owned(), a.value().to_owned()));
        }
        for own in [SIGNATURE_ID, KEY_INFO_ID, SIGNED_PROPERTIES_ID] {
            if ids.contains(own) {
                return Err(unsignable(format!(
                    "the document uses the Id \"{own}\", which the service gives its signature"
                )));
            }
        }
        let existing_id = ids::of(&data).map(str::to_owned);
        if existing_id.is_none() && ids.contains(DOCUMENT_ID) {
            return Err(unsignable(format!(
                "another element has the Id \"{DOCUMENT_ID}\", which the service gives PrescriptionDocument"
            )));
        }
        let (document_id, insert_id_at) = match existing_id {
            Some(id) => (id, None),
            None => {
                attributes.push(("Id".to_owned(), DOCUMENT_ID.to_owned()));
                (
                    DOCUMENT_ID.to_owned(),
                    Some(data.range().start + 1 + name.len()),
                )
            }
        };
        attributes.sort();
        let mut canonical = format!("<{name}");
        if let Some(ns) = data.tag_name().namespace().filter(|ns| !ns.is_empty()) {
            canonical.push_str(&format!(" xmlns=\"{}\"", escape_attribute(ns)));
        }
        for (n, v) in &attributes {
            canonical.push_str(&format!(" {n}=\"{}\"", escape_attribute(v)));
        }
        canonical.push_str(&format!(">{}</{name}>", escape_text(text)));
        Ok(Self {
            xml: xml.to_owned(),
            insert_id_at,
            sign_range: sign.range(),
            document_id,
            digest: Sha256::digest(canonical.as_bytes()).into(),
        })
    }

    /// The document with `PrescriptionSign` filled with `sign_element`'s content (and the
    /// data's Id added when it had none).
    pub fn with_signature(&self, signature: &str) -> String {
        let xml = self.xml.as_str();
        let original = &xml[self.sign_range.clone()];
        let name_end = original[1..]
            .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .map_or(original.len(), |i| i + 1);
        let name = &original[1..name_end];
        let filled = if let Some(start) = original.strip_suffix("/>") {
            format!("{}>{signature}</{name}>", start.trim_end())
        } else {
            let open_end = original.find('>').map_or(original.len(), |i| i + 1);
            format!("{}{signature}</{name}>", &original[..open_end])
        };
        let mut out = String::with_capacity(xml.len() + filled.len() + 32);
        let mut at = 0;
        if let Some(i) = self.insert_id_at {
            out.push_str(&xml[..i]);
            out.push_str(&format!(" Id=\"{DOCUMENT_ID}\""));
            at = i;
        }
        out.push_str(&xml[at..self.sign_range.start]);
        out.push_str(&filled);
        out.push_str(&xml[self.sign_range.end..]);
        out
    }
}

/// An XML document signed whole: an enveloped XAdES-B-B signature (`URI=""`, the
/// enveloped-signature transform, exclusive C14N) goes in as the root element's last child;
/// everything else stays byte for byte as it came.
pub struct EnvelopedXml {
    xml: String,
    /// Where the signature goes, and the end tag to write when the root was `<r/>`.
    insert_at: usize,
    close_empty_root: Option<(usize, String)>,
    /// The SHA-256 of the document's canonical form (what the signature's first reference
    /// digests, and what the SAD authorizes).
    pub digest: Sha256Digest,
    /// The prefix of the signature's own Ids (none of which the document uses).
    pub id_prefix: String,
}

impl EnvelopedXml {
    fn from_document(xml: &str, doc: &roxmltree::Document) -> Result<Self, Unsignable> {
        let canonical = crate::c14n::canonicalize(xml, doc);
        let digest: Sha256Digest = Sha256::digest(canonical.as_bytes()).into();
        let id_prefix = format!("hpki-second-{}", hex::encode(&digest[..6]));
        if doc
            .descendants()
            .any(|n| n.attributes().any(|a| a.value().starts_with(&id_prefix)))
        {
            return Err(unsignable(
                "the document already holds Ids this service gives its signatures",
            ));
        }
        let root = doc.root_element();
        let range = root.range();
        let text = &xml[range.clone()];
        let (insert_at, close_empty_root) = if let Some(open) = text.strip_suffix("/>") {
            let name = qname(xml, &root).to_owned();
            (range.start + open.trim_end().len(), Some((range.end, name)))
        } else {
            let end_tag = text
                .rfind("</")
                .ok_or_else(|| unsignable("the root element has no end tag"))?;
            (range.start + end_tag, None)
        };
        Ok(Self {
            xml: xml.to_owned(),
            insert_at,
            close_empty_root,
            digest,
            id_prefix,
        })
    }

    /// The document with `signature` as its root element's last child.
    pub fn with_signature(&self, signature: &str) -> String {
        let xml = self.xml.as_str();
        let mut out = String::with_capacity(xml.len() + signature.len() + 16);
        out.push_str(&xml[..self.insert_at]);
        match &self.close_empty_root {
            Some((end, name)) => {
                out.push('>');
                out.push_str(signature);
                out.push_str(&format!("</{name}>"));
                out.push_str(&xml[*end..]);
            }
            None => {
                out.push_str(signature);
                out.push_str(&xml[self.insert_at..]);
            }
        }
        out
    }
}

/// The parts of a signature before its value: SignedInfo (canonical, to be signed), KeyInfo
/// and SignedProperties (canonical, as they go into the document).
pub struct SignatureParts {
    pub signed_info: String,
    key_info: String,
    signed_properties: String,
    ids: Ids,
}

/// The Ids of a signature's own elements.
#[derive(Clone)]
struct Ids {
    signature: String,
    key_info: String,
    signed_properties: String,
}

impl Ids {
    fn with_prefix(prefix: &str) -> Self {
        Self {
            signature: format!("{prefix}-Signature"),
            key_info: format!("{prefix}-KeyInfo"),
            signed_properties: format!("{prefix}-SignedProperties"),
        }
    }
}

/// What the signature's first reference points at.
pub enum SignedData<'a> {
    /// The element with this Id (a prescription's `PrescriptionDocument`).
    Element(&'a str),
    /// The whole document the signature is enveloped in (`URI=""`, enveloped-signature).
    Document,
}

const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

fn reference(uri: &str, kind: Option<&str>, digest: &[u8]) -> String {
    let type_attr = kind.map_or(String::new(), |t| format!(" Type=\"{t}\""));
    format!(
        "<ds:Reference{type_attr} URI=\"#{}\"><ds:Transforms><ds:Transform Algorithm=\"{EXC_C14N}\"></ds:Transform></ds:Transforms><ds:DigestMethod Algorithm=\"{SHA256}\"></ds:DigestMethod><ds:DigestValue>{}</ds:DigestValue></ds:Reference>",
        escape_attribute(uri),
        STANDARD.encode(digest)
    )
}

fn whole_document_reference(digest: &[u8]) -> String {
    format!(
        "<ds:Reference URI=\"\"><ds:Transforms><ds:Transform Algorithm=\"{ENVELOPED}\"></ds:Transform><ds:Transform Algorithm=\"{EXC_C14N}\"></ds:Transform></ds:Transforms><ds:DigestMethod Algorithm=\"{SHA256}\"></ds:DigestMethod><ds:DigestValue>{}</ds:DigestValue></ds:Reference>",
        STANDARD.encode(digest)
    )
}

/// The SigningTime in Japan's time, as e-prescriptions write it.
fn jst(at: DateTime<Utc>) -> String {
    FixedOffset::east_opt(9 * 3600).map_or_else(
        || at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        |jst| {
            at.with_timezone(&jst)
                .format("%Y-%m-%dT%H:%M:%S%:z")
                .to_string()
        },
    )
}

impl SignatureParts {
    /// The signature over the prescription data with `document_digest` (the SHA-256 of its
    /// exclusive canonical form), by the holder of `cert_der`, at `at`.
    pub fn new(
        document_id: &str,
        document_digest: &Sha256Digest,
        cert_der: &[u8],
        at: DateTime<Utc>,
    ) -> Result<Self, hpki_core::Error> {
        let ids = Ids {
            signature: SIGNATURE_ID.to_owned(),
            key_info: KEY_INFO_ID.to_owned(),
            signed_properties: SIGNED_PROPERTIES_ID.to_owned(),
        };
        Self::build(
            SignedData::Element(document_id),
            document_digest,
            cert_der,
            at,
            ids,
        )
    }

    /// An enveloped signature over a whole XML document (XAdES-B-B): its Ids start with
    /// `id_prefix`, which the document must not use already.
    pub fn enveloped(
        document_digest: &Sha256Digest,
        cert_der: &[u8],
        at: DateTime<Utc>,
        id_prefix: &str,
    ) -> Result<Self, hpki_core::Error> {
        let ids = Ids::with_prefix(id_prefix);
        Self::build(SignedData::Document, document_digest, cert_der, at, ids)
    }

    fn build(
        data: SignedData<'_>,
        document_digest: &Sha256Digest,
        cert_der: &[u8],
        at: DateTime<Utc>,
        ids: Ids,
    ) -> Result<Self, hpki_core::Error> {
        let cert = cades::parse(cert_der)?;
        let key_info = format!(
            "<ds:KeyInfo xmlns:ds=\"{DS}\" Id=\"{}\"><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>",
            ids.key_info,
            STANDARD.encode(cert_der)
        );
        let signed_properties = format!(
            "<xades:SignedProperties xmlns:xades=\"{XADES}\" Id=\"{}\"><xades:SignedSignatureProperties><xades:SigningTime>{}</xades:SigningTime><xades:SigningCertificateV2><xades:Cert><xades:CertDigest><ds:DigestMethod xmlns:ds=\"{DS}\" Algorithm=\"{SHA256}\"></ds:DigestMethod><ds:DigestValue xmlns:ds=\"{DS}\">{}</ds:DigestValue></xades:CertDigest><xades:IssuerSerialV2>{}</xades:IssuerSerialV2></xades:Cert></xades:SigningCertificateV2></xades:SignedSignatureProperties></xades:SignedProperties>",
            ids.signed_properties,
            jst(at),
            STANDARD.encode(Sha256::digest(cert_der)),
            STANDARD.encode(cades::issuer_serial(&cert)?),
        );
        let data_reference = match data {
            SignedData::Element(id) => reference(id, None, document_digest),
            SignedData::Document => whole_document_reference(document_digest),
        };
        let signed_info = format!(
            "<ds:SignedInfo xmlns:ds=\"{DS}\"><ds:CanonicalizationMethod Algorithm=\"{EXC_C14N}\"></ds:CanonicalizationMethod><ds:SignatureMethod Algorithm=\"{RSA_SHA256}\"></ds:SignatureMethod>{}{}{}</ds:SignedInfo>",
            data_reference,
            reference(&ids.key_info, None, &Sha256::digest(key_info.as_bytes())),
            reference(
                &ids.signed_properties,
                Some(SIGNED_PROPERTIES_TYPE),
                &Sha256::digest(signed_properties.as_bytes())
            ),
        );
        Ok(Self {
            signed_info,
            key_info,
            signed_properties,
            ids,
        })
    }

    /// What the key signs: the SHA-256 of the canonical SignedInfo.
    pub fn to_be_signed(&self) -> Sha256Digest {
        Sha256::digest(self.signed_info.as_bytes()).into()
    }

    /// The `ds:Signature` element with the signature value (RSA PKCS#1 v1.5).
    pub fn signature(&self, value: &[u8]) -> String {
        format!(
            "<ds:Signature xmlns:ds=\"{DS}\" Id=\"{}\">{}<ds:SignatureValue>{}</ds:SignatureValue>{}<ds:Object><xades:QualifyingProperties xmlns:xades=\"{XADES}\" Target=\"#{}\">{}</xades:QualifyingProperties></ds:Object></ds:Signature>",
            self.ids.signature,
            self.signed_info,
            STANDARD.encode(value),
            self.key_info,
            self.ids.signature,
            self.signed_properties
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRESCRIPTION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document>\n  <Prescription>\n    <PrescriptionManagement><Version Value=\"EPS1.0\"/></PrescriptionManagement>\n    <PrescriptionDocument>QUJD</PrescriptionDocument>\n    <PrescriptionSign/>\n  </Prescription>\n</Document>\n";

    #[test]
    fn the_data_digest_is_that_of_its_canonical_form() {
        let p = Prescription::read(PRESCRIPTION).expect("reads");
        assert_eq!(p.document_id, DOCUMENT_ID);
        let canonical =
            "<PrescriptionDocument Id=\"PrescriptionDocument\">QUJD</PrescriptionDocument>";
        assert_eq!(p.digest, <[u8; 32]>::from(Sha256::digest(canonical)));
        let signed = p.with_signature("<ds:Signature/>");
        assert!(signed.contains(canonical), "{signed}");
        assert!(
            signed.contains("<PrescriptionSign><ds:Signature/></PrescriptionSign>"),
            "{signed}"
        );
        // A default namespace is part of the canonical form.
        let ns = PRESCRIPTION.replace("<Document>", "<Document xmlns=\"urn:example:eps\">");
        let p = Prescription::read(&ns).expect("reads");
        let canonical = "<PrescriptionDocument xmlns=\"urn:example:eps\" Id=\"PrescriptionDocument\">QUJD</PrescriptionDocument>";
        assert_eq!(p.digest, <[u8; 32]>::from(Sha256::digest(canonical)));
    }

    #[test]
    fn what_cannot_be_signed_is_said() {
        let cases = [
            ("<Document/>", "no Prescription"),
            ("<x/>", "not Document"),
            ("<Document><Prescription><PrescriptionSign/></Prescription></Document>", "no PrescriptionDocument"),
            ("<Document><Prescription><PrescriptionDocument>QUJD</PrescriptionDocument><PrescriptionSign><x/></PrescriptionSign></Prescription></Document>", "signed already"),
            ("<Document><Prescription><PrescriptionDocument>***</PrescriptionDocument><PrescriptionSign/></Prescription></Document>", "not Base64"),
            ("<!DOCTYPE d [<!ENTITY e \"x\">]><Document/>", "DTD"),
        ];
        for (xml, why) in cases {
            let e = Prescription::read(xml).err().expect(why);
            assert!(e.0.contains(why), "{xml}: {}", e.0);
        }
    }
}
