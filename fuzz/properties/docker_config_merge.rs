//! The auth file may hold anything. Whatever JSON object is there, storing a login
//! changes exactly this registry's entry: every other key and every other registry
//! survive, the result parses back, and removing the login removes only it.
//! Input: one byte choosing the registry, then the existing file.
//!
//! The property itself: the fuzz target runs it on random input (fuzz/run.sh), and
//! tests/suite/fuzz_corpus.rs replays every committed input through it in the gate.
use ci_registry_login::auth_file::{merge_login, parse, remove_login, render};
use serde_json::{Map, Value, json};

const REGISTRIES: [&str; 4] = [
    "registry.example.com",
    "registry.example.com:5050",
    "127.0.0.1:5000",
    "[::1]:5000",
];

pub fn check(data: &[u8]) {
    let Some((&choice, file)) = data.split_first() else {
        return;
    };
    let Ok(before) = parse(file, "config.json") else {
        return;
    };
    let registry = REGISTRIES[choice as usize % REGISTRIES.len()];
    let ours = [
        registry.to_string(),
        format!("https://{registry}"),
        format!("http://{registry}"),
    ];

    let mut merged = before.clone();
    merge_login(&mut merged, registry, "dXNlcjpzZWNyZXQ=");
    let written = parse(&render(&merged), "rendered").expect("what we write parses back");
    assert_eq!(written, merged);
    for (key, value) in &before {
        if key != "auths" {
            assert_eq!(written.get(key), Some(value), "top-level {key:?} changed");
        }
    }
    let auths = written["auths"].as_object().expect("auths is an object");
    assert_eq!(auths[registry], json!({"auth": "dXNlcjpzZWNyZXQ="}));
    assert!(!ours[1..].iter().any(|k| auths.contains_key(k)));
    if let Some(Value::Object(old)) = before.get("auths") {
        for (key, value) in old {
            if !ours.contains(key) {
                assert_eq!(auths.get(key), Some(value), "auths {key:?} changed");
            }
        }
    }

    let mut removed = merged;
    assert!(remove_login(&mut removed, registry));
    let mut expected: Map<String, Value> = before;
    if let Some(Value::Object(old)) = expected.get_mut("auths") {
        old.retain(|k, _| !ours.contains(k));
    } else {
        expected.insert("auths".into(), json!({}));
    }
    assert_eq!(removed, expected);
}
