//! The ISO 17090 hcRole attribute, which carries the holder's qualification.
//!
//! ISO/TS 17090-2 (module with EXPLICIT tags, as we read it):
//!
//! ```text
//! hcRole ATTRIBUTE ::= { WITH SYNTAX HCActorData ID id-hcpki-at-healthcareactor } -- 1.0.17090.0.1
//! HCActorData ::= SET OF HCActor
//! HCActor ::= SEQUENCE {
//!     codedData            [0] CodedData OPTIONAL,
//!     regionalHCActorData  [1] SEQUENCE OF RegionalData OPTIONAL }
//! CodedData ::= SEQUENCE {
//!     codingSchemeReference [0] OBJECT IDENTIFIER,
//!     codeDataValue         [1] UTF8String OPTIONAL,
//!     codeDataFreeText      [2] DirectoryString OPTIONAL }
//! ```
//!
//! In a certificate it is one `Attribute` of the subjectDirectoryAttributes extension, whose
//! single value is an HCActorData. See `docs/hcrole.md` for the bytes and what is inferred.

use der::asn1::{Any, ObjectIdentifier, SetOfVec};
use der::{Decode, Encode, Sequence};
use x509_cert::attr::Attribute;

/// id-hcpki-at-healthcareactor.
pub const HC_ROLE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.0.17090.0.1");

#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct CodedData {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    coding_scheme_reference: ObjectIdentifier,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    code_data_value: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct HcActor {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    coded_data: Option<CodedData>,
}

/// The hcRole attribute for one qualification code under a coding scheme.
pub fn hc_role_attribute(scheme: ObjectIdentifier, code: &str) -> der::Result<Attribute> {
    let actor = HcActor {
        coded_data: Some(CodedData {
            coding_scheme_reference: scheme,
            code_data_value: Some(code.to_owned()),
        }),
    };
    let actor_any = Any::from_der(&actor.to_der()?)?;
    let actor_data: SetOfVec<Any> = SetOfVec::try_from(vec![actor_any])?;
    let value = Any::from_der(&actor_data.to_der()?)?;
    Ok(Attribute {
        oid: HC_ROLE,
        values: SetOfVec::try_from(vec![value])?,
    })
}

/// Reads back (scheme, code) pairs from an hcRole attribute.
pub fn read_hc_role(attr: &Attribute) -> der::Result<Vec<(ObjectIdentifier, Option<String>)>> {
    let mut out = Vec::new();
    if attr.oid != HC_ROLE {
        return Ok(out);
    }
    for value in attr.values.iter() {
        let actors: SetOfVec<Any> = value.decode_as()?;
        for a in actors.iter() {
            let actor: HcActor = a.decode_as()?;
            if let Some(c) = actor.coded_data {
                out.push((c.coding_scheme_reference, c.code_data_value));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_has_the_intended_bytes() {
        let scheme = ObjectIdentifier::new_unwrap("1.2.392.100495.1.6.1.1");
        let attr = hc_role_attribute(scheme, "Pharmacist").expect("encode");
        let der = attr.to_der().expect("der");
        let back = Attribute::from_der(&der).expect("decode");
        assert_eq!(
            read_hc_role(&back).expect("read"),
            vec![(scheme, Some("Pharmacist".to_owned()))]
        );
        // SEQUENCE { OID 1.0.17090.0.1, SET { SET { SEQUENCE { [0] { SEQUENCE { [0] { OID }, [1] { UTF8String } } } } } } }
        let tags: Vec<u8> = {
            let mut t = Vec::new();
            let mut i = 0;
            // Walk the first byte of each nested header down the left spine.
            while i < der.len() && t.len() < 12 {
                t.push(der[i]);
                let len = der[i + 1] as usize;
                i += if der[i] & 0x20 != 0 { 2 } else { 2 + len };
            }
            t
        };
        assert_eq!(
            tags,
            vec![0x30, 0x06, 0x31, 0x31, 0x30, 0xa0, 0x30, 0xa0, 0x06, 0xa1, 0x0c]
        );
    }
}
