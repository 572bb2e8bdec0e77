#!/usr/bin/env python3
"""Paramiko side of the SSH benchmark: one command per request line.

    paramiko_peer.py HOST PORT USER KEY KNOWN_HOSTS reused|fresh COMMAND

Reads a line from stdin for each command, runs COMMAND through paramiko
(on one kept connection: `reused`, or a new connection each time:
`fresh`), reads all output and the exit status, and answers "ok STATUS".
The benchmark times that round trip, so interpreter start-up is not in it.
Host keys are checked against KNOWN_HOSTS (RejectPolicy), as our client does.
The socket gets TCP_NODELAY, as ours does, so both pay the same network.
"""
import logging
import socket
import sys

import paramiko


def connect(host, port, user, key, known_hosts):
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client = paramiko.SSHClient()
    client.load_host_keys(known_hosts)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(host, port=int(port), username=user, key_filename=key, sock=sock,
                   look_for_keys=False, allow_agent=False)
    return client


def run(client, command):
    _, out, err = client.exec_command(command)
    out.read()
    err.read()
    return out.channel.recv_exit_status()


def main():
    # paramiko's transport thread logs why it gave up on a connection.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    host, port, user, key, known_hosts, mode, command = sys.argv[1:8]
    client = connect(host, port, user, key, known_hosts) if mode == "reused" else None
    for i, _ in enumerate(sys.stdin):
        try:
            if mode == "fresh":
                c = connect(host, port, user, key, known_hosts)
                status = run(c, command)
                c.close()
            else:
                status = run(client, command)
        except Exception as e:  # noqa: BLE001 - reported to the benchmark, which stops the row
            sys.stderr.write("paramiko_peer: command %d failed: %r\n" % (i, e))
            sys.stdout.write("fail\n")
            sys.stdout.flush()
            return 1
        sys.stdout.write("ok %d\n" % status)
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
