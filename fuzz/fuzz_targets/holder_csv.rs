//! The holder CSV of `holder import` (without photos: those are files beside it).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let org = hpki_core::domain::OrgCode::jpa();
    let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).expect("date");
    let _ = hpki_core::services::import::parse_holder_csv(
        data,
        &org,
        today,
        None,
        hpki_core::domain::PhotoLimits::default(),
    );
});
