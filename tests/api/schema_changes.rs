//! SDL changes are checked: `server/schema.graphql` against the schema of the
//! last release (`server/releases/<version>.graphql`, the newest version
//! there), by graphql-js's `findBreakingChanges` (`tests/browser/
//! schema_changes.mjs`, the check `@graphql-inspector/cli` is built on). A
//! breaking change fails unless `CHANGELOG.md` names it, in graphql-js's
//! words, under a version heading newer than that release (Keep a Changelog
//! 1.1 headings, `## [x.y.z]`; `[Unreleased]` does not count).
//!
//! `scripts/test` installs Node.js and the pinned npm `graphql`; without node
//! these tests fail, never skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::console::repo;

/// A semantic version's numbers (SemVer 2.0 `MAJOR.MINOR.PATCH`, no
/// pre-release), or `None` for anything else.
fn version(text: &str) -> Option<(u64, u64, u64)> {
    let mut parts = text.split('.').map(|p| p.parse::<u64>().ok());
    let v = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(v)
}

/// The newest released schema: its version and file.
fn newest_release(dir: &Path) -> ((u64, u64, u64), PathBuf) {
    std::fs::read_dir(dir)
        .expect("server/releases")
        .filter_map(|e| {
            let path = e.ok()?.path();
            let v = version(path.file_name()?.to_str()?.strip_suffix(".graphql")?)?;
            Some((v, path))
        })
        .max()
        .expect("a released schema in server/releases")
}

/// A fresh folder under the system's temporary directory.
fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ledger-schema-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// What graphql-js finds between two SDL files: (breaking, dangerous)
/// descriptions. Errors: the script's exit code and output when a file does
/// not parse.
fn compare(old: &Path, new: &Path) -> Result<(Vec<String>, Vec<String>), String> {
    let out = Command::new("node")
        .arg(repo().join("tests/browser/schema_changes.mjs"))
        .arg(old)
        .arg(new)
        .stdin(Stdio::null())
        .output()
        .expect("run node (scripts/test installs it and tests/browser's npm packages)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!("{:?}: {stdout}{}", out.status.code(), String::from_utf8_lossy(&out.stderr)));
    }
    let found: serde_json::Value = serde_json::from_str(stdout.trim()).map_err(|e| format!("{e}: {stdout}"))?;
    let list = |k: &str| -> Vec<String> {
        found[k].as_array().into_iter().flatten().filter_map(|d| d.as_str().map(str::to_owned)).collect()
    };
    Ok((list("breaking"), list("dangerous")))
}

/// The breaking changes `changelog` does not name under a version newer than
/// `released`: each description must appear (without its final period) in
/// such a section.
fn unnamed(breaking: &[String], changelog: &str, released: (u64, u64, u64)) -> Vec<String> {
    let mut newer = String::new();
    let mut inside = false;
    for line in changelog.lines() {
        if let Some(heading) = line.strip_prefix("## [") {
            let name = heading.split(']').next().unwrap_or_default();
            inside = version(name).is_some_and(|v| v > released);
        } else if inside {
            newer.push_str(line);
            newer.push('\n');
        }
    }
    let newer = newer.split_whitespace().collect::<Vec<_>>().join(" ");
    breaking.iter().filter(|d| !newer.contains(d.trim_end_matches('.'))).cloned().collect()
}

#[test]
fn breaking_changes_to_the_released_schema_are_named_in_the_changelog() {
    let root = repo();
    let (released, path) = newest_release(&root.join("server/releases"));
    let changelog = std::fs::read_to_string(root.join("CHANGELOG.md")).expect("CHANGELOG.md");
    assert!(
        changelog.contains(&format!("## [{}.{}.{}]", released.0, released.1, released.2)),
        "the release is in the changelog"
    );

    let (breaking, dangerous) = compare(&path, &root.join("server/schema.graphql")).expect("both schemas parse");

    let missing = unnamed(&breaking, &changelog, released);
    assert!(
        missing.is_empty(),
        "breaking changes since {path:?} that CHANGELOG.md does not name under a newer version: {missing:#?} \
         (dangerous, for the record: {dangerous:#?})"
    );
}

#[test]
fn a_breaking_change_fails_until_a_new_version_names_it() {
    // Arrange: the released schema with a required argument added to a field.
    let root = repo();
    let (released, path) = newest_release(&root.join("server/releases"));
    let sdl = std::fs::read_to_string(&path).expect("released schema");
    let changed =
        sdl.replacen("\tmerchant(id: ID!): Merchant\n", "\tmerchant(id: ID!, branch: String!): Merchant\n", 1);
    assert_ne!(changed, sdl, "the released schema has QueryRoot.merchant(id:)");
    let dir = scratch();
    let new = dir.join("schema.graphql");
    std::fs::write(&new, &changed).expect("write");

    // Act
    let (breaking, _) = compare(&path, &new).expect("both parse");

    // Assert: found, and named only under a version newer than the release.
    let words = "A required arg branch on QueryRoot.merchant was added.";
    assert_eq!(breaking, vec![words.to_owned()]);
    let real = std::fs::read_to_string(root.join("CHANGELOG.md")).expect("CHANGELOG.md");
    assert_eq!(unnamed(&breaking, &real, released), breaking, "the real changelog does not name it");
    let (ma, mi, pa) = released;
    let unreleased = format!("## [Unreleased]\n### Changed\n- {words}\n\n## [{ma}.{mi}.{pa}]\n");
    assert_eq!(unnamed(&breaking, &unreleased, released), breaking, "[Unreleased] is not a version");
    let under_old = format!("## [{ma}.{mi}.{pa}]\n### Changed\n- {words}\n");
    assert_eq!(unnamed(&breaking, &under_old, released), breaking, "the old version does not count");
    let under_new = format!(
        "## [{}.0.0] - 2027-01-01\n### Removed\n- {}\n  (clients must now pass it)\n\n## [{ma}.{mi}.{pa}]\n",
        ma + 1,
        words
    );
    assert!(unnamed(&breaking, &under_new, released).is_empty(), "named under a new version");
}

#[test]
fn a_schema_that_does_not_parse_is_an_error_not_a_pass() {
    let root = repo();
    let (_, path) = newest_release(&root.join("server/releases"));
    let dir = scratch();
    let broken = dir.join("broken.graphql");
    std::fs::write(&broken, "type QueryRoot {").expect("write");
    let err = compare(&path, &broken).expect_err("a broken schema is refused");
    assert!(err.contains("Syntax Error"), "{err}");
    assert_eq!(version("1.2"), None);
    assert_eq!(version("1.2.3.4"), None);
    assert_eq!(version("0.10.0"), Some((0, 10, 0)));
}
