import json
import threading
import time

import pytest
import responses
from django.db import connections

from integrations.connectors.channeladvisor.client import ChannelAdvisorClient
from integrations.connectors.tims.client import TimsClient
from integrations.models import Connection

THREADS = 6


def _race(connection_pk, client_class):
    tokens, failures = [], []
    barrier = threading.Barrier(THREADS)

    def run():
        try:
            connection = Connection.objects.get(pk=connection_pk)
            barrier.wait()
            tokens.append(client_class(connection).token())
        except Exception as exc:  # reported by the assertion below
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not failures
    return tokens


@pytest.mark.django_db(transaction=True)
@responses.activate
def test_concurrent_workers_refresh_once(make_connection):
    # Both OAuth clients in one test: each transactional test costs a database flush.
    for kind, client_class, token_url in [
        ("channeladvisor", ChannelAdvisorClient, "https://api.channeladvisor.com/oauth2/token"),
        ("tims", TimsClient, "https://tims.example.com/oauth/token"),
    ]:
        issued = []

        def callback(request, issued=issued):
            time.sleep(0.2)  # a slow token endpoint widens the race
            issued.append(f"token-{len(issued) + 1}")
            return 200, {}, json.dumps({"access_token": issued[-1], "expires_in": 3600})

        responses.add_callback(responses.POST, token_url, callback=callback)
        connection = make_connection(kind)
        tokens = _race(connection.pk, client_class)
        assert issued == ["token-1"], kind
        assert tokens == ["token-1"] * THREADS
        connection.refresh_from_db()
        assert connection.token_cache["access_token"] == "token-1"
