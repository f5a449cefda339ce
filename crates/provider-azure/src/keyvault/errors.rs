//! How a Key Vault or Entra failure becomes one [`KeyVaultError`] text, and its metrics label.

/// A Key Vault or Entra failure, rendered once (it is shared between coalesced callers). `Display` is the
/// text: operation, URL, HTTP status, Key Vault error code, the service's message (never a secret value).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyVaultError {
    /// Key Vault (or Entra, through the SDK) answered with an error status.
    #[error("{message}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The rendered text.
        message: String,
    },
    /// No token for the identity: Entra refused it (the `AADSTS…` text is kept) or could not be asked.
    #[error("{message}")]
    Credential {
        /// The rendered text.
        message: String,
    },
    /// Key Vault or Entra could not be reached: connection, DNS, TLS, I/O.
    #[error("{message}")]
    Unreachable {
        /// The rendered text.
        message: String,
    },
    /// Anything else the SDK reports, such as an answer without the value asked for.
    #[error("{message}")]
    Other {
        /// The rendered text.
        message: String,
    },
    /// The provider is shutting down.
    #[error("the provider is shutting down")]
    ShuttingDown,
}

/// The HTTP client for Key Vault and Entra could not be built (an unusable `--keyvault-ca-file`).
#[derive(Debug, thiserror::Error)]
#[error("failed to build the HTTP client: {0}")]
pub struct HttpClientError(pub(super) reqwest::Error);

/// ` CODE (INNER): MESSAGE` of a Key Vault error body `{"error": {"code", "message", "innererror": {"code"}}}`.
///
/// Parsed here rather than taken from the SDK: azure_core 1.1 reads the body's `message` as a borrowed
/// `&str`, which fails on any JSON escape, so Key Vault's RBAC denial (its message has `\r\n` line breaks)
/// came out as `403: {the raw body}` with the status as its code. The inner code tells a missing role
/// (`ForbiddenByRbac`), a missing access policy (`AccessDenied`), a firewall (`ForbiddenByFirewall`) and a
/// disabled object (`SecretDisabled`) apart, which all share `Forbidden` (docs/KEYVAULT.md#errors).
fn service_error(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error")?;
    let code = error.get("code")?.as_str()?;
    let mut text = format!(" {code}");
    if let Some(inner) = error
        .get("innererror")
        .and_then(|i| i.get("code"))
        .and_then(serde_json::Value::as_str)
    {
        text.push_str(&format!(" ({inner})"));
    }
    if let Some(message) = error.get("message").and_then(serde_json::Value::as_str) {
        // One line: the service's line breaks become spaces.
        let flat: Vec<&str> = message.split_whitespace().collect();
        text.push_str(": ");
        text.push_str(&flat.join(" "));
    }
    Some(text)
}

pub(super) fn status_label<T>(result: &azure_core::Result<T>) -> &'static str {
    match result {
        Ok(_) => "200",
        Err(e) => match e.http_status().map(u16::from) {
            Some(400) => "400",
            Some(401) => "401",
            Some(403) => "403",
            Some(404) => "404",
            Some(409) => "409",
            Some(429) => "429",
            Some(s) if s >= 500 => "5xx",
            Some(_) => "4xx",
            None if matches!(e.kind(), azure_core::error::ErrorKind::Credential) => "credential",
            None => "transport",
        },
    }
}

/// Render an SDK error with what was asked, the status, the Key Vault error code and the service's own
/// message (which never contains secret values). Entra failures keep their `AADSTS…` text verbatim.
pub(super) fn render(error: &azure_core::Error, operation: &str, url: &str) -> KeyVaultError {
    use azure_core::error::ErrorKind;
    use std::error::Error as _;
    let mut message = String::new();
    if let ErrorKind::HttpResponse {
        status,
        raw_response,
        error_code,
    } = error.kind()
    {
        message.push_str(&format!("{operation} {url}: HTTP {}", u16::from(*status)));
        // Only a structured Key Vault error (JSON body with an error code) is quoted: a non-JSON body (a
        // proxy's page) could echo request headers, the bearer token among them. Without one, the
        // `x-ms-error-code` header's code, when the SDK found one (not the numeric status it falls back to).
        let header_code = error_code.as_deref().filter(|code| code.parse::<u16>().is_err());
        match (
            raw_response.as_deref().and_then(|r| service_error(r.body())),
            header_code,
        ) {
            (Some(service), _) => message.push_str(&service),
            (None, Some(code)) => message.push_str(&format!(" {code}")),
            (None, None) => message.push_str(" (no error code)"),
        }
        return KeyVaultError::Status {
            status: u16::from(*status),
            message,
        };
    }
    if !url.is_empty() {
        message.push_str(&format!("{operation} {url}: "));
    }
    message.push_str(&error.to_string());
    let mut source = error.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    match error.kind() {
        ErrorKind::Credential => KeyVaultError::Credential { message },
        ErrorKind::Connection | ErrorKind::Io => KeyVaultError::Unreachable { message },
        _ => KeyVaultError::Other { message },
    }
}

#[cfg(test)]
mod tests {
    use super::service_error;

    #[test]
    fn key_vault_error_bodies_keep_their_codes_and_one_line_message() {
        let rbac = br#"{"error":{"code":"Forbidden","message":"Caller is not authorized to perform action on resource.\r\nIf role assignments ... \r\nAction: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'\r\n","innererror":{"code":"ForbiddenByRbac"}}}"#;
        assert_eq!(
            service_error(rbac).as_deref(),
            Some(
                " Forbidden (ForbiddenByRbac): Caller is not authorized to perform action on resource. If role \
                 assignments ... Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'"
            )
        );
        assert_eq!(
            service_error(br#"{"error":{"code":"SecretNotFound","message":"A secret with (name/id) db was not found."}}"#)
                .as_deref(),
            Some(" SecretNotFound: A secret with (name/id) db was not found.")
        );
        assert_eq!(service_error(b"<html>proxy error</html>"), None, "not quoted");
        assert_eq!(service_error(br#"{"message":"no error member"}"#), None);
    }
}
