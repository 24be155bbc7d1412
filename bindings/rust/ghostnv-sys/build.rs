//! Finds libghostnv for linking, without pkg-config or any crate:
//!  1. `GHOSTNV_LIB_DIR` — the folder holding libghostnv.so (a build tree's runtime/api/, or an
//!     install prefix's lib/); it is also the folder to put on LD_LIBRARY_PATH when running.
//!  2. otherwise the usual system folders (/usr/local/lib, /usr/lib, the multiarch ones).
use std::env;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=GHOSTNV_LIB_DIR");
    const FILE: &str = "libghostnv.so";
    let mut found: Option<PathBuf> = None;
    if let Ok(dir) = env::var("GHOSTNV_LIB_DIR") {
        let dir = PathBuf::from(dir);
        if !dir.join(FILE).exists() {
            panic!(
                "GHOSTNV_LIB_DIR={} holds no {FILE}; build libghostnv first \
                 (cmake --build BUILD --target ghostnv) and point GHOSTNV_LIB_DIR at BUILD/runtime/api",
                dir.display()
            );
        }
        found = Some(dir);
    } else {
        let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
        let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
        for d in [
            "/usr/local/lib".to_string(),
            format!("/usr/local/lib/{arch}-{os}-gnu"),
            "/usr/lib".to_string(),
            format!("/usr/lib/{arch}-{os}-gnu"),
            "/usr/local/lib64".to_string(),
            "/usr/lib64".to_string(),
        ] {
            if Path::new(&d).join(FILE).exists() {
                found = Some(PathBuf::from(d));
                break;
            }
        }
        if found.is_none() {
            println!(
                "cargo:warning=libghostnv not found in the system folders; \
                 set GHOSTNV_LIB_DIR to the folder holding {FILE}"
            );
        }
    }
    if let Some(dir) = found {
        println!("cargo:rustc-link-search=native={}", dir.display());
        println!("cargo:lib_dir={}", dir.display());
    }
    println!("cargo:rustc-link-lib=dylib=ghostnv");
}
