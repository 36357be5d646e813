//! `cargo xtask build [--release]`: builds what `triage serve` needs — the server
//! binary, the browser bundle (the `app` crate for wasm32 with `hydrate`, turned into
//! `pkg/triage.js` + `pkg/triage.wasm` by wasm-bindgen's own library) and the style
//! sheet — with nothing installed beyond the Rust toolchain and its wasm32 target.
//!
//! It does what `cargo leptos build` does for this workspace (the settings come from
//! `[[workspace.metadata.leptos]]` in Cargo.toml and are repeated here as constants),
//! so `cargo leptos watch` keeps working for those who have it. Output:
//! `$CARGO_TARGET_DIR/{debug,release}/triage` and `$LEPTOS_SITE_ROOT` (default
//! `$CARGO_TARGET_DIR/site`).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// The name the bundle's files carry; the server compiles it in from
/// `LEPTOS_OUTPUT_NAME` and then asks for `pkg/triage.js` and `pkg/triage.wasm`.
const OUTPUT_NAME: &str = "triage";
const SITE_PKG_DIR: &str = "pkg";
const STYLE_FILE: &str = "style/main.css";
/// Small beats fast for the browser bundle (Cargo.toml's `wasm-release` profile).
const WASM_RELEASE_PROFILE: &str = "wasm-release";

const USAGE: &str = "usage: cargo xtask build [--release]
  Builds the server binary, the browser bundle and the style sheet into
  $CARGO_TARGET_DIR (default ./target) and $LEPTOS_SITE_ROOT (default <target>/site).
  Run `source scripts/env.sh` first so the flags match the tests' (no rebuilds).";

fn main() -> Result<()> {
    let args: Vec<String> = env::args().skip(1).collect();
    let release = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["build"] => false,
        ["build", "--release"] => true,
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    let root = workspace_root();
    env::set_current_dir(&root)?;
    let target = env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let site = env::var_os("LEPTOS_SITE_ROOT").map_or_else(|| target.join("site"), PathBuf::from);
    let pkg = site.join(SITE_PKG_DIR);
    fs::create_dir_all(&pkg).with_context(|| format!("creating {}", pkg.display()))?;

    let started = Instant::now();
    build_bundle(&target, &pkg, release)?;
    write_style(
        &root.join(STYLE_FILE),
        &pkg.join(format!("{OUTPUT_NAME}.css")),
    )?;
    build_server(release)?;
    eprintln!(
        "==> built in {:.0} s: {}/{}/triage and {}",
        started.elapsed().as_secs_f64(),
        target.display(),
        if release { "release" } else { "debug" },
        site.display()
    );
    Ok(())
}

/// The folder holding the workspace's Cargo.toml (this crate's parent).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Runs cargo with the environment cargo-leptos would give it: the output name is
/// compiled into both halves so the server links the files the bundle is named by.
fn cargo(args: &[&str]) -> Result<()> {
    eprintln!("==> cargo {}", args.join(" "));
    let status = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .env("LEPTOS_OUTPUT_NAME", OUTPUT_NAME)
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

fn build_server(release: bool) -> Result<()> {
    let mut args = vec!["build", "--package", "server", "--bin", "triage"];
    if release {
        args.push("--release");
    }
    cargo(&args)
}

/// The `app` crate for the browser, then wasm-bindgen's JS glue. wasm-bindgen names
/// the module `<name>_bg.wasm`; the server (built with `LEPTOS_OUTPUT_NAME` set) asks
/// for `<name>.wasm`, as cargo-leptos names it.
fn build_bundle(target: &Path, pkg: &Path, release: bool) -> Result<()> {
    let mut args = vec![
        "build",
        "--package",
        "app",
        "--lib",
        "--target",
        "wasm32-unknown-unknown",
        "--no-default-features",
        "--features",
        "hydrate",
    ];
    if release {
        args.extend(["--profile", WASM_RELEASE_PROFILE]);
    }
    cargo(&args)?;
    let profile_dir = if release {
        WASM_RELEASE_PROFILE
    } else {
        "debug"
    };
    let wasm = target
        .join("wasm32-unknown-unknown")
        .join(profile_dir)
        .join("app.wasm");

    eprintln!("==> wasm-bindgen {} -> {}", wasm.display(), pkg.display());
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(&wasm)
        .out_name(OUTPUT_NAME)
        .web(true)?
        .typescript(false)
        .debug(!release)
        // DWARF would make the debug bundle ~120 MB; names keep panics readable.
        .keep_debug(false)
        .remove_name_section(release)
        .remove_producers_section(release)
        .generate(pkg)
        .with_context(|| format!("wasm-bindgen on {}", wasm.display()))?;
    let bindgen_wasm = pkg.join(format!("{OUTPUT_NAME}_bg.wasm"));
    let served_wasm = pkg.join(format!("{OUTPUT_NAME}.wasm"));
    fs::rename(&bindgen_wasm, &served_wasm).with_context(|| {
        format!(
            "renaming {} to {}",
            bindgen_wasm.display(),
            served_wasm.display()
        )
    })?;
    if release {
        optimise(&served_wasm)?;
    }
    Ok(())
}

/// `wasm-opt -Oz` when it is on PATH (scripts/build-release.sh puts npm's binaryen
/// there; Debian's is too old, see ../shared/TOOLCHAIN.md). Without it the bundle is
/// larger but works.
fn optimise(wasm: &Path) -> Result<()> {
    let before = fs::metadata(wasm)?.len();
    let status = match Command::new("wasm-opt")
        .arg("-Oz")
        .arg(wasm)
        .arg("-o")
        .arg(wasm)
        .status()
    {
        Ok(status) => status,
        Err(_) => {
            eprintln!("==> wasm-opt is not on PATH: the bundle stays unoptimised ({before} bytes)");
            return Ok(());
        }
    };
    if !status.success() {
        bail!("wasm-opt failed ({status})");
    }
    eprintln!(
        "==> wasm-opt: {before} -> {} bytes",
        fs::metadata(wasm)?.len()
    );
    Ok(())
}

/// The style sheet with its `@import "file.css";` lines replaced by the files, so the
/// browser makes one request (cargo-leptos bundles it the same way).
fn write_style(main: &Path, out: &Path) -> Result<()> {
    let css = inline_imports(main, 0)?;
    fs::write(out, css).with_context(|| format!("writing {}", out.display()))
}

fn inline_imports(file: &Path, depth: usize) -> Result<String> {
    if depth > 8 {
        bail!(
            "{}: @import nested more than 8 deep (a cycle?)",
            file.display()
        );
    }
    let text = fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let dir = file.parent().unwrap_or(Path::new("."));
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        match imported_file(line) {
            Some(name) => out.push_str(&inline_imports(&dir.join(name), depth + 1)?),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    Ok(out)
}

/// `@import "base.css";` → `base.css`; any other line → None.
fn imported_file(line: &str) -> Option<&str> {
    let rest = line
        .trim()
        .strip_prefix("@import")?
        .trim()
        .strip_suffix(';')?
        .trim();
    rest.strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .or_else(|| rest.strip_prefix('\'')?.strip_suffix('\''))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_are_read_in_either_quote_and_nothing_else_is() {
        assert_eq!(imported_file(r#"@import "base.css";"#), Some("base.css"));
        assert_eq!(imported_file("  @import 'queue.css' ;"), Some("queue.css"));
        assert_eq!(imported_file("body { color: red; }"), None);
        assert_eq!(imported_file(r#"@import url("x.css");"#), None);
    }

    #[test]
    fn the_style_sheet_inlines_every_import_it_names() {
        let dir = env::temp_dir().join(format!("xtask-css-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("main.css"), "@import \"a.css\";\nmain {}\n").unwrap();
        fs::write(dir.join("a.css"), "@import \"b.css\";\na {}\n").unwrap();
        fs::write(dir.join("b.css"), "b {}\n").unwrap();
        let css = inline_imports(&dir.join("main.css"), 0).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(css, "b {}\n\na {}\n\nmain {}\n");
    }

    /// The JS glue wasm-bindgen writes must come from the same version as the
    /// `wasm-bindgen` crate the app links (the one ../Cargo.lock pins).
    #[test]
    fn the_bindgen_library_is_the_version_the_app_links() {
        let lock = fs::read_to_string(workspace_root().join("Cargo.lock")).unwrap();
        let pinned = lock
            .split("[[package]]")
            .find(|p| p.contains("name = \"wasm-bindgen\"\n"))
            .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
            .expect("wasm-bindgen in Cargo.lock")
            .trim_matches('"');
        let ours = include_str!("../Cargo.toml")
            .lines()
            .find_map(|l| l.strip_prefix("wasm-bindgen-cli-support = "))
            .expect("wasm-bindgen-cli-support in xtask/Cargo.toml")
            .trim_matches(|c| c == '"' || c == '=');
        assert_eq!(ours, pinned);
    }

    #[test]
    fn the_real_style_sheet_has_no_import_left_once_bundled() {
        let css = inline_imports(&workspace_root().join(STYLE_FILE), 0).unwrap();
        assert!(!css.contains("@import"), "an @import survived bundling");
        assert!(css.len() > 1000, "the bundle is suspiciously small");
    }
}
