//! The Cookie header of the holder pages.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| hpki_web::fuzzing::cookies(data));
