"""TLS on the listeners (--tls-cert, --tls-key) with a private test CA: curl
over HTTP/1.1 and HTTP/2, the aws CLI with --ca-bundle, and a certificate
swapped by SIGHUP without dropping an open connection.

API Gateway terminates TLS itself with ACM certificates; this is the
self-hosted stand-in, so what is checked is what a client sees.
"""

import http.client
import json
import signal
import ssl
import subprocess
import time
from urllib.parse import urlparse

import pytest

from conftest import TOLLGATE_BIN, Server, cli_env


def openssl(*argv):
    subprocess.run(["openssl", *argv], check=True, capture_output=True)


@pytest.fixture
def ca(tmp_path):
    ca, ca_key = tmp_path / "ca.pem", tmp_path / "ca-key.pem"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=Tollgate test CA",
            "-keyout", str(ca_key), "-out", str(ca))
    return ca, ca_key


def issue(tmp_path, ca, cn, serial, cert, key):
    """A server certificate for 127.0.0.1 signed by the test CA, written to `cert` and `key`."""
    ca_cert, ca_key = ca
    csr, ext = tmp_path / f"{cn}.csr", tmp_path / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}", "-keyout", str(key), "-out", str(csr))
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key), "-set_serial", str(serial),
            "-days", "1", "-extfile", str(ext), "-out", str(cert))


def tls_server(tmp_path, ca):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    issue(tmp_path, ca, "tollgate-one", 1001, cert, key)
    srv = Server(tmp_path, ["--tls-cert", str(cert), "--tls-key", str(key)]).start()
    assert srv.endpoint.startswith("https://")
    return srv, cert, key


def connect(srv, ca):
    u = urlparse(srv.endpoint)
    context = ssl.create_default_context(cafile=str(ca[0]))
    conn = http.client.HTTPSConnection(u.hostname, u.port, context=context, timeout=10)
    conn.connect()
    return conn


def health(conn):
    conn.request("GET", "/_tollgate/health")
    r = conn.getresponse()
    r.read()
    return r.status


def served_cert(conn):
    cert = conn.sock.getpeercert()
    cn = dict(x[0] for x in cert["subject"])["commonName"]
    return cn, int(cert["serialNumber"], 16)


def test_curl_h1_and_h2_and_the_aws_cli_trust_the_test_ca(tmp_path, ca):
    srv, _, _ = tls_server(tmp_path, ca)
    try:
        for flag, version in (("--http1.1", "1.1"), ("--http2", "2")):
            out = subprocess.run(
                ["curl", "-sS", flag, "--cacert", str(ca[0]), "-o", "/dev/null", "-w", "%{http_code} %{http_version}",
                 srv.endpoint + "/_tollgate/health"],
                capture_output=True, text=True, timeout=30,
            )
            assert out.returncode == 0, out.stderr
            assert out.stdout == f"200 {version}"
        # Without the CA the certificate is refused (curl exit 60).
        untrusted = subprocess.run(["curl", "-sS", srv.endpoint + "/_tollgate/health"],
                                   capture_output=True, text=True, timeout=30)
        assert untrusted.returncode == 60
        # Plain HTTP to the TLS port gets no answer.
        plain = subprocess.run(["curl", "-sS", "--max-time", "5", srv.endpoint.replace("https", "http") + "/"],
                               capture_output=True, text=True, timeout=30)
        assert plain.returncode != 0

        env = cli_env(srv.endpoint)
        created = subprocess.run(
            ["aws", "apigateway", "create-rest-api", "--name", "over-tls", "--endpoint-url", srv.endpoint,
             "--ca-bundle", str(ca[0]), "--output", "json"],
            env=env, capture_output=True, text=True, timeout=60,
        )
        assert created.returncode == 0, created.stderr
        listed = subprocess.run(
            ["aws", "apigateway", "get-rest-apis", "--endpoint-url", srv.endpoint, "--ca-bundle", str(ca[0]),
             "--output", "json"],
            env=env, capture_output=True, text=True, timeout=60,
        )
        assert listed.returncode == 0, listed.stderr
        assert [a["name"] for a in json.loads(listed.stdout)["items"]] == ["over-tls"]
    finally:
        srv.stop(signal.SIGTERM)


def test_sighup_swaps_the_certificate_without_dropping_a_connection(tmp_path, ca):
    srv, cert, key = tls_server(tmp_path, ca)
    try:
        old = connect(srv, ca)
        assert health(old) == 200
        assert served_cert(old) == ("tollgate-one", 1001)
        sock = old.sock

        issue(tmp_path, ca, "tollgate-two", 2002, cert, key)
        srv.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while True:
            new = connect(srv, ca)
            seen = served_cert(new)
            if seen == ("tollgate-two", 2002) or time.monotonic() > deadline:
                break
            new.close()
            time.sleep(0.1)
        assert seen == ("tollgate-two", 2002)
        assert health(new) == 200

        # The connection opened before keeps its certificate and keeps working.
        assert health(old) == 200
        assert old.sock is sock
        assert served_cert(old) == ("tollgate-one", 1001)

        # A broken file on the next SIGHUP changes nothing.
        key.write_text("not a key\n")
        srv.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert srv.proc.poll() is None
        again = connect(srv, ca)
        assert served_cert(again) == ("tollgate-two", 2002)
        assert health(again) == 200
        for c in (old, new, again):
            c.close()
    finally:
        srv.stop(signal.SIGTERM)
        assert any("not reloaded" in line for line in srv.output), srv.output[-20:]


def test_tls_cert_without_key_is_refused_at_start(tmp_path, ca):
    cert = tmp_path / "cert.pem"
    issue(tmp_path, ca, "lonely", 7, cert, tmp_path / "key.pem")
    p = subprocess.run([TOLLGATE_BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path),
                        "--tls-cert", str(cert)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert "--tls-cert and --tls-key go together" in p.stderr


def test_a_control_listener_beyond_loopback_without_tls_warns(tmp_path):
    p = subprocess.Popen(
        [TOLLGATE_BIN, "serve", "--listen", "0.0.0.0:0", "--data-dir", str(tmp_path),
         "--access-key-id", "AKIDADMIN", "--secret-access-key", "not-the-default"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert "tollgate listening on http://0.0.0.0:" in p.stdout.readline()
    finally:
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=15)
    assert p.returncode == 0
    assert "without TLS" in err
