"""Drive the keyvault-emulator's Event Grid namespace with the official Python SDK, configured by default.

Run by tests/python_eventgrid.rs. ``EventGridConsumerClient`` is built WITHOUT an ``api_version`` argument, so
every request carries the installed azure-eventgrid's default (4.22.1: 2024-06-01, its
``DEFAULT_STANDARD_API_VERSION``). A secret written with ``SecretClient`` publishes the event; the consumer
receives, renews, releases (now and with a delay), rejects and acknowledges, first with an
``AzureKeyCredential`` (``Authorization: SharedAccessKey``), then with a token credential (``Bearer``, scope
https://eventgrid.azure.net/.default). The api-version and the authorization scheme of every Event Grid
request are recorded from the wire and printed as one JSON line:

    {"client": "eventgrid", "api_version": "2024-06-01", "default": "2024-06-01", "ok": true, ...}

Any failure prints the error on stderr and exits non-zero.

Environment:
    VAULT_URL       https://demo.vault.localhost:PORT
    EVENTGRID_URL   https://NAMESPACE.eventgrid.localhost:PORT
    TOPIC, SUBSCRIPTION   the namespace topic and queue subscription the vault is routed to
    CA_FILE         PEM of the emulator's CA (the only CA trusted)
    EMULATOR_ADDR   HOST:PORT the emulator listens on (vault and namespace hosts are sent to HOST)
    KV_TOKEN        an access token the emulator issued for https://vault.localhost
    EG_TOKEN        an access token the emulator issued for https://eventgrid.azure.net
    SHARED_KEY      the namespace's shared access key
"""

import json
import os
import sys
import traceback
import uuid
from urllib.parse import parse_qs, urlparse

from azure.core.credentials import AzureKeyCredential
from azure.eventgrid import EventGridConsumerClient
from azure.eventgrid import _patch as eventgrid_patch
from azure.eventgrid.models import ReleaseDelay
from azure.keyvault.secrets import SecretClient
from emulator_net import StaticCredential, resolve_to

VAULT_URL = os.environ["VAULT_URL"]
EVENTGRID_URL = os.environ["EVENTGRID_URL"]
TOPIC = os.environ["TOPIC"]
SUBSCRIPTION = os.environ["SUBSCRIPTION"]
CA_FILE = os.environ["CA_FILE"]
EMULATOR_HOST = os.environ["EMULATOR_ADDR"].rsplit(":", 1)[0].strip("[]")
KV_TOKEN = os.environ["KV_TOKEN"]
EG_TOKEN = os.environ["EG_TOKEN"]
SHARED_KEY = os.environ["SHARED_KEY"]

resolve_to(EMULATOR_HOST)



class Recorder:
    """raw_response_hook: api-version, action, authorization scheme and status of every Event Grid response."""

    def __init__(self):
        self.seen = []

    def __call__(self, pipeline_response):
        request = pipeline_response.http_request
        url = urlparse(request.url)
        self.seen.append(
            {
                "action": url.path.rsplit(":", 1)[-1],
                "api_version": ",".join(parse_qs(url.query).get("api-version", [])) or None,
                "release_delay": ",".join(parse_qs(url.query).get("releaseDelayInSeconds", [])) or None,
                "scheme": request.headers.get("Authorization", "").split(" ", 1)[0],
                "status": pipeline_response.http_response.status_code,
            }
        )


def check(condition, what):
    if not condition:
        raise RuntimeError(what)


def one(details, what):
    check(len(details) == 1, f"{what}: expected one event, got {len(details)}: {details!r}")
    return details[0]


def run(secrets, client):
    """The key-credential session: every operation, each checked."""
    name = "py-events-" + uuid.uuid4().hex[:8]
    v1 = secrets.set_secret(name, "one").properties.version
    first = one(client.receive(max_events=10, max_wait_time=10), "first receive")
    event = first.event
    check(event.type == "Microsoft.KeyVault.SecretNewVersionCreated", f"type {event.type!r}")
    check(event.subject == name, f"subject {event.subject!r}")
    check(event.data["Version"] == v1 and event.data["ObjectType"] == "Secret", f"data {event.data!r}")
    check(event.data["Id"].endswith(f"/secrets/{name}/{v1}"), f"data {event.data!r}")
    check(first.broker_properties.delivery_count == 1, f"delivery count {first.broker_properties!r}")
    tok = first.broker_properties.lock_token

    renewed = client.renew_locks(lock_tokens=[tok])
    check(renewed.succeeded_lock_tokens == [tok], f"renew_locks answered {renewed!r}")
    released = client.release(lock_tokens=[tok])
    check(released.succeeded_lock_tokens == [tok], f"release answered {released!r}")
    second = one(client.receive(max_wait_time=10), "after release")
    check(second.broker_properties.delivery_count == 2, f"redelivery {second.broker_properties!r}")
    tok = second.broker_properties.lock_token
    delayed = client.release(lock_tokens=[tok], release_delay=ReleaseDelay.TEN_SECONDS)
    check(delayed.succeeded_lock_tokens == [tok], f"release with delay answered {delayed!r}")
    third = one(client.receive(max_wait_time=60), "after a delayed release")
    check(third.broker_properties.delivery_count == 3, f"redelivery {third.broker_properties!r}")
    rejected = client.reject(lock_tokens=[third.broker_properties.lock_token])
    check(len(rejected.succeeded_lock_tokens) == 1, f"reject answered {rejected!r}")

    v2 = secrets.set_secret(name, "two").properties.version
    fourth = one(client.receive(max_wait_time=10), "second version")
    check(fourth.event.data["Version"] == v2, f"data {fourth.event.data!r}")
    tok = fourth.broker_properties.lock_token
    acked = client.acknowledge(lock_tokens=[tok])
    check(acked.succeeded_lock_tokens == [tok] and not acked.failed_lock_tokens, f"acknowledge {acked!r}")
    again = client.acknowledge(lock_tokens=[tok])
    check(not again.succeeded_lock_tokens and len(again.failed_lock_tokens) == 1, f"acknowledge {again!r}")
    failed = again.failed_lock_tokens[0]
    check(failed.lock_token == tok, f"failed token {failed!r}")
    empty = client.receive(max_wait_time=10)
    check(empty == [], f"receive on an empty subscription answered {empty!r}")
    return {"failed_code": failed.error.code, "failed_message": failed.error.message}


def consumer(credential, recorder):
    return EventGridConsumerClient(
        EVENTGRID_URL,
        credential,
        namespace_topic=TOPIC,
        subscription=SUBSCRIPTION,
        connection_verify=CA_FILE,
        raw_response_hook=recorder,
        retry_total=0,
    )


def main():
    try:
        secrets = SecretClient(
            VAULT_URL,
            StaticCredential(KV_TOKEN),
            verify_challenge_resource=False,
            connection_verify=CA_FILE,
            retry_total=0,
        )
        recorder = Recorder()
        with consumer(AzureKeyCredential(SHARED_KEY), recorder) as client:
            detail = run(secrets, client)
        token_credential = StaticCredential(EG_TOKEN)
        with consumer(token_credential, recorder) as client:
            version = secrets.set_secret("py-token-" + uuid.uuid4().hex[:8], "x").properties.version
            got = one(client.receive(max_wait_time=10), "token credential")
            check(got.event.data["Version"] == version, f"data {got.event.data!r}")
            acked = client.acknowledge(lock_tokens=[got.broker_properties.lock_token])
            check(len(acked.succeeded_lock_tokens) == 1, f"acknowledge {acked!r}")
        seen = recorder.seen
        versions = sorted({s["api_version"] for s in seen if s["api_version"]})
        if any(s["api_version"] is None for s in seen) or len(versions) != 1:
            raise RuntimeError(f"requests did not all carry one api-version: {seen}")
        bad = [s for s in seen if s["status"] != 200]
        check(not bad, f"answers other than 200: {bad}")
        line = {
            "client": "eventgrid",
            "api_version": versions[0],
            "default": eventgrid_patch.DEFAULT_STANDARD_API_VERSION,
            "ok": True,
            "requests": len(seen),
            "actions": sorted({s["action"] for s in seen}),
            "schemes": sorted({s["scheme"] for s in seen}),
            "release_delays": sorted({s["release_delay"] for s in seen if s["release_delay"]}),
            "scopes": sorted(set(token_credential.scopes)),
        }
        line.update(detail)
        print(json.dumps(line), flush=True)
    except Exception as err:  # pylint: disable=broad-except
        traceback.print_exc()
        print(f"error: {type(err).__name__}: {err}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
