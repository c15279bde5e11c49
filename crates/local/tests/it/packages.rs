//! Deployment packages as an attacker crafts them, sent through the real
//! Lambda API: every unsafe package is refused with a 400
//! `InvalidParameterValueException` that says why, writes nothing outside
//! the service's code directory and leaves no partial unpack behind; a
//! legitimate package with an in-package symlink and an executable
//! bootstrap still deploys and runs.

use crate::common::{ROLE, Server};

use std::io::{Cursor, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use aws_sdk_lambda::Client;
use aws_sdk_lambda::config::http::HttpResponse;
use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, Runtime};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use zip::write::{FullFileOptions, SimpleFileOptions};
use zip::{CompressionMethod, System, ZipArchive, ZipWriter};

/// One entry of a crafted package.
enum Entry<'a> {
    /// A regular file with a unix mode.
    File(&'a str, &'a [u8], u32),
    /// A symlink and its target.
    Link(&'a str, &'a str),
    /// An entry whose unix mode carries this file type (device, FIFO, socket).
    Special(&'a str, u32),
}

fn package(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    for e in entries {
        match e {
            Entry::File(name, data, mode) => {
                w.start_file(*name, SimpleFileOptions::default().unix_permissions(*mode)).unwrap();
                w.write_all(data).unwrap();
            }
            Entry::Link(name, target) => w.add_symlink(*name, *target, SimpleFileOptions::default()).unwrap(),
            Entry::Special(name, mode) => {
                let opts = SimpleFileOptions::default().system(System::Unix).external_attributes(mode << 16);
                w.start_file(*name, opts).unwrap();
            }
        }
    }
    w.finish().unwrap().into_inner()
}

const MIB: usize = 1024 * 1024;

/// `copies` entries of 16 MiB of zeros each: deflated once (streamed in
/// 1 MiB chunks), then copied raw, so building 300 MB costs one 16 MiB
/// compression. The zip declares the true sizes.
fn zeros_bomb(copies: usize) -> Vec<u8> {
    let mut one = ZipWriter::new(Cursor::new(Vec::new()));
    one.start_file("zeros", SimpleFileOptions::default().compression_method(CompressionMethod::Deflated)).unwrap();
    let chunk = vec![0u8; MIB];
    for _ in 0..16 {
        one.write_all(&chunk).unwrap();
    }
    let one = one.finish().unwrap().into_inner();
    let mut src = ZipArchive::new(Cursor::new(one)).unwrap();
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    for i in 0..copies {
        w.raw_copy_file_rename(src.by_index(0).unwrap(), format!("zeros/{i}")).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// The offsets of every entry's local and central header.
fn header_offsets(zip: &[u8]) -> Vec<(usize, usize)> {
    let mut a = ZipArchive::new(Cursor::new(zip)).unwrap();
    (0..a.len())
        .map(|i| {
            let f = a.by_index(i).unwrap();
            (f.header_start() as usize, f.central_header_start() as usize)
        })
        .collect()
}

/// A bomb that lies: every entry inflates to 16 MiB but its local and
/// central headers declare 1 KiB.
fn lying_bomb(copies: usize) -> Vec<u8> {
    let mut zip = zeros_bomb(copies);
    for (local, central) in header_offsets(&zip) {
        // The uncompressed size field: offset 22 of a local header, 24 of a central one.
        zip[local + 22..local + 26].copy_from_slice(&1024u32.to_le_bytes());
        zip[central + 24..central + 28].copy_from_slice(&1024u32.to_le_bytes());
    }
    zip
}

/// A bomb whose entries are flagged as streamed (general purpose bit 3,
/// "sizes in a data descriptor"), so that no total size is known before
/// unzipping: only counting the bytes written can stop it.
fn streamed_bomb(copies: usize) -> Vec<u8> {
    let mut zip = zeros_bomb(copies);
    for (local, central) in header_offsets(&zip) {
        // The flags: offset 6 of a local header, 8 of a central one.
        zip[local + 6] |= 0x08;
        zip[central + 8] |= 0x08;
    }
    assert_eq!(ZipArchive::new(Cursor::new(&zip)).unwrap().decompressed_size(), None, "no declared total");
    zip
}

/// A file entry carrying a PKWARE Unix extra field (0x000d) whose variable
/// part names the file it is a hard link of. The zip crate will not write
/// that reserved id, so a marker id is written and patched afterwards.
fn hard_link_package() -> Vec<u8> {
    const MARKER: u16 = 0x6b6c;
    let mut field = Vec::new();
    field.extend_from_slice(&[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]); // atime, mtime
    field.extend_from_slice(&[0xe8, 0x03, 0xe8, 0x03]); // uid, gid
    field.extend_from_slice(b"bootstrap"); // linked to
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    w.start_file("bootstrap", SimpleFileOptions::default().unix_permissions(0o755)).unwrap();
    w.write_all(b"#!/bin/sh\n").unwrap();
    let mut opts = FullFileOptions::default().unix_permissions(0o644);
    opts.add_extra_field(MARKER, &field, false).unwrap();
    w.start_file("copy-of-bootstrap", opts).unwrap();
    let mut zip = w.finish().unwrap().into_inner();
    let mut header = MARKER.to_le_bytes().to_vec();
    header.extend_from_slice(&(field.len() as u16).to_le_bytes());
    header.extend_from_slice(&field);
    let mut patched = 0;
    let mut i = 0;
    while i + header.len() <= zip.len() {
        if zip[i..i + header.len()] == header[..] {
            zip[i..i + 2].copy_from_slice(&0x000du16.to_le_bytes());
            patched += 1;
        }
        i += 1;
    }
    assert_eq!(patched, 2, "the marker field is in the local and the central header");
    zip
}

/// A name with a NUL byte: written as `nul?x`, then the `?` patched to 0 in
/// both headers.
fn nul_name_package() -> Vec<u8> {
    let mut zip = package(&[Entry::File("bootstrap", b"#!/bin/sh\n", 0o755), Entry::File("nul?x", b"x", 0o644)]);
    let mut patched = 0;
    for i in 0..zip.len() - 5 {
        if &zip[i..i + 5] == b"nul?x" {
            zip[i + 3] = 0;
            patched += 1;
        }
    }
    assert_eq!(patched, 2);
    zip
}

/// The data directory sits two levels below the test's root, so that an
/// escape four levels above the unpack directory (`<data>/code/.tmp-…`)
/// lands at `<root>/outside-1`, inside the test's own temp dir.
struct Layout {
    _root: tempfile::TempDir,
    root: PathBuf,
    data: PathBuf,
}

impl Layout {
    fn new() -> Layout {
        let root_dir = ownstak_testkit::tempdir();
        let root = root_dir.path().to_path_buf();
        let data = root.join("outside-1/outside-2/data");
        Layout { _root: root_dir, root, data }
    }

    /// Everything under the root except the data directory, so a test can
    /// assert that nothing else was ever created.
    fn outside_data(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, skip: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                let p = e.path();
                if p == skip {
                    continue;
                }
                out.push(p.clone());
                if std::fs::symlink_metadata(&p).unwrap().is_dir() {
                    walk(&p, skip, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root, &self.data, &mut out);
        out.sort();
        out
    }

    fn assert_nothing_outside(&self, case: &str) {
        let expected = vec![self.root.join("outside-1"), self.root.join("outside-1/outside-2")];
        assert_eq!(self.outside_data(), expected, "{case}: nothing may be written outside the data directory");
        // The exact escape targets of the reported attack.
        assert!(!self.root.join("outside-1/X").exists(), "{case}");
        assert!(!self.root.join("outside-1/outside-2/X").exists(), "{case}");
    }

    /// The code directory holds no partial unpack and no directory for
    /// this (refused) package.
    fn assert_no_leftovers(&self, case: &str, zip: &[u8]) {
        let code = self.data.join("code");
        let names: Vec<String> = std::fs::read_dir(&code)
            .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        assert!(!names.iter().any(|n| n.starts_with(".tmp-")), "{case}: a temp dir was left behind: {names:?}");
        let id = hex::encode(Sha256::digest(zip));
        assert!(!names.contains(&id), "{case}: the refused package was stored: {names:?}");
    }
}

/// The refusal: HTTP 400, `x-amzn-ErrorType: InvalidParameterValueException`,
/// body `{"Type":"User","message":…}` whose message contains every fragment.
fn assert_refused<E: std::fmt::Debug>(case: &str, err: &SdkError<E, HttpResponse>, fragments: &[&str]) {
    let raw = err.raw_response().unwrap_or_else(|| panic!("{case}: no HTTP answer: {err:?}"));
    assert_eq!(raw.status().as_u16(), 400, "{case}: {err:?}");
    assert_eq!(raw.headers().get("x-amzn-ErrorType"), Some("InvalidParameterValueException"), "{case}");
    let body: Value = serde_json::from_slice(raw.body().bytes().unwrap_or_default()).unwrap();
    assert_eq!(body["Type"], "User", "{case}: {body}");
    let message = body["message"].as_str().unwrap_or_default();
    for f in fragments {
        assert!(message.contains(f), "{case}: the message should say `{f}`: {message}");
    }
}

async fn create(client: &Client, name: &str, zip: Vec<u8>) -> Result<(), String> {
    client
        .create_function()
        .function_name(name)
        .runtime(Runtime::Providedal2023)
        .role(ROLE)
        .handler("bootstrap")
        .code(FunctionCode::builder().zip_file(Blob::new(zip)).build())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("{e:?}"))
}

const BOOTSTRAP: &[u8] = b"#!/bin/sh\nexit 0\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_packages_are_refused_and_leave_nothing_behind() {
    let layout = Layout::new();
    let server = Server::start(&layout.data).await;
    let client = server.client();

    let long_path = format!("{}/f", vec!["d".repeat(200); 6].join("/"));
    let deep_path = format!("{}f", "d/".repeat(80));
    let long_name = "n".repeat(256);
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        (
            // The reported attack: a link that resolves inside, a second link
            // written through it, and a file written through both.
            "symlink chain escape",
            package(&[
                Entry::File("bootstrap", BOOTSTRAP, 0o755),
                Entry::Link("a/b/c/d/up", "../../../.."),
                Entry::Link("a/b/c/d/up/e", "../../../.."),
                Entry::File("e/X", b"pwned", 0o644),
            ]),
            vec!["a/b/c/d/up/e", "through symlink `a/b/c/d/up`"],
        ),
        (
            "file written through an in-package symlink",
            package(&[
                Entry::File("lib/v1/index.js", b"1", 0o644),
                Entry::Link("lib/current", "v1"),
                Entry::File("lib/current/evil.js", b"2", 0o644),
            ]),
            vec!["lib/current/evil.js", "through symlink `lib/current`"],
        ),
        (
            "symlink above the package root",
            package(&[Entry::File("bootstrap", BOOTSTRAP, 0o755), Entry::Link("lib/etc", "../../etc")]),
            vec!["lib/etc", "outside the package"],
        ),
        (
            "absolute symlink",
            package(&[Entry::File("bootstrap", BOOTSTRAP, 0o755), Entry::Link("passwd", "/etc/passwd")]),
            vec!["passwd", "absolute"],
        ),
        (
            // Each link looks contained when its `..` are counted as text, but
            // `a/b/x` resolves to `a`, so `a/b/L` = `a/b/x/../..` = `a/../..`.
            "symlink escaping through a later symlink",
            package(&[
                Entry::File("bootstrap", BOOTSTRAP, 0o755),
                Entry::Link("a/b/L", "x/../.."),
                Entry::Link("a/b/x", ".."),
            ]),
            vec!["a/b/L", "outside the package"],
        ),
        (
            "duplicate entry replacing a symlink",
            package(&[
                Entry::File("lib/v1/index.js", b"1", 0o644),
                Entry::Link("lib/current", "v1"),
                Entry::File("./lib/current", b"not a link any more", 0o644),
            ]),
            vec!["lib/current", "twice"],
        ),
        ("absolute path", package(&[Entry::File("/tmp/ownstak-abs-evil", b"x", 0o644)]), vec!["absolute"]),
        ("parent component", package(&[Entry::File("lib/../../evil", b"x", 0o644)]), vec!["`..`"]),
        ("NUL byte in a name", nul_name_package(), vec!["NUL"]),
        (
            "character device",
            package(&[Entry::File("bootstrap", BOOTSTRAP, 0o755), Entry::Special("dev/null", 0o020666)]),
            vec!["dev/null", "device"],
        ),
        (
            "block device",
            package(&[Entry::File("bootstrap", BOOTSTRAP, 0o755), Entry::Special("dev/sda", 0o060660)]),
            vec!["dev/sda", "device"],
        ),
        (
            "FIFO",
            package(&[Entry::File("bootstrap", BOOTSTRAP, 0o755), Entry::Special("pipe", 0o010644)]),
            vec!["pipe", "FIFO"],
        ),
        (
            "socket",
            package(&[Entry::File("bootstrap", BOOTSTRAP, 0o755), Entry::Special("sock", 0o140755)]),
            vec!["sock", "socket"],
        ),
        ("hard link", hard_link_package(), vec!["copy-of-bootstrap", "hard link"]),
        ("path too long", package(&[Entry::File(&long_path, b"x", 0o644)]), vec!["bytes long", "1024"]),
        ("too deep", package(&[Entry::File(&deep_path, b"x", 0o644)]), vec!["deep", "64"]),
        ("name too long", package(&[Entry::File(&long_name, b"x", 0o644)]), vec!["255"]),
        ("zip bomb", zeros_bomb(19), vec!["more than 250 MB", "Lambda's limit"]),
        ("zip bomb with lying sizes", lying_bomb(19), vec!["zeros/0", "declares"]),
        ("zip bomb without a declared total", streamed_bomb(19), vec!["more than 250 MB", "Lambda's limit"]),
    ];

    for (i, (case, zip, fragments)) in cases.into_iter().enumerate() {
        let name = format!("attack-{i}");
        let err = client
            .create_function()
            .function_name(&name)
            .runtime(Runtime::Providedal2023)
            .role(ROLE)
            .code(FunctionCode::builder().zip_file(Blob::new(zip.clone())).build())
            .send()
            .await
            .expect_err(case);
        assert_refused(case, &err, &fragments);
        layout.assert_nothing_outside(case);
        layout.assert_no_leftovers(case, &zip);
        let missing = client.get_function().function_name(&name).send().await.expect_err("no function was created");
        assert!(missing.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()), "{case}");
    }

    // UpdateFunctionCode refuses the same way and leaves the function as it was.
    create(&client, "victim", package(&[Entry::File("bootstrap", BOOTSTRAP, 0o755)])).await.unwrap();
    let before = client.get_function_configuration().function_name("victim").send().await.unwrap();
    let attack = package(&[
        Entry::Link("a/b/c/d/up", "../../../.."),
        Entry::Link("a/b/c/d/up/e", "../../../.."),
        Entry::File("e/X", b"pwned", 0o644),
    ]);
    let err = client
        .update_function_code()
        .function_name("victim")
        .zip_file(Blob::new(attack.clone()))
        .send()
        .await
        .expect_err("UpdateFunctionCode with the attack");
    assert_refused("update with the attack", &err, &["through symlink"]);
    layout.assert_nothing_outside("update with the attack");
    layout.assert_no_leftovers("update with the attack", &attack);
    let after = client.get_function_configuration().function_name("victim").send().await.unwrap();
    assert_eq!(after.code_sha256(), before.code_sha256());
    assert_eq!(after.revision_id(), before.revision_id());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_entries_are_refused_before_anything_is_written() {
    let layout = Layout::new();
    let server = Server::start(&layout.data).await;
    let client = server.client();
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    for i in 0..=100_000 {
        w.start_file(format!("{i}"), opts).unwrap();
    }
    let zip = w.finish().unwrap().into_inner();
    let err = client
        .create_function()
        .function_name("many")
        .runtime(Runtime::Providedal2023)
        .role(ROLE)
        .code(FunctionCode::builder().zip_file(Blob::new(zip.clone())).build())
        .send()
        .await
        .expect_err("100,001 entries");
    assert_refused("too many entries", &err, &["100001 entries", "100000"]);
    layout.assert_nothing_outside("too many entries");
    layout.assert_no_leftovers("too many entries", &zip);
    server.stop().await;
}

/// A curl bootstrap answering every invocation with the content of
/// `lib/current/data.txt`, read through the package's own symlink.
const READING_BOOTSTRAP: &str = r#"#!/bin/sh
api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
hdr=$(mktemp) || exit 1
while true; do
  curl -sS -D "$hdr" -o /dev/null "$api/invocation/next" || exit 1
  rid=$(grep -i '^lambda-runtime-aws-request-id:' "$hdr" | tr -d '\r' | cut -d' ' -f2)
  data=$(cat lib/current/data.txt)
  curl -sS -o /dev/null -X POST --data "{\"data\":\"$data\"}" "$api/invocation/$rid/response" || exit 1
done
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_with_an_in_package_symlink_deploys_and_runs() {
    let layout = Layout::new();
    let server = Server::start(&layout.data).await;
    let client = server.client();
    let zip = package(&[
        Entry::File("bootstrap", READING_BOOTSTRAP.as_bytes(), 0o755),
        Entry::File("lib/v1/data.txt", b"from-v1", 0o644),
        Entry::Link("lib/current", "v1"),
        Entry::Link("lib/root", ".."),
        Entry::Link("lib/alias", "current/../v1/data.txt"),
        Entry::File("bin/tool", b"#!/bin/sh\n", 0o4777),
    ]);
    create(&client, "linked", zip).await.unwrap();

    let code = client.get_function().function_name("linked").send().await.unwrap();
    let location = code.code().and_then(|c| c.location()).unwrap();
    let dir = PathBuf::from(location.strip_prefix("file://").unwrap());
    let mode = |p: &str| std::fs::metadata(dir.join(p)).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode("bootstrap"), 0o755, "the bootstrap stays executable");
    assert_eq!(mode("bin/tool"), 0o775, "setuid and world-writable bits are dropped, the executable bits kept");
    assert_eq!(mode("lib/v1/data.txt"), 0o644);
    assert_eq!(std::fs::read_link(dir.join("lib/current")).unwrap(), Path::new("v1"));
    assert_eq!(std::fs::read_to_string(dir.join("lib/alias")).unwrap(), "from-v1");
    layout.assert_nothing_outside("legitimate package");

    let out = client.invoke().function_name("linked").payload(Blob::new("{}")).send().await.unwrap();
    assert_eq!(out.function_error(), None, "{out:?}");
    let payload: Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert_eq!(payload, json!({"data": "from-v1"}), "the function read its file through the package's symlink");
    server.stop().await;
}
