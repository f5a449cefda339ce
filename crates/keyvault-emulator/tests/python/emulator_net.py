"""What the official Python SDK scripts share: reaching the emulator and handing the SDK a token.

The emulator's hosts end in `.vault.localhost` and `.eventgrid.localhost`, which the system resolver may not
answer (RFC 6761 lets it, but glibc without nss-myhostname does not). The SDK has no hook to resolve a host,
so `resolve_to(host)` resolves these names to the emulator below requests/urllib3. The URL, SNI and the
certificate check keep the real host name.
"""

import socket
import time

from azure.core.credentials import AccessToken

_SUFFIXES = (".vault.localhost", ".eventgrid.localhost")


def resolve_to(emulator_host):
    """Send every `*.vault.localhost` and `*.eventgrid.localhost` name to `emulator_host`."""
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, bytes):
            host = host.decode()
        if isinstance(host, str) and host.lower().rstrip(".").endswith(_SUFFIXES):
            host = emulator_host
        return real_getaddrinfo(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo


class StaticCredential:
    """A TokenCredential handing out a token the test obtained from the emulator's Entra endpoint.

    ChallengeAuthPolicy (azure-core 1.41 / keyvault 4.12) calls get_token_info when the credential has it,
    get_token otherwise; get_token is enough.
    """

    def __init__(self, token):
        self.token = token
        self.scopes = []

    def get_token(self, *scopes, **kwargs):
        self.scopes.extend(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)
