"""Exit 0 when PostgreSQL and Redis answer on 127.0.0.1 (make test's second pass needs them)."""
import socket
import sys

for name, port in (("PostgreSQL", 5432), ("Redis", 6379)):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        print(f"{name} no responde en 127.0.0.1:{port}")
        sys.exit(1)
