//! X-Forwarded-For and Forwarded, as written behind a load balancer.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| hpki_web::fuzzing::client_address(data));
