//! OCSP requests as `/ocsp` reads them (POST bodies and decoded GET paths).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| hpki_ca::fuzzing::ocsp_request(data));
