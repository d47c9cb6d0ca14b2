fn main() {
    // The tray app's resources (tauri.conf.json, capabilities, icons) are only
    // compiled in with the `gui` feature; the headless build needs none of them.
    #[cfg(feature = "gui")]
    tauri_build::build();
}
