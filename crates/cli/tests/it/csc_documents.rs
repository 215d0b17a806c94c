//! `signatures/signDoc` against the real server, checked by verifiers no one here wrote:
//! `openssl cms -verify` for CAdES, `xmlsec1 --verify` and signxml's XAdES verifier for
//! signed e-prescriptions (whole documents and the hash-only PrescriptionSign), on both
//! keystores.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::support::*;

/// A prescription as a pharmacy system sends it (the CSV is made up).
const PRESCRIPTION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document>\n  <Prescription>\n    <PrescriptionManagement>\n      <Version Value=\"EPS1.0\"/>\n    </PrescriptionManagement>\n    <PrescriptionDocument>MSwxLDIwMjYxMjAxLOODhuOCueODiOiWrOWxgAoyLOODreOCreOCveODl+ODreODleOCp+ODs+ODiOODqeOCpuODoOmMoDYwbWcsMyzlm54K</PrescriptionDocument>\n    <PrescriptionSign/>\n  </Prescription>\n</Document>\n";

fn tool(program: &str, args: &[&str]) -> (bool, String) {
    let o = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} is installed (scripts/test installs it): {e}"));
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The CA certificates (root, signing CA) and the holder's, as PEM files in `dir`.
fn pems(w: &World, dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let cas = json(&ok(&w.data, &["ca", "show", "--json"]));
    let write = |name: &str, pem: &str| {
        let p = dir.join(name);
        std::fs::write(&p, pem).expect("write");
        p
    };
    let ca = |role: &str| {
        cas.as_array()
            .expect("array")
            .iter()
            .find(|c| c["role"] == role)
            .and_then(|c| c["pem"].as_str())
            .expect("pem")
            .to_owned()
    };
    let holder = json(&ok(&w.data, &["cert", "show", &w.serial, "--json"]));
    (
        write("root.pem", &ca("root")),
        write("signing.pem", &ca("signing")),
        write("holder.pem", holder["pem"].as_str().expect("pem")),
    )
}

/// `openssl cms -verify` of a detached signature over `content`, trusting `root`.
fn cms_verify(cms: &Path, content: &Path, root: &Path) -> (bool, String) {
    tool(
        "openssl",
        &[
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            path(cms),
            "-content",
            path(content),
            "-CAfile",
            path(root),
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ],
    )
}

pub(crate) fn xmlsec_verify(file: &Path, root: &Path, signing: &Path) -> (bool, String) {
    tool(
        "xmlsec1",
        &[
            "--verify",
            "--id-attr:Id",
            "PrescriptionDocument",
            "--id-attr:Id",
            "http://www.w3.org/2000/09/xmldsig#:KeyInfo",
            "--id-attr:Id",
            "http://uri.etsi.org/01903/v1.3.2#:SignedProperties",
            "--trusted-pem",
            path(root),
            "--untrusted-pem",
            path(signing),
            path(file),
        ],
    )
}

fn signxml_verify(file: &Path, holder: &Path) -> (bool, String) {
    let venv = hpki_test_support::required_env("HPKI_TEST_VENV");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/verify_prescription.py");
    let python = Path::new(&venv).join("bin/python");
    tool(path(&python), &[path(&script), path(file), path(holder)])
}

/// One byte of the prescription data changed.
fn tampered(signed: &str) -> String {
    let at = signed.find("MSwxLDIw").expect("the data") + 3;
    let mut bytes = signed.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'x' { b'y' } else { b'x' };
    String::from_utf8(bytes).expect("utf-8")
}

fn sign_doc(w: &World, token: &str, body: serde_json::Value) -> serde_json::Value {
    let r = w
        .server
        .post_json("/csc/v2/signatures/signDoc", Some(token), &body);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn signs_documents_that_outside_verifiers_accept(config: &str) {
    let mut w = signing_world(config);
    let token = w.access_token();
    let dir = TempDir::new();
    let (root, signing, holder) = pems(&w, dir.path());

    // A whole prescription: it comes back with PrescriptionSign filled.
    let sad1 = sad(
        &w,
        &token,
        serde_json::json!({"credentialID": CREDENTIAL, "numSignatures": 1}),
    );
    let answer = sign_doc(
        &w,
        &token,
        serde_json::json!({
            "credentialID": CREDENTIAL, "SAD": sad1,
            "documents": [{"document": STANDARD.encode(PRESCRIPTION), "signature_format": "X",
                           "conformance_level": "Ades-B-B", "signed_envelope_property": "Enveloped",
                           "signAlgo": "1.2.840.113549.1.1.11"}],
        }),
    );
    let signed = String::from_utf8(
        STANDARD
            .decode(
                answer["DocumentWithSignature"][0]
                    .as_str()
                    .expect("document"),
            )
            .expect("base64"),
    )
    .expect("utf-8");
    assert!(
        signed.contains("<PrescriptionSign><ds:Signature"),
        "{signed}"
    );
    assert!(
        signed.contains("<Version Value=\"EPS1.0\"/>"),
        "the rest is as sent: {signed}"
    );
    let file = dir.path().join("signed.xml");
    std::fs::write(&file, &signed).expect("write");
    let (good, out) = xmlsec_verify(&file, &root, &signing);
    assert!(good && out.contains("OK"), "xmlsec1: {out}\n{signed}");
    let (good, out) = signxml_verify(&file, &holder);
    assert!(good, "signxml: {out}");
    // One byte of PrescriptionDocument changed: both refuse.
    let bad = dir.path().join("tampered.xml");
    std::fs::write(&bad, tampered(&signed)).expect("write");
    let (good, out) = xmlsec_verify(&bad, &root, &signing);
    assert!(!good, "xmlsec1 accepted a changed prescription: {out}");
    let (good, out) = signxml_verify(&bad, &holder);
    assert!(!good, "signxml accepted a changed prescription: {out}");

    // Hash-only, as the live service: the digest of the canonical PrescriptionDocument in,
    // the PrescriptionSign element out; put in place, it verifies.
    let data = between(
        PRESCRIPTION,
        "<PrescriptionDocument>",
        "</PrescriptionDocument>",
    );
    let canonical =
        format!("<PrescriptionDocument Id=\"PrescriptionDocument\">{data}</PrescriptionDocument>");
    let digest = STANDARD.encode(Sha256::digest(canonical.as_bytes()));
    let sad2 = sad(
        &w,
        &token,
        serde_json::json!({"credentialID": CREDENTIAL, "numSignatures": 1, "hash": [digest]}),
    );
    let answer = sign_doc(
        &w,
        &token,
        serde_json::json!({
            "credentialID": CREDENTIAL, "SAD": sad2,
            "documentDigests": [{"hashes": [digest], "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1",
                                 "signature_format": "X"}],
        }),
    );
    let element = String::from_utf8(
        STANDARD
            .decode(answer["SignatureObject"][0].as_str().expect("object"))
            .expect("base64"),
    )
    .expect("utf-8");
    assert!(
        element.starts_with("<PrescriptionSign><ds:Signature"),
        "{element}"
    );
    let assembled = PRESCRIPTION
        .replace(
            "<PrescriptionDocument>",
            "<PrescriptionDocument Id=\"PrescriptionDocument\">",
        )
        .replace("<PrescriptionSign/>", &element);
    let file = dir.path().join("assembled.xml");
    std::fs::write(&file, &assembled).expect("write");
    let (good, out) = xmlsec_verify(&file, &root, &signing);
    assert!(good && out.contains("OK"), "xmlsec1 (hash-only): {out}");
    let (good, out) = signxml_verify(&file, &holder);
    assert!(good, "signxml (hash-only): {out}");

    // CAdES-B-B, detached, over a whole document and over a digest (PKCS#1 v1.5), and, in the
    // same call, over the document with RSA-PSS: a 222-byte salt (the longest), a 32-byte one.
    let content = "電子処方箋の控え (a copy of the prescription)".as_bytes();
    let sad3 = sad(
        &w,
        &token,
        serde_json::json!({"credentialID": CREDENTIAL, "numSignatures": 4}),
    );
    let pss = |params: &str| {
        serde_json::json!({"document": STANDARD.encode(content), "signature_format": "C",
                           "signAlgo": "1.2.840.113549.1.1.10", "signAlgoParams": params})
    };
    let answer = sign_doc(
        &w,
        &token,
        serde_json::json!({
            "credentialID": CREDENTIAL, "SAD": sad3,
            "documentDigests": [{"hashes": [STANDARD.encode(Sha256::digest(content))],
                                 "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1", "signature_format": "C"}],
            "documents": [{"document": STANDARD.encode(content), "signature_format": "C",
                           "signed_envelope_property": "Detached"},
                          pss("MDWgDzANBglghkgBZQMEAgEFAKEcMBoGCSqGSIb3DQEBCDANBglghkgBZQMEAgEFAKIEAgIA3g=="),
                          pss("MDSgDzANBglghkgBZQMEAgEFAKEcMBoGCSqGSIb3DQEBCDANBglghkgBZQMEAgEFAKIDAgEg")],
        }),
    );
    let objects = answer["SignatureObject"].as_array().expect("objects");
    assert_eq!(objects.len(), 4);
    let content_file = dir.path().join("content.bin");
    std::fs::write(&content_file, content).expect("write");
    for (i, o) in objects.iter().enumerate() {
        let cms = dir.path().join(format!("sig{i}.der"));
        std::fs::write(
            &cms,
            STANDARD.decode(o.as_str().expect("b64")).expect("b64"),
        )
        .expect("write");
        let (good, out) = cms_verify(&cms, &content_file, &root);
        assert!(
            good && out.contains("Verification successful"),
            "openssl cms -verify: {out}"
        );
        let (_, printed) = tool(
            "openssl",
            &[
                "cms",
                "-cmsout",
                "-print",
                "-inform",
                "DER",
                "-in",
                path(&cms),
            ],
        );
        assert!(printed.contains("signingCertificateV2"), "{printed}");
        assert!(printed.contains("signingTime"), "{printed}");
        // As asked: PKCS#1 v1.5, then PSS with its salt named in the signature.
        let salt = |hex: &str| {
            printed.contains("rsassaPss")
                && printed
                    .lines()
                    .any(|l| l.contains("INTEGER") && l.trim_end().ends_with(&format!(":{hex}")))
        };
        match i {
            0 | 1 => assert!(printed.contains("sha256WithRSAEncryption"), "{printed}"),
            2 => assert!(salt("DE"), "a salt of 222: {printed}"),
            _ => assert!(salt("20"), "a salt of 32: {printed}"),
        }
        // Another content does not verify.
        let other = dir.path().join("other.bin");
        std::fs::write(&other, b"another prescription").expect("write");
        let (good, _) = cms_verify(&cms, &other, &root);
        assert!(!good, "a signature verified over another content");
    }

    // Every document is a signature in the holder's list.
    let list = json(&ok(
        &w.data,
        &["signature", "list", "--holder", "999999", "--json"],
    ));
    let hashes: usize = list
        .as_array()
        .expect("array")
        .iter()
        .map(|s| s["hashes"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(hashes, 6, "{list}");
    assert!(
        list.as_array()
            .expect("array")
            .iter()
            .any(|s| s["algorithm"] == "rsa-pkcs1-sha256, rsa-pss-sha256"),
        "the mixed call names both schemes: {list}"
    );
}

/// An XML document that is not a prescription, with what canonicalization must get right:
/// a declaration, comments outside and inside the root, prefixed and default namespaces (one
/// declared and never used, one undone), attributes out of order, xml:lang, entity and
/// character references, CDATA, an empty element, Japanese text.
const RECORD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- 調剤録 -->\n<rx:Record xmlns:rx=\"urn:example:record\" xmlns=\"urn:example:default\" xmlns:unused=\"urn:unused\" version=\"2\" id=\"r1\">\n  <Patient   kana=\"ヤクザイ　タロウ\" a=\"1\">薬剤 太郎 &amp; 家族&#x3002;</Patient>\n  <!-- inner -->\n  <rx:Item rx:code=\"A&lt;1\" xml:lang=\"ja\"><![CDATA[<raw> & text]]></rx:Item>\n  <Empty/>\n  <Plain xmlns=\"\">no namespace</Plain>\n</rx:Record>\n";

/// The same with a stylesheet processing instruction before the root: part of what `URI=""`
/// signs (XML-DSig 4.4.3.2), as xmlsec1 (libxml2) takes it; signxml canonicalizes from the
/// root element and leaves it out, so only xmlsec1 is asked about this one.
const RECORD_WITH_STYLESHEET: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<?xml-stylesheet type=\"text/xsl\" href=\"record.xsl\"?>\n<r:Record xmlns:r=\"urn:example:record\"><r:Item>1</r:Item></r:Record>\n";

#[test]
fn an_xml_document_gets_an_enveloped_xades_signature_outside_verifiers_accept() {
    let mut w = signing_world("");
    let token = w.access_token();
    let dir = TempDir::new();
    let (root, signing, holder) = pems(&w, dir.path());
    for (name, xml) in [
        ("record", RECORD),
        ("stylesheet", RECORD_WITH_STYLESHEET),
        ("empty-root", "<note a=\"b\"/>"),
    ] {
        let s = sad(
            &w,
            &token,
            serde_json::json!({"credentialID": CREDENTIAL, "numSignatures": 1}),
        );
        let answer = sign_doc(
            &w,
            &token,
            serde_json::json!({
                "credentialID": CREDENTIAL, "SAD": s,
                "documents": [{"document": STANDARD.encode(xml), "signature_format": "X",
                               "conformance_level": "Ades-B-B", "signed_envelope_property": "Enveloped"}],
            }),
        );
        let signed = String::from_utf8(
            STANDARD
                .decode(
                    answer["DocumentWithSignature"][0]
                        .as_str()
                        .expect("document"),
                )
                .expect("base64"),
        )
        .expect("utf-8");
        // Everything but the signature is as sent.
        let start = signed.find("<ds:Signature").expect("a signature");
        let end = signed.find("</ds:Signature>").expect("its end") + "</ds:Signature>".len();
        let without = format!("{}{}", &signed[..start], &signed[end..]);
        if name == "empty-root" {
            assert_eq!(without, "<note a=\"b\"></note>");
        } else {
            assert_eq!(without, xml, "the rest is byte for byte as sent");
        }
        let file = dir.path().join(format!("{name}.xml"));
        std::fs::write(&file, &signed).expect("write");
        let (good, out) = xmlsec_verify(&file, &root, &signing);
        assert!(
            good && out.contains("OK"),
            "xmlsec1 on {name}: {out}\n{signed}"
        );
        if name != "stylesheet" {
            let (good, out) = signxml_verify(&file, &holder);
            assert!(good, "signxml on {name}: {out}\n{signed}");
        }
        if name == "record" {
            // One character of the content changed: both refuse.
            let bad = dir.path().join("record-changed.xml");
            std::fs::write(&bad, signed.replace("家族", "家俗")).expect("write");
            let (good, out) = xmlsec_verify(&bad, &root, &signing);
            assert!(!good, "xmlsec1 accepted a changed document: {out}");
            let (good, out) = signxml_verify(&bad, &holder);
            assert!(!good, "signxml accepted a changed document: {out}");
        }
    }
}

#[test]
fn signed_documents_verify_with_openssl_xmlsec1_and_signxml() {
    signs_documents_that_outside_verifiers_accept("");
}

#[test]
fn signed_documents_verify_with_keys_in_softhsm() {
    let _hsm = softhsm_turn();
    signs_documents_that_outside_verifiers_accept(&softhsm_config());
}

#[test]
fn documents_that_cannot_be_signed_are_refused_with_the_reason() {
    let mut w = signing_world("");
    let token = w.access_token();
    let refuse = |body: serde_json::Value, why: &str| {
        let r = w
            .server
            .post_json("/csc/v2/signatures/signDoc", Some(&token), &body);
        assert_eq!(r.status, 400, "{}", r.text());
        let d = r.json()["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(d.contains(why), "{why}: {d}");
    };
    let sad1 = sad(
        &w,
        &token,
        serde_json::json!({"credentialID": CREDENTIAL, "numSignatures": 1}),
    );
    let doc = |xml: &str, format: &str| {
        serde_json::json!({"credentialID": CREDENTIAL, "SAD": sad1,
            "documents": [{"document": STANDARD.encode(xml), "signature_format": format}]})
    };
    refuse(doc(PRESCRIPTION, "P"), "signHash");
    refuse(doc(PRESCRIPTION, "Q"), "must be C (CAdES) or X (XAdES)");
    refuse(doc("<Document/>", "X"), "no Prescription");
    refuse(doc("<a><b></a>", "X"), "not well-formed XML");
    refuse(
        doc("<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>", "X"),
        "signed without DTDs",
    );
    refuse(
        doc(
            &PRESCRIPTION.replace(
                "<PrescriptionSign/>",
                "<PrescriptionSign><x/></PrescriptionSign>",
            ),
            "X",
        ),
        "signed already",
    );
    refuse(
        serde_json::json!({"credentialID": CREDENTIAL, "SAD": sad1}),
        "give what to sign",
    );
    refuse(
        serde_json::json!({"credentialID": CREDENTIAL, "SAD": sad1,
            "documents": [{"document": STANDARD.encode(PRESCRIPTION), "signature_format": "X", "conformance_level": "Ades-B-LTA"}]}),
        "AdES-B-B",
    );
    // XAdES is rsa-sha256 only; a PSS salt the key cannot carry; ECDSA for an RSA key.
    let with_algo = |format: &str, algo: &str, params: Option<&str>| {
        serde_json::json!({"credentialID": CREDENTIAL, "SAD": sad1,
            "documents": [{"document": STANDARD.encode(PRESCRIPTION), "signature_format": format,
                           "signAlgo": algo, "signAlgoParams": params}]})
    };
    const PSS_32: &str = "MDSgDzANBglghkgBZQMEAgEFAKEcMBoGCSqGSIb3DQEBCDANBglghkgBZQMEAgEFAKIDAgEg";
    const PSS_223: &str =
        "MDWgDzANBglghkgBZQMEAgEFAKEcMBoGCSqGSIb3DQEBCDANBglghkgBZQMEAgEFAKIEAgIA3w==";
    refuse(
        with_algo("X", "1.2.840.113549.1.1.10", Some(PSS_32)),
        "XAdES signatures (e-prescriptions, XML documents) are made with 1.2.840.113549.1.1.11",
    );
    refuse(
        with_algo("C", "1.2.840.113549.1.1.10", Some(PSS_223)),
        "at most 222",
    );
    refuse(
        with_algo("C", "1.2.840.10045.4.3.2", None),
        "signs CAdES with 1.2.840.113549.1.1.11 or 1.2.840.113549.1.1.10",
    );
    // Nothing was signed, and the SAD still signs.
    let ok_answer = sign_doc(&w, &token, doc(PRESCRIPTION, "X"));
    assert_eq!(
        ok_answer["DocumentWithSignature"].as_array().map(Vec::len),
        Some(1)
    );
}

/// The prescription with `from` replaced by `to` (which must be in it).
fn prescription_with(from: &str, to: &str) -> String {
    assert!(PRESCRIPTION.contains(from), "{from}");
    PRESCRIPTION.replacen(from, to, 1)
}

/// Shapes a relying system (or an attacker with an access token) can send: signed, some of
/// them were valid to xmlsec1 over data a reader never shows, or never verifiable; read, some
/// cost seconds of processor time each or overflowed a thread's stack and took the whole
/// server down. Each is refused with its reason, the SAD is not spent, and the server goes on.
#[test]
fn wrapping_shapes_costly_shapes_and_foreign_encodings_are_refused_before_signing() {
    let mut w = signing_world("");
    let token = w.access_token();
    let s = sad(
        &w,
        &token,
        serde_json::json!({"credentialID": CREDENTIAL, "numSignatures": 1}),
    );
    let body = |xml: &str| {
        serde_json::json!({"credentialID": CREDENTIAL, "SAD": s,
            "documents": [{"document": STANDARD.encode(xml), "signature_format": "X"}]})
    };
    let prescription = "<Prescription><PrescriptionDocument>QUFBQQ==</PrescriptionDocument><PrescriptionSign/></Prescription>";
    let deep = |levels: usize| format!("{}{}", "<a>".repeat(levels), "</a>".repeat(levels));
    let namespaces = format!(
        "<r {}>{}</r>",
        (0..4000)
            .map(|i| format!("xmlns:n{i}=\"urn:n{i}\""))
            .collect::<Vec<_>>()
            .join(" "),
        (0..150)
            .map(|i| format!("<c xmlns:m{i}=\"urn:m{i}\"/>"))
            .collect::<String>()
    );
    let attributes = format!(
        "<r {}/>",
        (0..40_000)
            .map(|i| format!("a{i}=\"\""))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let cases: Vec<(String, &str)> = vec![
        // Signature wrapping.
        (
            PRESCRIPTION.replace("</Document>", &format!("{prescription}</Document>")),
            "more than one Prescription element",
        ),
        (
            prescription_with(
                "<PrescriptionDocument>",
                "<Note Id=\"PrescriptionDocument\">QkJCQg==</Note><PrescriptionDocument>",
            ),
            "another element has the Id \"PrescriptionDocument\"",
        ),
        (
            prescription_with(
                "<PrescriptionSign/>",
                "<PrescriptionSign/><PrescriptionDocument>QkJCQg==</PrescriptionDocument>",
            ),
            "more than one PrescriptionDocument element",
        ),
        (
            prescription_with(
                "<PrescriptionSign/>",
                "<PrescriptionSign/><Extra><PrescriptionSign/></Extra>",
            ),
            "more than one PrescriptionSign element",
        ),
        (
            prescription_with(
                "<PrescriptionDocument>",
                "<PrescriptionDocument Id=\"PrescriptionSign-KeyInfo\">",
            ),
            "which the service gives its signature",
        ),
        (
            prescription_with(
                "<Version ",
                "<Version Id=\"PrescriptionSign-SignedProperties\" ",
            ),
            "which the service gives its signature",
        ),
        (
            prescription_with(
                "<PrescriptionDocument>",
                "<PrescriptionDocument Id=\"xpointer(/)\">",
            ),
            "is not an XML name",
        ),
        (
            prescription_with(
                "<PrescriptionDocument>",
                "<PrescriptionDocument Id=\"d1\" id=\"d2\">",
            ),
            "more than one Id attribute",
        ),
        (
            "<r><a Id=\"x\"/><b ID=\"x\"/></r>".to_owned(),
            "is on more than one element",
        ),
        // The declared encoding is the one the text is signed in.
        (
            PRESCRIPTION.replace("encoding=\"UTF-8\"", "encoding=\"ISO-8859-1\""),
            "encoding=\"ISO-8859-1\"",
        ),
        (
            PRESCRIPTION.replace("encoding=\"UTF-8\"", "encoding=\"Shift_JIS\""),
            "encoding=\"Shift_JIS\"",
        ),
        (
            PRESCRIPTION.replace("encoding=\"UTF-8\"", "encoding=\"UTF-16\""),
            "encoding=\"UTF-16\"",
        ),
        (
            "<r xmlns:p=\"relative/ns\"><p:a/></r>".to_owned(),
            "is relative",
        ),
        // What costs: nesting, namespaces, attributes.
        (deep(5_000), "more than 256 deep"),
        (deep(100_000), "more than 256 deep"),
        (namespaces, "more than 64 namespaces"),
        (attributes, "more than 256 attributes"),
    ];
    for (xml, why) in &cases {
        let r = w
            .server
            .post_json("/csc/v2/signatures/signDoc", Some(&token), &body(xml));
        let d = r.json()["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert_eq!(r.status, 400, "{why}: {}", r.text());
        assert!(d.contains(why), "{why}: {d}");
        assert_eq!(w.server.get("/healthz", None).status, 200, "after {why}");
    }
    // A document is read only for a caller whose SAD may pay for it: with a SAD that is not
    // one, the 100,000-deep document is refused for the SAD, not read.
    let r = w.server.post_json(
        "/csc/v2/signatures/signDoc",
        Some(&token),
        &serde_json::json!({"credentialID": CREDENTIAL, "SAD": "hsd_not-a-sad",
            "documents": [{"document": STANDARD.encode(deep(100_000)), "signature_format": "X"}]}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("SAD"), "{}", r.text());
    // Nothing was spent: the SAD signs the real prescription, and the signed document has one
    // element with the Id the signature references, the one that was sent.
    let answer = sign_doc(&w, &token, body(PRESCRIPTION));
    let signed = String::from_utf8(
        STANDARD
            .decode(
                answer["DocumentWithSignature"][0]
                    .as_str()
                    .expect("document"),
            )
            .expect("base64"),
    )
    .expect("utf-8");
    let dir = TempDir::new();
    let (root, signing, holder) = pems(&w, dir.path());
    let file = dir.path().join("signed.xml");
    std::fs::write(&file, &signed).expect("write");
    let (good, out) = xmlsec_verify(&file, &root, &signing);
    assert!(good, "xmlsec1: {out}");
    let (good, out) = signxml_verify(&file, &holder);
    assert!(good, "signxml: {out}");
    let data = between(
        PRESCRIPTION,
        "<PrescriptionDocument>",
        "</PrescriptionDocument>",
    );
    assert!(
        out.lines().any(|l| l == format!("read by Id: {data}")),
        "a reader that follows the reference's Id finds the data that was sent: {out}"
    );
}
