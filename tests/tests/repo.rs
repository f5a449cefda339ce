//! Tier 1: the repository's own hygiene (`docs/TESTING.md#repository-hygiene`). No network and no cargo
//! metadata: the workspace is read from disk, at the parent of this package's directory. Each test reports
//! every offender at once.
//!
//! * [`source_files_have_at_most_500_lines`]: every hand-written `.rs` file under `crates/`, `tests/` and
//!   `xtask/`. Generated code is exempt: a file under a `gen/` folder, or one whose first five lines say
//!   `@generated` or `DO NOT EDIT`.
//! * [`document_references_resolve`]: in every code, manifest and Markdown file ([`SCANNED`], `.ci/`), a
//!   path ending in `.md` names a file of the workspace (from the root or the citing file's folder); an
//!   `#anchor` after it is the GitHub anchor of one of its headings (lower-cased, spaces to `-`, punctuation
//!   but `-` and `_` dropped, `-1`, `-2` for repeats); a section sign and number, `A6` or `Part X` after it
//!   begins one of its headings. In Markdown, a relative link names a file or folder (and its anchor a
//!   heading), a bare section sign one of the file's own numbered headings. Dangling, as citations of the
//!   specification kept outside the repository: its upper-case name, a section sign with no document before
//!   it (an RFC's excepted), a decision label in parentheses, after `decision` or opening a comment. This
//!   file is not scanned: it spells out the patterns it looks for.
//! * [`architecture_names_exist`]: every backticked name in `ARCHITECTURE.md` that looks like a file path or
//!   a Rust path exists. A **file path** ends in a source or document extension or `/`, or has a `/` and no
//!   `.`; it exists when a file or folder of the workspace is at it, at `crates/<first>/src/<rest>`
//!   (ARCHITECTURE's convention), or ends with it (files are named relative to their crate or test folder);
//!   `*` matches within one segment. A **Rust path** is `a::B::c`, optionally with `()`, one argument list,
//!   a final `::*` or a trailing `*` (a prefix). Each segment must be defined in the workspace's `.rs` files:
//!   after `fn`, `struct`, `enum`, `trait`, `type`, `mod`, `const`, `static`, `union` or `macro_rules!`; a
//!   file or folder name; a package; a field, parameter or variant (a name opening a line before `:`, `,`,
//!   `(` or `{`, or after `(` or `,` before `:`); or a string literal (environment variables). A few names
//!   come from dependencies ([`EXTERNAL`]). Not checked: spans with spaces, flags (`--x`), URL paths (`/x`),
//!   chained calls, metric families (`…_total`, `…_seconds`: composed at registration), dotted names (fields
//!   such as `status.syncHash`, API groups, Secret keys), hyphenated names (packages, features, containers,
//!   commands), camelCase names (YAML and JSON fields), and spans with `<`, `…`, quotes, braces, `=` or `#`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 500;
/// Extensions of the files whose references are checked.
const SCANNED: &str = "rs md yaml yml toml proto lua py sh";
const SELF: &str = "tests/tests/repo.rs";
/// Names `ARCHITECTURE.md` borrows from std and dependencies (tonic and gRPC, kube, futures, azure).
const EXTERNAL: &str = "Ok Err None FromStr Status UNIMPLEMENTED Api patch_metadata requeue Recorder \
                        default_backoff join_all azure_identity";
const SPEC_CITED: &str = "cites the specification kept outside the repository";

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Every file under `dir`, sorted, skipping build output and hidden folders other than `.ci`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir).into_iter().flatten().flatten();
    let mut paths: Vec<PathBuf> = entries.map(|e| e.path()).collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if !path.is_dir() {
            out.push(path);
        } else if name != "target" && (!name.starts_with('.') || name == ".ci") {
            out.extend(files(&path));
        }
    }
    out
}

/// Every file under `crates/`, `tests/` and `xtask/`.
fn sources(root: &Path) -> Vec<PathBuf> {
    let tops = ["crates", "tests", "xtask"].map(|top| files(&root.join(top)));
    tops.concat()
}

fn rel(root: &Path, path: &Path) -> String {
    let path = path.strip_prefix(root).unwrap_or(path);
    path.to_string_lossy().replace('\\', "/")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn ext(path: &Path) -> &str {
    path.extension().and_then(|e| e.to_str()).unwrap_or_default()
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The longest prefix of `s` whose characters satisfy `ok`.
fn take(s: &str, ok: impl Fn(char) -> bool) -> String {
    s.chars().take_while(|c| ok(*c)).collect()
}

/// Fails with `what` and every entry of `list`, one a line.
#[track_caller]
fn report(what: &str, list: &[String]) {
    assert!(list.is_empty(), "{} {what}:\n{}", list.len(), list.join("\n"));
}

#[test]
fn source_files_have_at_most_500_lines() {
    let root = root();
    let mut offenders = Vec::new();
    for path in sources(&root).into_iter().filter(|p| ext(p) == "rs") {
        let text = read(&path);
        let marker = |l: &str| l.contains("@generated") || l.contains("DO NOT EDIT");
        let marked = text.lines().take(5).any(marker);
        let generated = marked || path.components().any(|c| c.as_os_str() == "gen");
        let lines = text.lines().count();
        if !generated && lines > MAX_LINES {
            offenders.push((lines, rel(&root, &path)));
        }
    }
    offenders.sort_by(|a, b| b.cmp(a));
    let list: Vec<String> = offenders.iter().map(|(n, p)| format!("  {p}: {n}")).collect();
    report(
        "source files are longer than 500 lines (path: lines); split them by concern (a large test module \
         goes into a sibling tests.rs or tests/ folder)",
        &list,
    );
}

/// The texts of the headings of a Markdown document, outside fenced code blocks.
fn headings(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim_start) {
        let rest = line.trim_start_matches('#');
        let level = line.len() - rest.len();
        if line.starts_with("```") || line.starts_with("~~~") {
            fenced = !fenced;
        } else if !fenced && (1..=6).contains(&level) && rest.starts_with(' ') {
            out.push(rest.trim().trim_end_matches('#').trim().to_string());
        }
    }
    out
}

/// GitHub's anchor of a heading: `[label](target)` read as `label`, lower-cased, spaces to `-`,
/// punctuation but `-` and `_` removed.
fn slug(heading: &str) -> String {
    let (mut text, mut rest) = (String::new(), heading);
    while let Some(open) = rest.find('[') {
        let Some(mid) = rest[open..].find("](").map(|m| open + m) else {
            break;
        };
        let Some(close) = rest[mid..].find(')').map(|c| mid + c) else {
            break;
        };
        text.push_str(&rest[..open]);
        text.push_str(&rest[open + 1..mid]);
        rest = &rest[close + 1..];
    }
    text.push_str(rest);
    let keep = |c: &char| c.is_alphanumeric() || *c == '-' || *c == '_';
    let dashed = text.to_lowercase().replace(' ', "-");
    dashed.chars().filter(keep).collect()
}

fn anchors(headings: &[String]) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for s in headings.iter().map(|h| slug(h)) {
        let n = seen.entry(s.clone()).or_insert(0);
        out.insert(if *n == 0 { s } else { format!("{s}-{n}") });
        *n += 1;
    }
    out
}

/// Whether a heading begins with `section` (`7`, `5.4`, `A6`, `Part A`) as a whole token.
fn has_section(headings: &[String], section: &str) -> bool {
    let whole = |rest: &str| !rest.starts_with(|c: char| c.is_ascii_alphanumeric());
    let mut tails = headings.iter().filter_map(|h| h.strip_prefix(section));
    tails.any(whole)
}

/// A reference to a document: the path as written (empty: the citing file), an anchor or a section in
/// it, and whether it is a Markdown link (resolved from the citing file's folder only).
struct Ref(String, Option<String>, Option<String>, bool);

/// What follows `.md`: `#anchor`, or a section sign and a number, `A6`, `Part X` (anchor, section).
fn after_doc(rest: &str) -> (Option<String>, Option<String>) {
    if let Some(a) = rest.strip_prefix('#') {
        let anchor = take(a, |c| c.is_alphanumeric() || c == '-' || c == '_');
        return (Some(anchor), None);
    }
    let rest = rest.strip_prefix('`').unwrap_or(rest);
    let rest = rest.strip_prefix("'s").unwrap_or(rest);
    let section = if let Some(n) = rest.strip_prefix(" \u{a7}") {
        let n = take(n, |c| c.is_ascii_digit() || c == '.');
        n.trim_end_matches('.').to_string()
    } else if let Some(p) = rest.strip_prefix(" Part ") {
        format!("Part {}", take(p, |c| c.is_ascii_alphanumeric()))
    } else if let Some(a) = rest.strip_prefix(" A") {
        format!("A{}", take(a, |c| c.is_ascii_digit()))
    } else {
        String::new()
    };
    let empty = section.is_empty() || section == "A" || section == "Part ";
    (None, (!empty).then_some(section))
}

/// The document references of one line, and the citations in it that cannot resolve.
fn scan_line(line: &str, markdown: bool) -> (Vec<Ref>, Vec<String>) {
    let (mut refs, mut problems) = (Vec::new(), Vec::new());
    let path_char = |c: char| c.is_ascii_alphanumeric() || "_./~-".contains(c);
    let mentions = line.match_indices(".md").map(|(i, _)| i);
    for i in mentions.filter(|i| !line[i + 3..].starts_with(is_word)) {
        let start = line[..i].rfind(|c: char| !path_char(c)).map_or(0, |p| p + 1);
        let (before, path) = (&line[..start], &line[start..i + 3]);
        let url = path.starts_with("//") || before.ends_with([':', '$']);
        if path != ".md" && !url && !before.ends_with("](") {
            let (anchor, section) = after_doc(&line[i + 3..]);
            refs.push(Ref(path.to_string(), anchor, section, false));
        }
    }
    // Links, in Markdown; inline code holds none (`[a-z]([-a-z]*)` is a pattern).
    let prose = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
    for (i, _) in prose.match_indices("](").filter(|_| markdown) {
        let target = prose[i + 2..].split([')', ' ']).next().unwrap_or_default();
        let external = target.contains("://") || target.starts_with("mailto:");
        if !target.is_empty() && !external {
            let (path, anchor) = target.split_once('#').unwrap_or((target, ""));
            let anchor = (!anchor.is_empty()).then(|| anchor.to_string());
            refs.push(Ref(path.to_string(), anchor, None, true));
        }
    }
    let spec = line.match_indices("SPEC").any(|(i, _)| {
        let after = &line[i + 4..];
        !line[..i].ends_with(is_word) && !after.starts_with(is_word) && !after.starts_with(".md")
    });
    if spec {
        problems.push(format!("{SPEC_CITED}: cite docs/… instead"));
    }
    for (i, _) in line.match_indices('\u{a7}').filter(|_| !spec) {
        let before = line[..i].trim_end();
        let word = before.rsplit(char::is_whitespace).next().unwrap_or_default();
        let rest = before[..before.len() - word.len()].trim_end();
        let rfc = word.chars().all(|c| c.is_ascii_digit()) && rest.ends_with("RFC");
        if rfc || word.ends_with(".md") || word.ends_with(".md's") {
            continue;
        }
        let number = take(&line[i + 2..], |c| c.is_ascii_digit() || c == '.');
        let number = number.trim_end_matches('.').to_string();
        if markdown {
            refs.push(Ref(String::new(), None, Some(number), true));
        } else {
            problems.push(format!("\u{a7}{number} names no document: cite docs/…"));
        }
    }
    for (i, _) in line.match_indices('A').filter(|_| !spec) {
        let digits = take(&line[i + 1..], |c| c.is_ascii_digit());
        let label = digits.len() <= 2 && digits.parse().is_ok_and(|n: u32| (1..=12).contains(&n));
        let (before, next) = (&line[..i], &line[i + 1 + digits.len()..]);
        if !label || before.ends_with(is_word) || next.starts_with(is_word) {
            continue;
        }
        let marker = ["//!", "///", "//", "#"].contains(&before.trim());
        let comment = marker && next.starts_with([':', ' ']);
        let parens = before.ends_with('(') && next.starts_with(')');
        if parens || before.ends_with("decision ") || comment {
            problems.push(format!("{SPEC_CITED} (decision A{digits})"));
        }
    }
    (refs, problems)
}

/// Whether `path` exists inside `root`.
fn inside(root: &Path, path: &Path) -> bool {
    path.canonicalize().is_ok_and(|p| p.starts_with(root))
}

#[test]
fn document_references_resolve() {
    let root = root().canonicalize().expect("the workspace root");
    let mut headings_of: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    for file in files(&root) {
        let name = rel(&root, &file);
        let scanned = SCANNED.split(' ').any(|e| e == ext(&file)) || name.starts_with(".ci/");
        if name == SELF || !scanned {
            continue;
        }
        let dir = file.parent().unwrap_or(&root).to_path_buf();
        for (n, line) in read(&file).lines().enumerate() {
            let (refs, mut found) = scan_line(line, ext(&file) == "md");
            for Ref(path, anchor, section, link) in refs {
                let candidates = match (path.as_str(), link) {
                    ("", _) => vec![file.clone()],
                    (p, _) if p.starts_with('/') => vec![],
                    (p, true) => vec![dir.join(p)],
                    (p, false) => vec![root.join(p), dir.join(p)],
                };
                let Some(target) = candidates.into_iter().find(|p| inside(&root, p)) else {
                    found.push(format!("{path} is not a file of the repository"));
                    continue;
                };
                if ext(&target) != "md" {
                    continue;
                }
                let shown = if path.is_empty() { "this file" } else { &path };
                let hs = headings_of.entry(target.clone()).or_default();
                if hs.is_empty() {
                    *hs = headings(&read(&target));
                }
                if let Some(anchor) = anchor.filter(|a| !anchors(hs).contains(a)) {
                    found.push(format!("{shown} has no heading with the anchor #{anchor}"));
                }
                if let Some(section) = section.filter(|s| !has_section(hs, s)) {
                    found.push(format!("{shown} has no heading numbered {section}"));
                }
            }
            found.dedup();
            problems.extend(found.into_iter().map(|p| format!("  {name}:{}: {p}", n + 1)));
        }
    }
    report(
        "references to documents do not resolve (docs/ holds what the code relies on, see docs/README.md)",
        &problems,
    );
}

/// Every name the workspace's Rust sources define or spell as a string, by the rules of the module doc.
fn definitions(root: &Path) -> BTreeSet<String> {
    const KEYWORDS: &str = "fn struct enum trait type mod const static union macro_rules!";
    let field = |rest: &str| rest.starts_with(':') && !rest.starts_with("::");
    let mut defs = BTreeSet::new();
    for path in sources(root) {
        for part in path.strip_prefix(root).unwrap_or(&path) {
            let part = part.to_string_lossy();
            defs.insert(part.strip_suffix(".rs").unwrap_or(&part).to_string());
        }
        let text = read(&path);
        if path.ends_with("Cargo.toml") {
            let names = text.lines().filter_map(|l| l.trim().strip_prefix("name = \""));
            defs.extend(names.map(|n| n.trim_end_matches('"').replace('-', "_")));
        }
        for line in text.lines().filter(|_| ext(&path) == "rs") {
            for kw in KEYWORDS.split(' ').map(|k| format!("{k} ")) {
                for (i, _) in line.match_indices(&kw) {
                    if !line[..i].ends_with(is_word) {
                        defs.insert(take(&line[i + kw.len()..], is_word));
                    }
                }
            }
            let t = line.trim_start();
            let t = t.strip_prefix("pub(crate) ").unwrap_or(t);
            let t = t.strip_prefix("pub ").unwrap_or(t);
            let head = take(t, is_word);
            let next = t[head.len()..].trim_start();
            if field(next) || next.is_empty() || next.starts_with([',', '(', '{']) {
                defs.insert(head);
            }
            for (i, _) in line.match_indices(['(', ',']) {
                let rest = line[i + 1..].trim_start();
                let name = take(rest, is_word);
                if field(&rest[name.len()..]) {
                    defs.insert(name);
                }
            }
            defs.extend(line.split('"').skip(1).step_by(2).map(str::to_string));
        }
    }
    defs.remove("");
    defs
}

/// What a backticked span of ARCHITECTURE.md names, by the rules of the module doc.
enum Name {
    File(String),
    Code(Vec<String>),
    Other,
}

fn classify(span: &str) -> Name {
    const EXTENSIONS: &str = ".rs .md .yaml .yml .toml .proto .py .lua .sh .json";
    let odd = |c: char| c.is_whitespace() || "<>…=\"'{}[]#@$&|!".contains(c);
    if span.chars().any(odd) || span.starts_with(['-', '/']) {
        return Name::Other;
    }
    let span = match span.find('(') {
        Some(open) if span.ends_with(')') && span.matches('(').count() == 1 => &span[..open],
        Some(_) => return Name::Other,
        None => span,
    };
    let file = EXTENSIONS.split(' ').any(|e| span.ends_with(e)) || span.ends_with('/');
    if file || (span.contains('/') && !span.contains(['.', ':'])) {
        return Name::File(span.to_string());
    }
    let metric = span.ends_with("_total") || span.ends_with("_seconds");
    let lower = span.starts_with(|c: char| c.is_ascii_lowercase());
    let camel = lower && span.contains(|c: char| c.is_ascii_uppercase());
    if metric || camel || span.is_empty() || span.contains(['.', '/', '-']) {
        return Name::Other;
    }
    let segments = span.split("::").filter(|s| *s != "*");
    let segments: Vec<String> = segments.map(str::to_string).collect();
    let ident = |s: &String| {
        let s = s.trim_end_matches('*');
        s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') && s.chars().all(is_word)
    };
    match segments.iter().all(ident) && !segments.is_empty() {
        true => Name::Code(segments),
        false => Name::Other,
    }
}

/// `pattern` with `*` matching within one path segment.
fn glob(pattern: &str, text: &str) -> bool {
    let Some((head, tail)) = pattern.split_once('*') else {
        return pattern == text;
    };
    text.strip_prefix(head).is_some_and(|rest| {
        let cuts = (0..=rest.len()).filter(|i| rest.is_char_boundary(*i));
        let mut cuts = cuts.take_while(|i| !rest[..*i].contains('/'));
        cuts.any(|i| glob(tail, &rest[i..]))
    })
}

/// The folders above `file` (`a/b/c.rs`: `a`, `a/b`), and the tails of its path (`b/c.rs`, `c.rs`).
fn folders_and_tails(file: &str) -> (Vec<&str>, Vec<&str>) {
    let cuts: Vec<usize> = file.match_indices('/').map(|(i, _)| i).collect();
    let tails = cuts.iter().map(|i| &file[i + 1..]).collect();
    (cuts.iter().map(|i| &file[..*i]).collect(), tails)
}

#[test]
fn architecture_names_exist() {
    let root = root();
    let text = read(&root.join("ARCHITECTURE.md"));
    assert!(!text.is_empty(), "ARCHITECTURE.md is missing");
    let files: Vec<String> = files(&root).iter().map(|p| rel(&root, p)).collect();
    let folders: BTreeSet<&str> = files.iter().flat_map(|f| folders_and_tails(f).0).collect();
    let paths: Vec<&str> = files.iter().map(String::as_str).chain(folders).collect();
    let defs = definitions(&root);
    let known = |s: &String| match s.strip_suffix('*') {
        Some(prefix) => defs.iter().any(|d| d.starts_with(prefix)),
        None => defs.contains(s) || EXTERNAL.split_whitespace().any(|e| e == s),
    };
    let mut missing = BTreeSet::new();
    for span in text.split('`').skip(1).step_by(2) {
        match classify(span) {
            Name::File(path) => {
                let path = path.trim_end_matches('/');
                let in_crate = path.split_once('/').map(|(c, r)| format!("crates/{c}/src/{r}"));
                let in_crate = in_crate.unwrap_or_default();
                let found = paths.iter().any(|f| {
                    let tails = folders_and_tails(f).1;
                    glob(path, f) || glob(&in_crate, f) || tails.iter().any(|t| glob(path, t))
                });
                if !found {
                    missing.insert(format!("  `{span}`: no such file or folder"));
                }
            }
            Name::Code(segments) => {
                let absent: Vec<&String> = segments.iter().filter(|s| !known(s)).collect();
                if !absent.is_empty() {
                    missing.insert(format!("  `{span}`: nothing defines {absent:?}"));
                }
            }
            Name::Other => {}
        }
    }
    let missing: Vec<String> = missing.into_iter().collect();
    report("names in ARCHITECTURE.md do not exist", &missing);
}

#[test]
fn the_scanner_reads_references_as_documented() {
    assert_eq!(slug("`x` flags (each env)"), "x-flags-each-env");
    assert_eq!(slug("8. [k8s.io/tls](A.md#x) now"), "8-k8siotls-now");
    let hs: Vec<String> = ["Errors", "Errors", "7. What"].map(String::from).to_vec();
    assert!(anchors(&hs).contains("errors-1"));
    assert!(has_section(&hs, "7") && !has_section(&hs, "70"));
    let (refs, problems) = scan_line("see docs/API.md#errors, ARCHITECTURE.md \u{a7}7", false);
    assert!(problems.is_empty() && refs.len() == 2, "{problems:?}");
    let found = (refs[0].1.as_deref(), refs[1].2.as_deref());
    assert_eq!(found, (Some("errors"), Some("7")));
    for dangling in "(SPEC \u{a7}5.4)|QUIRK of \u{a7}5.4|status reason (A4)|decision A8|// A7: x".split('|') {
        assert_eq!(scan_line(dangling, false).1.len(), 1, "{dangling}");
    }
    for fine in "RFC 6761 \u{a7}6.3|\"A1\"|https://x.y/README.md|SPECIAL|(A13)|Arc A1 ".split('|') {
        let (refs, problems) = scan_line(fine, false);
        assert!(refs.is_empty() && problems.is_empty(), "{fine}");
    }
    assert_eq!(
        scan_line("`KEYVAULT.md` Part A", false).0[0].2.as_deref(),
        Some("Part A")
    );
    assert_eq!(scan_line("[x](../a.md#b)", true).0[0].0, "../a.md");
    assert!(glob("tests/deploy_*.rs", "tests/deploy_rbac.rs") && !glob("a/*.rs", "a/b/c.rs"));
    assert!(matches!(classify("Cluster::apply_secret"), Name::Code(s) if s.len() == 2));
    assert!(matches!(classify("manager/sync.rs"), Name::File(_)));
    for other in "status.syncHash --workers failingSince sse-api u:<updated> /debug/x a().b()".split(' ') {
        assert!(matches!(classify(other), Name::Other), "{other}");
    }
}
