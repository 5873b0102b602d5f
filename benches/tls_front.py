"""A TLS front for the demo's stand-in, so that a bench can reach it over
`https://` the way a proxy reaches AWS: TLS handshake, certificate check, a
host name to resolve. Standard library plus the `openssl` command (for a
self-signed certificate for `localhost`).

    with tls_front.serve(url) as (https_url, ca_file):
        ...  # run `mcp-sigv4 proxy https_url` with AWS_CA_BUNDLE=ca_file (the CA of its certificate)

The front passes bytes through unchanged, so the stand-in checks the signature
over the `Host` the client signed (`localhost:PORT`).
"""

import asyncio
import contextlib
import os
import ssl
import subprocess
import tempfile
import threading
import urllib.parse


async def _pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


@contextlib.contextmanager
def serve(url):
    upstream = urllib.parse.urlsplit(url)
    with tempfile.TemporaryDirectory() as tmp:
        path = lambda name: os.path.join(tmp, name)  # noqa: E731
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        with open(path("leaf.ext"), "w") as f:
            f.write("subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n")
        for command in (
            ["req", "-x509", *ec, "-days", "1", "-subj", "/CN=bench CA", "-keyout", path("ca.key"),
             "-out", path("ca.pem")],
            ["req", *ec, "-subj", "/CN=localhost", "-keyout", path("key.pem"), "-out", path("leaf.csr")],
            ["x509", "-req", "-in", path("leaf.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"),
             "-CAcreateserial", "-days", "1", "-extfile", path("leaf.ext"), "-out", path("cert.pem")],
        ):
            subprocess.run(["openssl", *command], check=True, capture_output=True)
        cert, key = path("cert.pem"), path("key.pem")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.set_alpn_protocols(["http/1.1"])
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        port, stop = [], asyncio.Event()

        async def client(reader, writer):
            try:
                up_reader, up_writer = await asyncio.open_connection(upstream.hostname, upstream.port)
            except OSError:
                writer.close()
                return
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

        async def main():
            server = await asyncio.start_server(client, "127.0.0.1", 0, ssl=context)
            port.append(server.sockets[0].getsockname()[1])
            ready.set()
            async with server:
                await stop.wait()

        thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
        thread.start()
        ready.wait(10)
        query = f"?{upstream.query}" if upstream.query else ""
        try:
            yield f"https://localhost:{port[0]}{upstream.path}{query}", path("ca.pem")
        finally:
            loop.call_soon_threadsafe(stop.set)
            thread.join(10)
