"""Drive the keyvault-emulator with the official Python Azure SDK, as it is configured by default.

Run by tests/python_sdk.rs. The clients are built WITHOUT an ``api_version`` argument, so every request
carries the installed package's default (azure-keyvault-secrets/-certificates 4.12.0: 2026-04-01,
azure-keyvault-keys 4.11.3: 2025-07-01). The api-version each request actually used is recorded from the
wire and printed, one JSON line per client:

    {"client": "secrets", "api_version": "2026-04-01", "default": "2026-04-01", "ok": true, ...}

Certificates and keys already in the vault are listed and each one is read back.

Any failure prints the error on stderr and exits non-zero.

Environment:
    VAULT_URL      https://demo.vault.localhost:PORT
    CA_FILE        PEM of the emulator's CA (the only CA trusted)
    EMULATOR_ADDR  HOST:PORT the emulator listens on (vault hosts are sent to HOST)
    ACCESS_TOKEN   an access token the emulator issued for https://vault.localhost
"""

import json
import os
import sys
import traceback
import uuid
from urllib.parse import parse_qs, urlparse

from azure.keyvault.certificates import CertificateClient
from azure.keyvault.keys import KeyClient
from azure.keyvault.secrets import SecretClient
from azure.keyvault.certificates._shared import client_base as certificates_base
from azure.keyvault.keys._shared import client_base as keys_base
from azure.keyvault.secrets._shared import client_base as secrets_base
from emulator_net import StaticCredential, resolve_to

VAULT_URL = os.environ["VAULT_URL"]
CA_FILE = os.environ["CA_FILE"]
EMULATOR_HOST = os.environ["EMULATOR_ADDR"].rsplit(":", 1)[0].strip("[]")
ACCESS_TOKEN = os.environ["ACCESS_TOKEN"]

resolve_to(EMULATOR_HOST)



class Recorder:
    """raw_response_hook: the api-version and status of every response the client saw (challenges too)."""

    def __init__(self):
        self.seen = []

    def __call__(self, pipeline_response):
        request = pipeline_response.http_request
        query = parse_qs(urlparse(request.url).query)
        self.seen.append(
            {
                "method": request.method,
                "path": urlparse(request.url).path,
                "api_version": ",".join(query.get("api-version", [])) or None,
                "status": pipeline_response.http_response.status_code,
            }
        )


def plain(version):
    return getattr(version, "value", version)


def run(name, default, build, work):
    recorder = Recorder()
    credential = StaticCredential(ACCESS_TOKEN)
    client = build(
        VAULT_URL,
        credential,
        # The bearer challenge names resource https://vault.localhost; the SDK's check that the vault host
        # is under the resource's domain compares host:port, so with the emulator's non-443 port it would
        # refuse. Turning it off is what the SDK's own message advises for such setups.
        verify_challenge_resource=False,
        connection_verify=CA_FILE,
        raw_response_hook=recorder,
        retry_total=0,
    )
    with client:
        detail = work(client)
    versions = sorted({s["api_version"] for s in recorder.seen if s["api_version"]})
    if not recorder.seen:
        raise RuntimeError(f"{name}: no request was recorded")
    if any(s["api_version"] is None for s in recorder.seen) or len(versions) != 1:
        raise RuntimeError(f"{name}: requests did not all carry one api-version: {recorder.seen}")
    if not credential.scopes:
        raise RuntimeError(f"{name}: the credential was never asked for a token: {recorder.seen}")
    line = {
        "client": name,
        "api_version": versions[0],
        "default": plain(default),
        "ok": True,
        "requests": len(recorder.seen),
        "statuses": sorted({s["status"] for s in recorder.seen}),
        "scopes": sorted(set(credential.scopes)),
    }
    line.update(detail)
    print(json.dumps(line), flush=True)


def secrets(client):
    name = "py-" + uuid.uuid4().hex[:12]
    value = "value-" + uuid.uuid4().hex
    created = client.set_secret(name, value, content_type="text/plain", tags={"from": "python"})
    if created.value != value or created.name != name:
        raise RuntimeError(f"set_secret answered {created.name!r}={created.value!r}")
    got = client.get_secret(name)
    if got.value != value or got.properties.version != created.properties.version:
        raise RuntimeError(f"get_secret answered {got.value!r} version {got.properties.version!r}")
    if got.properties.content_type != "text/plain" or got.properties.tags != {"from": "python"}:
        raise RuntimeError(f"get_secret lost attributes: {got.properties.content_type!r} {got.properties.tags!r}")
    names = [p.name for p in client.list_properties_of_secrets()]
    if name not in names:
        raise RuntimeError(f"list_properties_of_secrets misses {name}: {names}")
    return {"listed": len(names)}


def certificates(client):
    names = sorted(p.name for p in client.list_properties_of_certificates())
    for name in names:
        cert = client.get_certificate(name)
        if cert.name != name or not cert.cer or not cert.properties.x509_thumbprint:
            raise RuntimeError(f"get_certificate({name!r}) answered {cert!r}")
    return {"listed": len(names), "fetched": names}


def keys(client):
    names = sorted(p.name for p in client.list_properties_of_keys())
    for name in names:
        key = client.get_key(name)
        if key.name != name or not key.key_type:
            raise RuntimeError(f"get_key({name!r}) answered {key!r}")
    return {"listed": len(names), "fetched": names}


def main():
    try:
        run("secrets", secrets_base.DEFAULT_VERSION, SecretClient, secrets)
        run("certificates", certificates_base.DEFAULT_VERSION, CertificateClient, certificates)
        run("keys", keys_base.DEFAULT_VERSION, KeyClient, keys)
    except Exception as err:  # pylint: disable=broad-except
        traceback.print_exc()
        print(f"error: {type(err).__name__}: {err}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
