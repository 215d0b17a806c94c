//! Face photos (JPEG or PNG) from the CLI, the CSV import and the operator API.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = hpki_core::domain::Photo::from_upload(data, hpki_core::domain::PhotoLimits::default());
});
