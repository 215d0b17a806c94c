//! What people type or send as text: the sheet's password (normalised first), usernames,
//! sheet tokens, registry numbers, names, the public URL.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = hpki_core::domain::sheet::normalize_password_input(text);
    let _ = hpki_core::domain::Username::parse(text);
    let _ = hpki_core::domain::sheet::SheetToken::parse(text);
    let _ = hpki_core::domain::RegistryNumber::parse(text);
    let _ = hpki_core::domain::KanjiName::parse(text);
    let _ = hpki_core::domain::KanaName::parse(text);
    let _ = hpki_core::domain::RomanName::parse(text);
    let _ = hpki_core::PublicUrl::parse(text);
});
