//! The device authorization grant's storage on both databases: a user code taken is drawn
//! again; one phone binds a grant, its login holding the device code, which nobody redeems
//! before the login is recorded; a refusal ends the phone's login and only while the grant
//! waits; polls sooner than the interval grow it by five seconds.

use super::*;

pub(crate) async fn device_grants_bind_once_refuse_once_and_slow_polls_down(store: &SqlStore) {
    use hpki_core::domain::device_grant::{DeviceGrantStage, NewDeviceGrant, Poll};
    use hpki_core::domain::oidc::{Grant, Redemption};
    use hpki_core::store::{DeviceGrantStore, OidcStore};
    let (client, _) = relying_system_and_holder(store).await;
    let now = at();
    let grant = |device: &str, user: &str| NewDeviceGrant {
        device_code_hash: device.repeat(64),
        user_code_hash: user.repeat(64),
        client_id: client.clone(),
        scope: "openid service".into(),
        created_at: now,
        expires_at: now + chrono::Duration::minutes(10),
        interval_secs: 5,
        consent: None,
    };
    assert!(store
        .insert_device_grant(&grant("a", "b"))
        .await
        .expect("insert"));
    assert!(
        !store
            .insert_device_grant(&grant("c", "b"))
            .await
            .expect("insert"),
        "a user code taken is refused (the caller draws again)"
    );
    let g = store
        .device_grant_by_user_code(&"b".repeat(64))
        .await
        .expect("read")
        .expect("the grant");
    assert_eq!(g.stage(now), DeviceGrantStage::Waiting);
    let first = store
        .enter_device_grant(&"b".repeat(64), &"d".repeat(64), now)
        .await
        .expect("enter")
        .expect("the first phone binds it");
    assert_eq!(
        (first.request.grant.clone(), first.request.scope.as_str()),
        (Grant::Device, "openid service"),
        "the login is the grant's"
    );
    assert_eq!(
        (first.request.created_at, first.request.login_expires_at),
        (now, now + chrono::Duration::minutes(10))
    );
    assert!(
        store
            .enter_device_grant(&"b".repeat(64), &"e".repeat(64), now)
            .await
            .expect("enter")
            .is_none(),
        "a second phone does not"
    );
    assert!(
        store
            .authorization_by_login(&"e".repeat(64))
            .await
            .expect("read")
            .is_none(),
        "and its login is not kept"
    );
    for (user_code, at) in [("z", now), ("b", now + chrono::Duration::minutes(10))] {
        assert!(
            store
                .enter_device_grant(&user_code.repeat(64), &"f".repeat(64), at)
                .await
                .expect("enter")
                .is_none(),
            "no grant, or over: {user_code} at {at}"
        );
    }
    let phone = store
        .authorization_by_login(&"d".repeat(64))
        .await
        .expect("read")
        .expect("the phone's login");
    assert_eq!((phone.id, phone.request.grant), (first.id, Grant::Device));
    assert_eq!(phone.code_hash.as_deref(), Some("a".repeat(64).as_str()));
    assert_eq!(
        store
            .redeem_code(
                &"a".repeat(64),
                now,
                now + chrono::Duration::hours(18),
                &event("rp"),
                &event("rp")
            )
            .await
            .expect("redeem"),
        Redemption::Unknown,
        "the device code redeems nothing before the holder's login is recorded"
    );
    let g = store
        .device_grant_by_code(&"a".repeat(64))
        .await
        .expect("read")
        .expect("grant");
    assert_eq!(
        (g.stage(now), g.authorization_id),
        (DeviceGrantStage::Entered, Some(first.id))
    );

    // Polls: on time, too soon (the interval grows), on time again after the new interval.
    let secs = chrono::Duration::seconds;
    assert_eq!(
        store.poll_device_grant(g.id, now).await.expect("poll"),
        Poll::Pending
    );
    assert_eq!(
        store
            .poll_device_grant(g.id, now + secs(2))
            .await
            .expect("poll"),
        Poll::TooSoon
    );
    let g = store
        .device_grant_by_code(&"a".repeat(64))
        .await
        .expect("read")
        .expect("grant");
    assert_eq!(g.request.interval_secs, 10);
    assert_eq!(
        store
            .poll_device_grant(g.id, now + secs(7))
            .await
            .expect("poll"),
        Poll::TooSoon
    );
    assert_eq!(
        store
            .poll_device_grant(g.id, now + secs(30))
            .await
            .expect("poll"),
        Poll::Pending
    );

    // The refusal: once, and it ends the phone's login.
    assert!(store
        .deny_device_grant(g.id, now + secs(40), &event("rp"))
        .await
        .expect("deny"));
    assert!(!store
        .deny_device_grant(g.id, now + secs(41), &event("rp"))
        .await
        .expect("deny"));
    let phone = store
        .authorization(first.id)
        .await
        .expect("read")
        .expect("login");
    assert!(phone.ended_at.is_some());
    let g = store
        .device_grant_by_code(&"a".repeat(64))
        .await
        .expect("read")
        .expect("grant");
    assert_eq!(g.stage(now + secs(50)), DeviceGrantStage::Denied);
}
