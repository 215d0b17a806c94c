//! PKCS#10 requests for HPKI card certificates (`cert issue-card --csr`), PEM or DER.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = hpki_ca::csr::public_key_from_csr(data);
});
