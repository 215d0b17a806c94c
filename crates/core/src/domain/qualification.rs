//! The holder's national qualification, written as the ISO 17090 hcRole code value that HPKI
//! certificates carry (English names, e.g. `Pharmacist`).

use std::fmt;

use serde::Serialize;

use super::InvalidInput;

macro_rules! qualifications {
    ($($variant:ident => $code:literal, $ja:literal;)*) => {
        /// National qualifications accepted in the registry. One list: add a qualification here.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Qualification {
            $($variant,)*
        }

        impl Qualification {
            pub const ALL: &'static [Qualification] = &[$(Qualification::$variant,)*];

            /// The hcRole code value, as written in certificates.
            pub fn code(self) -> &'static str {
                match self {
                    $(Qualification::$variant => $code,)*
                }
            }

            /// The Japanese name, for printed sheets and holder pages.
            pub fn name_ja(self) -> &'static str {
                match self {
                    $(Qualification::$variant => $ja,)*
                }
            }
        }
    };
}

qualifications! {
    MedicalDoctor => "Medical Doctor", "医師";
    Dentist => "Dentist", "歯科医師";
    Pharmacist => "Pharmacist", "薬剤師";
    Nurse => "Nurse", "看護師";
    PublicHealthNurse => "Public Health Nurse", "保健師";
    Midwife => "Midwife", "助産師";
    MedicalTechnologist => "Medical Technologist", "臨床検査技師";
    RadiologicalTechnologist => "Radiological Technologist", "診療放射線技師";
    PhysicalTherapist => "Physical Therapist", "理学療法士";
    OccupationalTherapist => "Occupational Therapist", "作業療法士";
    Orthoptist => "Orthoptist", "視能訓練士";
    SpeechTherapist => "Speech Therapist", "言語聴覚士";
    DentalHygienist => "Dental Hygienist", "歯科衛生士";
    DentalTechnician => "Dental Technician", "歯科技工士";
    ClinicalEngineer => "Clinical Engineer", "臨床工学技士";
    ProsthetistAndOrthotist => "Prosthetist and Orthotist", "義肢装具士";
    EmergencyLifeSavingTechnician => "Emergency Life-Saving Technician", "救急救命士";
    RegisteredDietitian => "Registered Dietitian", "管理栄養士";
}

impl Qualification {
    /// Parses the hcRole code (`Pharmacist`), case-insensitively and ignoring surrounding space.
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        let t = s.trim();
        Self::ALL
            .iter()
            .copied()
            .find(|q| q.code().eq_ignore_ascii_case(t) || q.name_ja() == t)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|q| q.code()).collect();
                InvalidInput::new(
                    "qualification",
                    format!(
                        "{t:?} is not a known qualification; use one of: {}",
                        known.join(", ")
                    ),
                )
            })
    }
}

impl fmt::Display for Qualification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Qualification {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_codes_and_japanese_names() {
        assert_eq!(
            Qualification::parse("Pharmacist").ok(),
            Some(Qualification::Pharmacist)
        );
        assert_eq!(
            Qualification::parse(" medical doctor ").ok(),
            Some(Qualification::MedicalDoctor)
        );
        assert_eq!(
            Qualification::parse("薬剤師").ok(),
            Some(Qualification::Pharmacist)
        );
        let e = Qualification::parse("Wizard").expect_err("unknown");
        assert!(e.message.contains("Pharmacist"), "{}", e.message);
    }
}
