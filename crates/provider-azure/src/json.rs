//! JSON errors that do not quote their input, for inputs that hold tokens or secrets.

/// A JSON error without the input: serde_json's type errors quote the offending value (`invalid type: string
/// "<token>"`), and these inputs carry service-account tokens and client secrets.
#[derive(Debug, thiserror::Error)]
#[error("{} at line {} column {}", json_category(.0), .0.line(), .0.column())]
pub struct JsonError(pub serde_json::Error);

fn json_category(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected value type",
        serde_json::error::Category::Eof => "unexpected end of input",
    }
}
