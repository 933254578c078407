//! Key sets, the keys folder and rotation, with a controlled clock.

use super::folder::KEYRING_FILE;
use super::material::{file_mode, generate, pem_encode, write_private};
use super::*;

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
struct C {
    iss: String,
    sub: String,
    exp: i64,
}

const ISS: &str = "https://id";
/// The controlled clock's origin: 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000;
const POLICY: KeyPolicy = KeyPolicy { max_token_lifetime_secs: 300, publication_window_secs: 900 };

fn claims(exp: i64) -> C {
    C { iss: ISS.into(), sub: "u".into(), exp }
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

fn jwks_kids(set: &KeySet, now: i64) -> Vec<String> {
    let doc: serde_json::Value = serde_json::from_str(set.jwks_json_at(now)).unwrap();
    doc["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect()
}

#[test]
fn sign_and_verify_every_algorithm() {
    let ks = KeySet::ephemeral().unwrap();
    let c = claims(crate::crypto::now() + 60);
    for alg in Alg::ALL {
        let t = ks.sign(alg, Typ::AccessToken, &c).unwrap();
        assert_eq!(ks.verify::<C>(&t, Typ::AccessToken, ISS).unwrap(), c);
        assert_eq!(ks.verify::<C>(&t, Typ::Jwt, ISS), Err(VerifyError::WrongType));
        assert_eq!(ks.verify::<C>(&t, Typ::AccessToken, "https://other"), Err(VerifyError::Invalid));
    }
}

#[test]
fn expiry_is_judged_by_the_given_clock() {
    let ks = KeySet::ephemeral().unwrap();
    let t = ks.sign_at(T0, Alg::ES256, Typ::Jwt, &claims(T0 + 300)).unwrap();
    assert!(ks.verify_at::<C>(T0 + 300 + 5, &t, Typ::Jwt, ISS).is_ok(), "5 s of leeway");
    assert_eq!(ks.verify_at::<C>(T0 + 300 + 6, &t, Typ::Jwt, ISS), Err(VerifyError::Invalid));
    assert!(ks.verify_allow_expired::<C>(&t, Typ::Jwt, ISS).is_ok());
}

#[test]
fn a_fresh_folder_gets_one_private_key_per_algorithm_and_a_keyring() {
    let dir = tempfile::tempdir().unwrap();
    let a = KeySet::load_or_generate(dir.path(), &POLICY).unwrap();
    let b = KeySet::load_or_generate(dir.path(), &POLICY).unwrap();
    assert_eq!(a.jwks_json(), b.jwks_json(), "loaded again, not regenerated");
    assert!(!a.jwks_json().contains("\"d\""), "no private member in the JWKS");
    let listed = KeyFolder::new(dir.path(), POLICY).list(crate::crypto::now()).unwrap();
    assert_eq!(listed.len(), 3);
    for info in &listed {
        assert_eq!(info.state, KeyState::Active);
        assert_eq!(info.meta.file, format!("{}-{}.pem", info.meta.alg.as_str().to_ascii_lowercase(), info.meta.kid));
        #[cfg(unix)]
        assert_eq!(file_mode(&dir.path().join(&info.meta.file)) & 0o777, 0o600, "{} is private", info.meta.file);
    }
    #[cfg(unix)]
    assert_eq!(file_mode(dir.path()) & 0o777, 0o700);
    let ring = std::fs::read_to_string(dir.path().join(KEYRING_FILE)).unwrap();
    assert!(!ring.contains("PRIVATE"), "the keyring holds no secret");
}

#[test]
fn a_new_key_is_published_first_signs_after_the_window_and_the_old_one_retires_after_its_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let folder = KeyFolder::new(dir.path(), POLICY);
    let old = folder.load_or_generate(T0).unwrap();
    let old_kid = old.active_kid(Alg::ES256, T0).to_string();

    let t1 = T0 + 3600;
    let rotation = folder.rotate(&[Alg::ES256], 900, t1).unwrap();
    assert_eq!(rotation.added.len(), 1);
    let new_kid = rotation.added[0].meta.kid.clone();
    assert_eq!(rotation.added[0].meta.activate_at, t1 + 900);
    assert_eq!(rotation.added[0].state, KeyState::Next);
    assert_eq!(rotation.replaced[0].meta.kid, old_kid);
    let retire_at = t1 + 900 + 300 + RETIREMENT_MARGIN_SECS;
    assert_eq!(rotation.replaced[0].retire_at, Some(retire_at));
    #[cfg(unix)]
    assert_eq!(file_mode(&dir.path().join(&rotation.added[0].meta.file)) & 0o777, 0o600);

    let set = folder.load(t1).unwrap();
    // Published at once, signing nothing during the window.
    for now in [t1, t1 + 899] {
        assert!(jwks_kids(&set, now).contains(&new_kid), "published at {now}");
        let t = set.sign_at(now, Alg::ES256, Typ::AccessToken, &claims(now + 300)).unwrap();
        assert_eq!(kid_of(&t), old_kid, "the old key still signs at {now}");
    }
    // The last token of the old key, signed just before the switch.
    let last_old = set.sign_at(t1 + 899, Alg::ES256, Typ::AccessToken, &claims(t1 + 899 + 300)).unwrap();
    // After the window the new key signs; the old one is still published and verifies.
    let first_new = set.sign_at(t1 + 900, Alg::ES256, Typ::AccessToken, &claims(t1 + 1200)).unwrap();
    assert_eq!(kid_of(&first_new), new_kid);
    assert_eq!(jwks_kids(&set, t1 + 900)[0], new_kid, "the active key is listed first");
    assert!(set.verify_at::<C>(t1 + 900, &first_new, Typ::AccessToken, ISS).is_ok());
    assert!(set.verify_at::<C>(t1 + 899 + 300, &last_old, Typ::AccessToken, ISS).is_ok());
    assert!(jwks_kids(&set, retire_at - 1).contains(&old_kid));
    assert_eq!(set.keys_at(retire_at - 1).iter().find(|k| k.meta.kid == old_kid).unwrap().state, KeyState::Retired);
    // At its retirement time the old key leaves the JWKS and verifies nothing.
    assert!(!jwks_kids(&set, retire_at).contains(&old_kid));
    assert_eq!(set.verify_at::<C>(retire_at, &last_old, Typ::AccessToken, ISS), Err(VerifyError::UnknownKey));
    assert_eq!(set.keys_at(retire_at).iter().find(|k| k.meta.kid == old_kid).unwrap().state, KeyState::Expired);
    // Other algorithms are untouched.
    assert_eq!(set.active_kid(Alg::RS256, retire_at), old.active_kid(Alg::RS256, T0));

    // The next rotation deletes the expired key: from the keyring and from the disk.
    let old_file = folder.list(t1).unwrap().into_iter().find(|k| k.meta.kid == old_kid).unwrap().meta.file;
    let later = folder.rotate(&[Alg::ES256], 900, retire_at).unwrap();
    assert_eq!(later.removed.iter().map(|m| &m.kid).collect::<Vec<_>>(), [&old_kid]);
    assert!(!dir.path().join(old_file).exists());
    assert!(folder.list(retire_at).unwrap().iter().all(|k| k.meta.kid != old_kid));
    // An expired key is not even loaded.
    assert!(folder.load(retire_at).unwrap().keys_at(retire_at).iter().all(|k| k.meta.kid != old_kid));
}

#[test]
fn rotation_refuses_a_short_window_and_a_second_pending_key() {
    let dir = tempfile::tempdir().unwrap();
    let folder = KeyFolder::new(dir.path(), POLICY);
    folder.load_or_generate(T0).unwrap();
    let e = folder.rotate(&[Alg::ES256], 300, T0).unwrap_err().to_string();
    assert!(e.contains("too short") && e.contains(&MIN_PUBLICATION_WINDOW_SECS.to_string()), "{e}");
    folder.rotate(&[Alg::ES256], 900, T0).unwrap();
    let e = folder.rotate(&Alg::ALL, 900, T0 + 10).unwrap_err().to_string();
    assert!(e.contains("already waiting to activate"), "{e}");
    assert_eq!(folder.list(T0 + 10).unwrap().len(), 4, "a refused rotation changes nothing");
    // Once the pending key is active, rotating again is fine.
    assert_eq!(folder.rotate(&Alg::ALL, 900, T0 + 900).unwrap().added.len(), 3);
}

#[test]
fn a_folder_from_before_rotation_is_adopted_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    for (alg, file) in [(Alg::ES256, "es256.pem"), (Alg::RS256, "rs256.pem"), (Alg::EdDSA, "eddsa.pem")] {
        write_private(&dir.path().join(file), &pem_encode(&generate(alg).unwrap())).unwrap();
    }
    let folder = KeyFolder::new(dir.path(), POLICY);
    let set = folder.load_or_generate(T0).unwrap();
    assert!(!dir.path().join(KEYRING_FILE).exists(), "loading a complete legacy folder writes nothing");
    assert_eq!(jwks_kids(&set, T0).len(), 3);
    let listed = folder.list(T0).unwrap();
    assert!(listed.iter().all(|k| k.state == KeyState::Active && k.meta.activate_at == 0));
    let legacy_kid = set.active_kid(Alg::ES256, T0).to_string();
    let t = set.sign_at(T0, Alg::ES256, Typ::AccessToken, &claims(T0 + 300)).unwrap();
    assert_eq!(kid_of(&t), legacy_kid);

    // The first rotation writes a keyring that names the legacy files.
    let r = folder.rotate(&[Alg::ES256], 900, T0).unwrap();
    assert_eq!(r.replaced[0].meta.file, "es256.pem");
    let ring = std::fs::read_to_string(dir.path().join(KEYRING_FILE)).unwrap();
    assert!(ring.contains("\"es256.pem\"") && ring.contains("\"rs256.pem\""), "{ring}");
    let set = folder.load(T0).unwrap();
    assert!(set.verify_at::<C>(T0, &t, Typ::AccessToken, ISS).is_ok());
    assert_eq!(set.active_kid(Alg::ES256, T0 + 900), r.added[0].meta.kid);
}

#[test]
fn a_partial_legacy_folder_gets_the_missing_keys() {
    let dir = tempfile::tempdir().unwrap();
    write_private(&dir.path().join("es256.pem"), &pem_encode(&generate(Alg::ES256).unwrap())).unwrap();
    let folder = KeyFolder::new(dir.path(), POLICY);
    let set = folder.load_or_generate(T0).unwrap();
    let listed = folder.list(T0).unwrap();
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().any(|k| k.meta.file == "es256.pem" && k.meta.kid == set.active_kid(Alg::ES256, T0)));
}

#[test]
fn a_running_server_sees_a_rotation_through_the_reloader() {
    let dir = tempfile::tempdir().unwrap();
    let folder = KeyFolder::new(dir.path(), POLICY);
    let (set, mut reloader) = KeyReloader::start(folder.clone(), T0).unwrap();
    let shared = SharedKeys::new(Arc::new(set));
    assert!(reloader.poll(T0 + 30).unwrap().is_none(), "nothing changed");
    let r = folder.rotate(&[Alg::RS256], 900, T0 + 40).unwrap();
    let new_kid = &r.added[0].meta.kid;
    assert!(!jwks_kids(&shared.current(), T0 + 60).contains(new_kid));
    shared.replace(Arc::new(reloader.poll(T0 + 60).unwrap().expect("the keyring changed")));
    assert!(jwks_kids(&shared.current(), T0 + 60).contains(new_kid));
    assert_eq!(shared.current().active_kid(Alg::RS256, T0 + 40 + 900), new_kid);
    assert!(reloader.poll(T0 + 90).unwrap().is_none());
    // A broken keyring is reported, and the server keeps its keys.
    std::fs::write(dir.path().join(KEYRING_FILE), "{").unwrap();
    assert!(reloader.poll(T0 + 120).is_err());
}

#[test]
fn a_keyring_that_does_not_match_its_files_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let folder = KeyFolder::new(dir.path(), POLICY);
    folder.load_or_generate(T0).unwrap();
    folder.rotate(&[Alg::ES256], 900, T0).unwrap();
    let path = dir.path().join(KEYRING_FILE);
    let ring = std::fs::read_to_string(&path).unwrap();
    let listed = folder.list(T0).unwrap();
    let (a, b) = (&listed[0].meta.file, &listed[1].meta.file);
    assert_eq!((listed[0].meta.alg, listed[1].meta.alg), (Alg::ES256, Alg::ES256));
    // Two files swapped behind the keyring's back.
    let swapped = ring.replace(a.as_str(), "@").replace(b.as_str(), a).replace('@', b);
    std::fs::write(&path, swapped).unwrap();
    let e = folder.load(T0).unwrap_err().to_string();
    assert!(e.contains("the keyring says"), "{e}");
    std::fs::write(&path, ring.replace(a.as_str(), "../outside.pem")).unwrap();
    let e = folder.load(T0).unwrap_err().to_string();
    assert!(e.contains("plain file name"), "{e}");
}

#[test]
fn states_follow_the_clock() {
    let meta = |kid: &str, activate_at| KeyMeta {
        kid: kid.into(),
        alg: Alg::ES256,
        file: format!("{kid}.pem"),
        created_at: 0,
        activate_at,
    };
    let keys = [meta("a", 0), meta("b", 1000), meta("c", 2000)];
    let states = |now| schedule(&keys, &POLICY, now).into_iter().map(|i| i.state).collect::<Vec<_>>();
    use KeyState::*;
    assert_eq!(states(999), [Active, Next, Next]);
    assert_eq!(states(1000), [Retired, Active, Next]);
    assert_eq!(states(1000 + 300 + RETIREMENT_MARGIN_SECS), [Expired, Active, Next]);
    assert_eq!(states(2000), [Expired, Retired, Active]);
    let infos = schedule(&keys, &POLICY, 0);
    assert_eq!(infos[0].retire_at, Some(1000 + 300 + RETIREMENT_MARGIN_SECS));
    assert_eq!(infos[2].retire_at, None, "the newest key has no successor");
    // Before any key is due (a keyring written by a host whose clock runs ahead), the first
    // to activate signs rather than nothing.
    assert_eq!(schedule(&keys[1..], &POLICY, 500).into_iter().map(|i| i.state).collect::<Vec<_>>(), [Active, Next]);
}

#[test]
fn timing_constants_agree_with_the_jwks_header() {
    assert!(JWKS_CACHE_CONTROL.contains(&format!("max-age={JWKS_MAX_AGE_SECS}")));
    assert!(JWKS_CACHE_CONTROL.contains(&format!("stale-while-revalidate={JWKS_STALE_SECS}")));
    assert_eq!(MIN_PUBLICATION_WINDOW_SECS, 420);
    assert!(crate::config::KeysConfig::default().publication_window_secs as i64 >= MIN_PUBLICATION_WINDOW_SECS);
}

#[test]
fn utc_formatting() {
    assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
    assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(format_utc(T0), "2023-11-14T22:13:20Z");
    assert_eq!(format_utc(4_102_444_799), "2099-12-31T23:59:59Z");
}
