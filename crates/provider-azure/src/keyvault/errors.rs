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
        status, error_code, ..
    } = error.kind()
    {
        message.push_str(&format!(
            "{operation} {url}: HTTP {} {}",
            u16::from(*status),
            error_code.as_deref().unwrap_or("(no error code)")
        ));
        // Only a structured Key Vault error (JSON body with an error code) is quoted: a non-JSON body (a
        // proxy's page) could echo request headers, the bearer token among them.
        let text = if error_code.is_some() {
            error.to_string()
        } else {
            String::new()
        };
        if !text.is_empty() && !text.starts_with("HttpResponse(") {
            message.push_str(": ");
            message.push_str(&text);
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
