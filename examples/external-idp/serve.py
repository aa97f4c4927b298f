"""Serves jwks/ over HTTPS on 127.0.0.1:8443 with tls/idp.crt: the identity
provider of this example (python3 examples/external-idp/serve.py)."""
import functools
import http.server
import os
import ssl

here = os.path.dirname(os.path.abspath(__file__))
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=os.path.join(here, "jwks"))
server = http.server.HTTPServer(("127.0.0.1", 8443), handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(os.path.join(here, "tls", "idp.crt"), os.path.join(here, "tls", "idp.key"))
server.socket = ctx.wrap_socket(server.socket, server_side=True)
server.serve_forever()
