#!/usr/bin/env python3
"""A client of nextprism-agent's HTTP API, standard library only.

    from nextprism_client import Client, Refused

    agent = Client("http://127.0.0.1:8087", token=None)
    run = agent.exec("nextcloud", ["php", "occ", "files:scan", "--all"])
    for event in run:                  # dicts, as the agent streams them
        if event["event"] == "stdout":
            print(event["data"], end="")
        elif event["event"] == "progress":
            print(event["files"], "files")
    print(run.finished["outcome"], run.finished.get("exit_code"))

`exec` returns once the agent accepted the run (its `accepted` event read);
iterating reads the events as they arrive. `run.cancel()` (DELETE
/v1/runs/{id}) or closing the run (`run.close()`, leaving a `with` block)
stops the command in the target. A refusal raises `Refused` (403, the rule
in `detail`); any other error status raises `AgentError`. The agent listens
on TCP (loopback, or anywhere with a token) and on a unix socket
(`--socket PATH`): `Client("unix:///run/nextprism/agent.sock")`.

As a tool: nextprism_client.py [--url URL] [--token-file FILE] SERVICE ARGV...
prints each event as one JSON line and exits 0 when the run succeeded. The
token file is the agent's format: the first line that is not a comment,
`NAME TOKEN` or `TOKEN`.
"""

import http.client
import json
import socket
import sys
import urllib.parse

__all__ = ["Client", "Run", "AgentError", "Refused"]


class AgentError(Exception):
    """An error status from the agent: `status`, `error`, `detail`."""

    def __init__(self, status, error, detail=None):
        super().__init__(f"{status}: {error}" + (f" ({detail})" if detail else ""))
        self.status = status
        self.error = error
        self.detail = detail


class Refused(AgentError):
    """The whitelist refused the command (403): nothing was sent anywhere."""


class Run:
    """One streaming run: iterate for its events; `finished` after the end."""

    def __init__(self, client, connection, response, accepted):
        self._client = client
        self._connection = connection
        self._response = response
        self.accepted = accepted
        self.id = accepted["id"]
        self.finished = None

    def __iter__(self):
        return self

    def __next__(self):
        if self._response is None:
            raise StopIteration
        line = self._response.readline()
        if not line:
            self.close()
            raise StopIteration
        event = json.loads(line)
        if event.get("event") == "finished":
            self.finished = event
        return event

    def wait(self):
        """Reads the rest of the events; returns the `finished` event."""
        for _ in self:
            pass
        return self.finished

    def cancel(self):
        """Asks the agent to stop the command (DELETE); the stream then ends."""
        return self._client.cancel(self.id)

    def close(self):
        """Closes the stream: a run still going is stopped by the agent."""
        if self._connection is not None:
            self._connection.close()
        self._connection = self._response = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _UnixConnection(http.client.HTTPConnection):
    """HTTP over the agent's unix socket (the Host header says localhost)."""

    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(self.timeout)
            s.connect(self._path)
        except OSError:
            s.close()
            raise
        self.sock = s


class Client:
    def __init__(self, url="http://127.0.0.1:8087", token=None, timeout=30.0):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme == "unix" and parts.path:
            self._socket_path = parts.path
        elif parts.scheme == "http" and parts.hostname:
            self._socket_path = None
            self._host = parts.hostname
            self._port = parts.port or 80
        else:
            raise ValueError(f"not an http:// or unix:// URL: {url}")
        self._token = token
        self._timeout = timeout  # for connecting and each read; None: wait forever

    def _connect(self, timeout):
        if self._socket_path:
            return _UnixConnection(self._socket_path, timeout)
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)

    def _headers(self, body=False):
        h = {"Accept": "application/json, application/x-ndjson"}
        if self._token:
            h["Authorization"] = "Bearer " + self._token
        if body:
            h["Content-Type"] = "application/json"
        return h

    @staticmethod
    def _raise_for(response):
        raw = response.read()
        try:
            j = json.loads(raw)
        except ValueError:
            j = {"error": raw.decode("utf-8", "replace").strip() or response.reason}
        # Errors are {"error", "detail"?}; a refusal is {"outcome", "status", "message"}.
        error, detail = j.get("error") or j.get("message") or response.reason, j.get("detail")
        cls = Refused if response.status == 403 else AgentError
        raise cls(response.status, error, detail)

    def _json(self, method, path):
        c = self._connect(self._timeout)
        try:
            c.request(method, path, headers=self._headers())
            r = c.getresponse()
            if r.status >= 400 and r.status != 409:
                self._raise_for(r)
            return json.loads(r.read())
        finally:
            c.close()

    def exec(self, service, argv, timeout=None, detect_failures=True, read_timeout=None):
        """Starts a run; returns a `Run` once the agent accepted it.

        `timeout` (e.g. "30s", "4h", or seconds as a number) bounds the run in
        the agent; `read_timeout` bounds each wait for an event here (None:
        a scan may print nothing for long)."""
        body = {"service": service, "argv": list(argv), "detect_failures": detect_failures}
        if timeout is not None:
            body["timeout"] = f"{timeout}s" if isinstance(timeout, (int, float)) else timeout
        c = self._connect(self._timeout)
        try:
            c.request("POST", "/v1/exec", body=json.dumps(body), headers=self._headers(body=True))
            sock = c.sock  # the response takes it over (the stream ends with the connection)
            r = c.getresponse()
            if r.status != 200:
                self._raise_for(r)
            sock.settimeout(read_timeout)
            first = r.readline()
            accepted = json.loads(first) if first else {}
            if accepted.get("event") != "accepted":
                raise AgentError(r.status, "the stream did not start with an accepted event", first[:200])
        except BaseException:
            c.close()
            raise
        return Run(self, c, r, accepted)

    def runs(self):
        return self._json("GET", "/v1/runs")

    def run(self, run_id):
        return self._json("GET", f"/v1/runs/{run_id}")

    def cancel(self, run_id):
        """DELETE /v1/runs/{id}: the run's record (409: it had finished)."""
        return self._json("DELETE", f"/v1/runs/{run_id}")

    def proxy_stats(self):
        return self._json("GET", "/admin/proxy-stats")

    def ready(self):
        """Whether every whitelisted service has a route (GET /readyz)."""
        c = self._connect(self._timeout)
        try:
            c.request("GET", "/readyz", headers=self._headers())
            r = c.getresponse()
            r.read()
            return r.status == 200
        finally:
            c.close()


def main(args):
    url, token = "http://127.0.0.1:8087", None
    while args and args[0].startswith("--"):
        if args[0] == "--url" and len(args) > 1:
            url, args = args[1], args[2:]
        elif args[0] == "--token-file" and len(args) > 1:
            with open(args[1]) as f:
                lines = [l.split() for l in f if l.strip() and not l.lstrip().startswith("#")]
            token = lines[0][-1] if lines else None
            args = args[2:]
        elif args[0] == "--":
            args = args[1:]
            break
        else:
            print(__doc__.split("As a tool: ")[1].strip(), file=sys.stderr)
            return 64
    if len(args) < 2:
        print("usage: nextprism_client.py [--url URL] [--token-file FILE] SERVICE ARGV...", file=sys.stderr)
        return 64
    try:
        run = Client(url, token).exec(args[0], args[1:])
    except Refused as e:
        print(f"nextprism_client: refused: {e.error}", file=sys.stderr)
        return 65
    except (AgentError, OSError) as e:
        print(f"nextprism_client: {e}", file=sys.stderr)
        return 69
    print(json.dumps(run.accepted), flush=True)
    for event in run:
        print(json.dumps(event), flush=True)
    return 0 if run.finished and run.finished.get("outcome") == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
