//! What the packages are made of, checked without building them (scripts/release.sh builds
//! them, scripts/test-packages.sh installs them): the desktop entry passes
//! `desktop-file-validate`, every file the .deb and .rpm metadata name is in the tree, each icon
//! is of the size its destination says, and the headless packages carry no desktop part.

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn manifest() -> toml::Table {
    std::fs::read_to_string(root().join("Cargo.toml"))
        .expect("Cargo.toml")
        .parse()
        .expect("Cargo.toml parses")
}

fn table<'a>(t: &'a toml::Table, path: &[&str]) -> &'a toml::Table {
    path.iter().fold(t, |t, k| {
        t.get(*k)
            .and_then(toml::Value::as_table)
            .unwrap_or_else(|| panic!("Cargo.toml has no [{}]", path.join(".")))
    })
}

/// (source, destination) of each asset: cargo-deb's arrays, cargo-generate-rpm's tables.
fn assets(t: &toml::Table) -> Vec<(String, String)> {
    t.get("assets")
        .and_then(toml::Value::as_array)
        .expect("assets")
        .iter()
        .map(|a| match a {
            toml::Value::Array(v) => (
                v[0].as_str().expect("source").to_string(),
                v[1].as_str().expect("destination").to_string(),
            ),
            toml::Value::Table(t) => (
                t["source"].as_str().expect("source").to_string(),
                t["dest"].as_str().expect("dest").to_string(),
            ),
            other => panic!("not an asset: {other}"),
        })
        .collect()
}

/// A PNG's width and height, from its header.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).expect("icon");
    assert_eq!(&bytes[1..4], b"PNG", "{} is not a PNG", path.display());
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    (be(16), be(20))
}

#[test]
fn the_desktop_entry_passes_desktop_file_validate() {
    let entry = root().join("packaging/sickbay.desktop");
    let out = Command::new("desktop-file-validate")
        .arg(&entry)
        .output()
        .expect("run desktop-file-validate (Debian's desktop-file-utils)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
    let text = std::fs::read_to_string(&entry).expect("entry");
    assert!(text.contains("\nExec=sickbay\n") && text.contains("\nIcon=sickbay\n"));
}

#[test]
fn every_packaged_file_is_there_and_every_icon_has_its_size() {
    let m = manifest();
    let deb = table(&m, &["package", "metadata", "deb"]);
    let rpm = table(&m, &["package", "metadata", "generate-rpm"]);
    let sets = [
        ("deb", deb),
        ("deb headless", table(deb, &["variants", "headless"])),
        ("rpm", rpm),
        ("rpm headless", table(rpm, &["variants", "headless"])),
    ];
    let mut icons = 0;
    for (name, set) in sets {
        let list = assets(set);
        assert!(
            list.iter()
                .any(|(s, d)| s == "target/release/sickbay" && d.contains("usr/bin")),
            "{name}: the program"
        );
        assert!(
            list.iter().any(|(s, _)| s == "packaging/sickbay.1"),
            "{name}: the manual page"
        );
        for (source, dest) in list {
            if source.starts_with("target/") {
                continue;
            }
            assert!(
                root().join(&source).is_file(),
                "{name}: {source} is missing"
            );
            if let Some(size) = dest.split("/hicolor/").nth(1) {
                let size = size.split('/').next().expect("size folder");
                let (w, h) = png_size(&root().join(&source));
                assert_eq!(format!("{w}x{h}"), size, "{name}: {source} for {dest}");
                icons += 1;
            }
        }
        if name.contains("headless") {
            let text = format!("{set:?}");
            assert!(
                !text.contains(".desktop") && !text.contains("hicolor"),
                "{name}: a desktop part in the headless package"
            );
        }
    }
    assert_eq!(icons, 12, "six icon sizes in each desktop package");
    // The headless .deb is built without the tray app, and the tray's with its UI embedded.
    let headless = table(deb, &["variants", "headless"]);
    assert_eq!(headless["default-features"].as_bool(), Some(false));
    assert!(deb["features"]
        .as_array()
        .expect("features")
        .iter()
        .any(|f| f.as_str() == Some("custom-protocol")));
    // Its unit is the one `sickbay service unit --system` writes (tests/service.rs).
    let units = headless["systemd-units"].as_table().expect("systemd-units");
    let dir = units["unit-scripts"].as_str().expect("unit-scripts");
    assert!(root().join(dir).join("sickbay.service").is_file());
}
