//! Tests of loading and validating the settings.

use std::collections::HashMap;

use super::*;

fn env(vars: &[(&str, &str)]) -> Environment {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    environment_from(Some(map))
}

#[test]
fn built_in_defaults_match_the_design() {
    let dir = tempfile::tempdir().unwrap();
    let s = Settings::load_from(dir.path(), None, env(&[])).unwrap();
    assert_eq!(s.server.bind, "127.0.0.1:8080");
    assert_eq!(s.intake.max_file_bytes, 8_388_608);
    assert_eq!(s.intake.max_images, 3);
    assert_eq!(s.database_url().unwrap(), "sqlite://data/consilium.db");
    assert_eq!(
        s.storage_backend().unwrap(),
        StorageBackend::Fs {
            root: PathBuf::from("data/blobs")
        }
    );
}

#[test]
fn layers_apply_in_order_and_environment_wins() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("default.toml"),
        "[server]\nbind = \"127.0.0.1:9000\"\npublic_url = \"http://a\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("test.toml"),
        "[server]\npublic_url = \"http://from-env-file\"\n",
    )
    .unwrap();
    let extra = dir.path().join("extra.toml");
    std::fs::write(&extra, "[intake]\nmax_images = 5\n").unwrap();
    let s = Settings::load_from(
        dir.path(),
        Some(&extra),
        env(&[
            ("CONSILIUM__SERVER__ENVIRONMENT", "test"),
            ("CONSILIUM__INTAKE__MAX_FILE_BYTES", "1048576"),
            (
                "CONSILIUM__DEADLINES__BANK_HOLIDAYS",
                "2030-01-01,2030-12-25",
            ),
        ]),
    )
    .unwrap();
    assert_eq!(s.server.bind, "127.0.0.1:9000");
    assert_eq!(s.server.public_url, "http://from-env-file");
    assert_eq!(s.intake.max_images, 5);
    assert_eq!(s.intake.max_file_bytes, 1_048_576);
    assert_eq!(s.bank_holidays().unwrap().len(), 2);
}

#[test]
fn invalid_values_name_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let err = Settings::load_from(
        dir.path(),
        None,
        env(&[("CONSILIUM__SERVER__BIND", "nope")]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("server.bind"), "{err}");
    let err = Settings::load_from(
        dir.path(),
        None,
        env(&[("CONSILIUM__STORAGE__BACKEND", "ftp")]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("storage.backend"), "{err}");
}

#[test]
fn contact_details_come_from_configuration_and_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let s = Settings::load_from(
        dir.path(),
        None,
        env(&[
            ("CONSILIUM__CONTACT__TELEPHONE", "+44 (0)20 7946-0999"),
            (
                "CONSILIUM__CONTACT__POSTAL_ADDRESS",
                "Second Opinions Ltd,1 Harley Street,London W1G 9QD",
            ),
        ]),
    )
    .unwrap();
    assert_eq!(s.contact.postal_address.len(), 3);
    assert_eq!(s.contact.telephone_href(), "tel:+4402079460999");
    let footer = s.contact.footer_lines();
    assert_eq!(footer.first(), Some(&s.contact.name));
    assert!(footer.contains(&"1 Harley Street".to_owned()), "{footer:?}");
    assert!(
        footer
            .iter()
            .any(|l| l == "Email: help@consilium.example.org"),
        "{footer:?}"
    );
    for (key, value, named) in [
        (
            "CONSILIUM__CONTACT__EMAIL",
            "not an address",
            "contact.email",
        ),
        (
            "CONSILIUM__CONTACT__TELEPHONE",
            "call us",
            "contact.telephone",
        ),
        ("CONSILIUM__CONTACT__NAME", " ", "contact.name"),
    ] {
        let err = Settings::load_from(dir.path(), None, env(&[(key, value)])).unwrap_err();
        assert!(err.to_string().contains(named), "{err}");
    }
}

#[test]
fn proxy_ranges_match_their_addresses() {
    let net = IpNet::parse("10.1.0.0/16").unwrap();
    assert!(net.contains("10.1.200.3".parse().unwrap()));
    assert!(!net.contains("10.2.0.1".parse().unwrap()));
    assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
    let one = IpNet::parse("192.0.2.7").unwrap();
    assert!(one.contains("192.0.2.7".parse().unwrap()));
    assert!(!one.contains("192.0.2.8".parse().unwrap()));
    let all = IpNet::parse("0.0.0.0/0").unwrap();
    assert!(all.contains("203.0.113.1".parse().unwrap()));
    let v6 = IpNet::parse("fd00::/8").unwrap();
    assert!(v6.contains("fd12::1".parse().unwrap()));
    assert!(!v6.contains("fe80::1".parse().unwrap()));
    assert!(IpNet::parse("10.0.0.0/33").is_none());
    assert!(IpNet::parse("proxy.internal").is_none());
    let dir = tempfile::tempdir().unwrap();
    let s = Settings::load_from(
        dir.path(),
        None,
        env(&[("CONSILIUM__SERVER__TRUSTED_PROXIES", "10.0.0.0/8,192.0.2.7")]),
    )
    .unwrap();
    assert_eq!(s.trusted_proxies().unwrap().len(), 2);
    let err = Settings::load_from(
        dir.path(),
        None,
        env(&[("CONSILIUM__SERVER__TRUSTED_PROXIES", "nope")]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("server.trusted_proxies"), "{err}");
}

#[test]
fn secrets_are_not_printed() {
    let dir = tempfile::tempdir().unwrap();
    let s = Settings::load_from(
        dir.path(),
        None,
        env(&[
            (
                "CONSILIUM__KEYS__KEKS__K1",
                "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I=",
            ),
            ("CONSILIUM__DATABASE__URL", "postgres://u:hunter2@db/x"),
        ]),
    )
    .unwrap();
    let printed = format!("{s:?}");
    assert!(!printed.contains("c2VjcmV0"), "{printed}");
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(s.keys.keks.contains_key("k1"));
}
