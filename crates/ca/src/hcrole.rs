//! The ISO 17090 hcRole attribute, which carries the holder's qualification, encoded as real
//! HPKI certificates of the MEDIS and JMA signing CAs encode it (checked byte for byte; see
//! `docs/certificate-profiles.md`).
//!
//! The MHLW HPKI certificate policy's module (EXPLICIT tags):
//!
//! ```text
//! hcRole ATTRIBUTE ::= { WITH SYNTAX HCActorData ID id-hcpki-at-healthcareactor } -- 1.0.17090.0.1
//! HCActorData ::= SET OF HCActor
//! HCActor ::= SEQUENCE {
//!     codedData            [0] CodedData,
//!     regionalHCActorData  [1] SEQUENCE OF RegionalData OPTIONAL }  -- not used
//! CodedData ::= SET {
//!     codingSchemeReference [0] OBJECT IDENTIFIER,
//!     codeDataValue         [1] NumericString OPTIONAL,             -- not used
//!     codeDataFreeText      [2] DirectoryString }                   -- "Pharmacist"
//! ```
//!
//! In a certificate it is one `Attribute` of the subjectDirectoryAttributes extension, whose
//! single value is an HCActorData.

use der::asn1::{
    Any, ContextSpecific, ObjectIdentifier, PrintableStringRef, SetOfVec, Utf8StringRef,
};
use der::{
    Decode, DecodeValue, Encode, EncodeValue, FixedTag, Header, Length, Reader, Sequence, Tag,
    TagMode, TagNumber, Tagged, Writer,
};
use x509_cert::attr::Attribute;

/// id-hcpki-at-healthcareactor.
pub const HC_ROLE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.0.17090.0.1");

/// `CodedData`: a SET whose members are told apart by their context tags (DER writes them
/// in tag order, [0] before [2]).
#[derive(Clone, Debug, PartialEq, Eq)]
struct CodedData {
    coding_scheme_reference: ObjectIdentifier,
    /// codeDataFreeText, written as a UTF8String.
    code_data_free_text: String,
}

fn explicit<T>(tag: u8, value: T) -> ContextSpecific<T> {
    ContextSpecific {
        tag_number: TagNumber::new(tag),
        tag_mode: TagMode::Explicit,
        value,
    }
}

impl CodedData {
    fn scheme(&self) -> ContextSpecific<ObjectIdentifier> {
        explicit(0, self.coding_scheme_reference)
    }

    fn free_text(&self) -> der::Result<ContextSpecific<Utf8StringRef<'_>>> {
        Ok(explicit(2, Utf8StringRef::new(&self.code_data_free_text)?))
    }
}

impl FixedTag for CodedData {
    const TAG: Tag = Tag::Set;
}

impl EncodeValue for CodedData {
    fn value_len(&self) -> der::Result<Length> {
        self.scheme().encoded_len()? + self.free_text()?.encoded_len()?
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        self.scheme().encode(writer)?;
        self.free_text()?.encode(writer)
    }
}

impl<'a> DecodeValue<'a> for CodedData {
    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        reader.read_nested(header.length, |r| {
            let scheme = ContextSpecific::<ObjectIdentifier>::decode_explicit(r, TagNumber::N0)?
                .ok_or_else(|| {
                    Tag::ContextSpecific {
                        constructed: true,
                        number: TagNumber::N0,
                    }
                    .value_error()
                })?
                .value;
            // codeDataValue [1], which the CP says not to use, is skipped when present.
            let _ = ContextSpecific::<Any>::decode_explicit(r, TagNumber::N1)?;
            let text = ContextSpecific::<Any>::decode_explicit(r, TagNumber::N2)?
                .ok_or_else(|| {
                    Tag::ContextSpecific {
                        constructed: true,
                        number: TagNumber::N2,
                    }
                    .value_error()
                })?
                .value;
            // DirectoryString: UTF8String as written here, PrintableString in older ones.
            let text = match text.tag() {
                Tag::Utf8String => text.decode_as::<Utf8StringRef<'_>>()?.as_str().to_owned(),
                Tag::PrintableString => text
                    .decode_as::<PrintableStringRef<'_>>()?
                    .as_str()
                    .to_owned(),
                other => return Err(other.value_error()),
            };
            Ok(Self {
                coding_scheme_reference: scheme,
                code_data_free_text: text,
            })
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct HcActor {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    coded_data: CodedData,
}

/// The hcRole attribute for one qualification (its free text, e.g. "Pharmacist") under a
/// coding scheme.
pub fn hc_role_attribute(scheme: ObjectIdentifier, qualification: &str) -> der::Result<Attribute> {
    let actor = HcActor {
        coded_data: CodedData {
            coding_scheme_reference: scheme,
            code_data_free_text: qualification.to_owned(),
        },
    };
    let actor_any = Any::from_der(&actor.to_der()?)?;
    let actor_data: SetOfVec<Any> = SetOfVec::try_from(vec![actor_any])?;
    let value = Any::from_der(&actor_data.to_der()?)?;
    Ok(Attribute {
        oid: HC_ROLE,
        values: SetOfVec::try_from(vec![value])?,
    })
}

/// Reads back (scheme, qualification text) pairs from an hcRole attribute.
pub fn read_hc_role(attr: &Attribute) -> der::Result<Vec<(ObjectIdentifier, String)>> {
    let mut out = Vec::new();
    if attr.oid != HC_ROLE {
        return Ok(out);
    }
    for value in attr.values.iter() {
        let actors: SetOfVec<Any> = value.decode_as()?;
        for a in actors.iter() {
            let actor: HcActor = a.decode_as()?;
            out.push((
                actor.coded_data.coding_scheme_reference,
                actor.coded_data.code_data_free_text,
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.392.100495.1.6.1.1");

    /// The subjectDirectoryAttributes extension value of a real pharmacist certificate
    /// (`../shared/domain.md`, "Certificates, as real HPKI certificates are").
    const REAL_PHARMACIST: &str = "3030302e0606288185420001312431223020a01e311ca00c060a2a830886910f01060101a20c0c0a506861726d6163697374";

    #[test]
    fn a_pharmacist_is_written_byte_for_byte_as_real_certificates_write_it() {
        let attr = hc_role_attribute(SCHEME, "Pharmacist").expect("encode");
        let ours = vec![attr].to_der().expect("der");
        assert_eq!(hex::encode(&ours), REAL_PHARMACIST);
    }

    #[test]
    fn a_doctor_has_the_same_shape_and_real_bytes_read_back() {
        let attr = hc_role_attribute(SCHEME, "Medical Doctor").expect("encode");
        let ours = vec![attr.clone()].to_der().expect("der");
        // The pharmacist's structure; the text and every length that encloses it 4 longer.
        let expected = format!(
            "3034{}{}{}{}",
            "3032060628818542000131283126",
            "3024a0223120",
            "a00c060a2a830886910f01060101",
            format_args!("a2100c0e{}", hex::encode("Medical Doctor"))
        );
        assert_eq!(hex::encode(&ours), expected);
        assert_eq!(
            read_hc_role(&attr).expect("read"),
            vec![(SCHEME, "Medical Doctor".to_owned())]
        );
        let real = hex::decode(REAL_PHARMACIST).expect("hex");
        let attrs = Vec::<Attribute>::from_der(&real).expect("a real extension value decodes");
        assert_eq!(
            read_hc_role(&attrs[0]).expect("read"),
            vec![(SCHEME, "Pharmacist".to_owned())]
        );
    }
}
