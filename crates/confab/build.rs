//! Embeds the built web app (web/dist) into the binary. Without a build of
//! the app, a page saying how to build it is embedded instead, so the server
//! always compiles.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../web/dist");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    if root.join("index.html").is_file() {
        collect(&root, &root, &mut files);
        println!(
            "cargo:rerun-if-changed={}",
            root.join("index.html").display()
        );
        println!("cargo:rerun-if-changed={}", root.join("assets").display());
    }
    files.sort();
    let mut out = String::from("&[\n");
    if files.is_empty() {
        out.push_str(
            "    confab_signal::Asset { path: \"/index.html\", content_type: \"text/html; charset=utf-8\", body: b\"<!doctype html><title>Confab</title><p>The web app is not built. Run <code>scripts/run</code> (or <code>npm ci &amp;&amp; npm run build</code> in <code>web/</code>) and rebuild.</p>\" },\n",
        );
    }
    for (path, file) in &files {
        writeln!(
            out,
            "    confab_signal::Asset {{ path: {:?}, content_type: {:?}, body: include_bytes!({:?}) }},",
            path,
            content_type(path),
            file.display().to_string()
        )
        .unwrap();
    }
    out.push(']');
    let dest = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("assets.rs");
    std::fs::write(dest, out).unwrap();
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(root, &p, files);
        } else if let Ok(rel) = p.strip_prefix(root) {
            let url = format!("/{}", rel.to_string_lossy().replace('\\', "/"));
            files.push((url, p.canonicalize().unwrap_or(p.clone())));
        }
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "ico" => "image/x-icon",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "woff2" => "font/woff2",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}
