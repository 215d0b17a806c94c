//! The WebAuthn JSON `/register/finish` takes (a registration or an assertion).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| hpki_passkey::fuzzing::webauthn_json(data));
