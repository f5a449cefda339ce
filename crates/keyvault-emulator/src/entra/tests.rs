use super::*;

fn form(assertion: &str, client: &str, scope: &str) -> Vec<(String, String)> {
    [
        ("grant_type", "client_credentials"),
        ("client_id", client),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
        ("scope", scope),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

const AUD: &str = "api://AzureADTokenExchange";

fn entra() -> Entra {
    let e = Entra::new(Duration::from_secs(60));
    e.add_federated_credential(
        "t1",
        "c1",
        FederatedCredential {
            issuer: "https://issuer".into(),
            subject: "system:serviceaccount:ns:sa".into(),
            audience: AUD.into(),
        },
    );
    e
}

fn code(r: Result<Value, EntraError>) -> u32 {
    r.err().map(|e| e.code).unwrap_or(0)
}

#[test]
fn issues_and_checks_tokens() {
    let e = entra();
    let a = mint_assertion(
        "https://issuer",
        "system:serviceaccount:ns:sa",
        AUD,
        Duration::from_secs(60),
    );
    let ok = e
        .token("T1", &form(&a, "C1", "https://vault.localhost/.default"))
        .unwrap();
    assert_eq!(ok["expires_in"], 60);
    let token = ok["access_token"].as_str().unwrap();
    assert_eq!(
        e.check_bearer(Some(&format!("Bearer {token}")), KEYVAULT_RESOURCE),
        TokenCheck::Valid
    );
    assert_eq!(
        e.check_bearer(Some("Bearer nope"), KEYVAULT_RESOURCE),
        TokenCheck::Unknown
    );
    assert_eq!(e.check_bearer(None, KEYVAULT_RESOURCE), TokenCheck::Missing);
    // A Key Vault token is refused by Event Grid, and an Event Grid token by Key Vault.
    let bearer = format!("Bearer {token}");
    assert_eq!(
        e.check_bearer(Some(&bearer), EVENTGRID_RESOURCE),
        TokenCheck::WrongAudience
    );
    let eg = e
        .token("t1", &form(&a, "c1", "https://eventgrid.azure.net/.default"))
        .unwrap();
    let eg = format!("Bearer {}", eg["access_token"].as_str().unwrap());
    assert_eq!(e.check_bearer(Some(&eg), EVENTGRID_RESOURCE), TokenCheck::Valid);
    assert_eq!(
        e.check_bearer(Some(&eg), KEYVAULT_RESOURCE),
        TokenCheck::WrongAudience
    );
}

#[test]
fn error_codes() {
    let e = entra();
    let good = |iss: &str, sub: &str, aud: &str| mint_assertion(iss, sub, aud, Duration::from_secs(60));
    let sub = "system:serviceaccount:ns:sa";
    let scope = "https://vault.localhost/.default";
    assert_eq!(
        code(e.token("nope", &form(&good("https://issuer", sub, AUD), "c1", scope))),
        90002
    );
    assert_eq!(
        code(e.token("t1", &form(&good("https://issuer", sub, AUD), "c2", scope))),
        700016
    );
    assert_eq!(
        code(e.token("t1", &form(&good("https://other", sub, AUD), "c1", scope))),
        700211
    );
    assert_eq!(
        code(e.token("t1", &form(&good("https://issuer", "x", AUD), "c1", scope))),
        700213
    );
    assert_eq!(
        code(e.token("t1", &form(&good("https://issuer", sub, "aud"), "c1", scope))),
        700212
    );
    let expired = mint_assertion("https://issuer", sub, AUD, Duration::ZERO);
    assert_eq!(code(e.token("t1", &form(&expired, "c1", scope))), 700024);
    assert_eq!(code(e.token("t1", &form("garbage", "c1", scope))), 50027);
    let a = good("https://issuer", sub, AUD);
    assert_eq!(
        code(e.token("t1", &form(&a, "c1", "https://management.azure.com/.default"))),
        500011
    );
    assert_eq!(code(e.token("t1", &form(&a, "c1", "openid"))), 70011);
    let err = e
        .token("t1", &form(&good("https://other", sub, AUD), "c1", scope))
        .unwrap_err();
    let body = err.body("corr");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS700211: No matching")
    );
    assert_eq!(body["error_codes"][0], 700211);
    assert_eq!(body["error"], "invalid_client");
}

#[test]
fn timestamps() {
    assert_eq!(format_timestamp(0), "1970-01-01 00:00:00Z");
    assert_eq!(format_timestamp(1_709_278_867), "2024-03-01 07:41:07Z");
}
