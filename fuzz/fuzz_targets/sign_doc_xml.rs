//! signDoc's XML path: a document as the relying system sends it (after Base64), read as the
//! service reads it: the bounds pass, the parse, the Ids, the prescription's parts or the
//! whole document's canonical form. Run with a per-input time limit (scripts/fuzz gives this
//! target 2 s): a document within the bounds that costs more is a finding.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = hpki_csc::xades::XmlToSign::read(data);
});
