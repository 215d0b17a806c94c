//! PKCS#12 files of CA keys (`ca import --root-p12 …`), read with the password the seeds in
//! fuzz/seeds/pkcs12 were written with, so mutations reach the MAC check, the PBES2 bags and
//! the bags behind them.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hpki_ca::fuzzing::pkcs12(data, "fuzz");
});
