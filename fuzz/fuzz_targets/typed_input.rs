//! What people type or send as text: the sheet's password (normalised for either sheet format), usernames,
//! sheet tokens, registry numbers, names (and a name as a WebAuthn display name), the public
//! URL.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for format in [
        hpki_core::domain::sheet::PasswordFormat::Capitals13,
        hpki_core::domain::sheet::PasswordFormat::Mixed12,
    ] {
        let _ = hpki_core::domain::sheet::normalize_password_input(text, format);
    }
    let _ = hpki_core::domain::Username::parse(text);
    let _ = hpki_core::domain::sheet::SheetToken::parse(text);
    let _ = hpki_core::domain::RegistryNumber::parse(text);
    if let Ok((name, _)) = hpki_core::domain::KanjiName::parse(text) {
        // Every kanji name becomes a WebAuthn display name at registration.
        hpki_passkey::fuzzing::display_name(&name.written());
    }
    hpki_passkey::fuzzing::display_name(text);
    if let Some((family, given)) = text.split_once('|') {
        let _ = hpki_core::domain::KanjiName::from_parts(family, Some(given));
    }
    let _ = hpki_core::domain::OrganizationName::parse_kanji(text);
    let _ = hpki_core::domain::OrganizationName::parse_roman(text);
    let _ = hpki_core::domain::KanaName::parse(text);
    let _ = hpki_core::domain::RomanName::parse(text);
    let _ = hpki_core::PublicUrl::parse(text);
});
