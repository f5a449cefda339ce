//! What `migrate` prints: the manifests as YAML with the notes as comments, or one JSON object.

use serde::Serialize;

use super::migration::{Migration, Note, Resource};

pub(super) const YAML_HEADER: &str = "# kubectl sse migrate: review before applying; no secret value was read.\n# SSE-rs takes over an existing Secret of the same name only when it is marked sse-rs.io/adoptable=true (kubectl sse adopt --help).\n";

/// The manifests, `---` separated; each source's preceded by comments naming it and what was not carried
/// over.
pub fn render_yaml(migrations: &[Migration]) -> Result<String, serde_yaml_ng::Error> {
    let mut out = String::from(YAML_HEADER);
    for migration in migrations {
        out.push_str("---\n");
        out.push_str(&comment(&format!("from {}", migration.source)));
        for note in &migration.notes {
            let what = if note.check { "check" } else { "not carried over" };
            out.push_str(&comment(&format!("{what}: {} ({})", note.field, note.reason)));
        }
        for (i, resource) in migration.resources.iter().enumerate() {
            if i > 0 {
                out.push_str("---\n");
            }
            out.push_str(&serde_yaml_ng::to_string(resource)?);
        }
    }
    Ok(out)
}

/// One comment line (line breaks in names from the input cannot end the comment).
pub(super) fn comment(text: &str) -> String {
    format!("# {}\n", text.replace(['\n', '\r'], " "))
}

/// `{"resources": [...], "notes": [...]}`.
#[derive(Serialize)]
struct Report<'a> {
    resources: Vec<&'a Resource>,
    notes: Vec<&'a Note>,
}

/// Every generated object and every note, as one JSON object.
pub fn render_json(migrations: &[Migration]) -> Result<String, serde_json::Error> {
    let report = Report {
        resources: migrations.iter().flat_map(|m| &m.resources).collect(),
        notes: migrations.iter().flat_map(|m| &m.notes).collect(),
    };
    Ok(serde_json::to_string_pretty(&report)? + "\n")
}
