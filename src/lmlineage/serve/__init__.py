"""``lmlineage serve``: the HTTP server (``app.py``); it uses generation and the registry, and
nothing imports it but the CLI."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from ..core.errors import UserError


def load_served(path: str, name: str | None = None, max_batch: int = 64, device: str = "cpu", dtype: str | None = None):
    """Load ``path`` (a checkpoint directory or a ``.gguf`` file) into what the API serves."""
    from functools import partial

    from ..api import embedding_length, load, resolve_checkpoint, sentence_embeddings
    from ..train.run import check_device
    from .app import Served

    if not Path(path).exists():
        raise UserError(f"{path} does not exist", "give a checkpoint directory or a .gguf file")
    model = load(path, device=check_device(device), dtype=dtype)
    if name is None:  # a file's stem, a directory's own name
        name = Path(path).stem if Path(path).suffix.lower() == ".gguf" else Path(path).resolve().name
    embed = None
    if model.sentence_encoder:
        embed = partial(sentence_embeddings, model, max_length=embedding_length(model, resolve_checkpoint(path)))
    return Served(model, name, max_batch=max_batch, embed=embed)


def serve(path: str, host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None, name: str | None = None,
          max_batch: int = 64, device: str = "cpu", dtype: str | None = None) -> None:
    """Serve ``path`` over HTTP until interrupted."""
    try:
        import uvicorn

        from .app import create_app
    except ImportError as e:
        raise UserError(f"serving needs FastAPI and uvicorn ({e.name} is missing)",
                        "pip install 'lmlineage[serve]'") from None
    sock = listen(host, port)  # before loading: a taken port is refused at once
    served = load_served(path, name, max_batch, device, dtype)
    try:
        print(f"serving {served.name} on http://{host}:{sock.getsockname()[1]}/v1", flush=True)
        print(f"the page: http://{host}:{sock.getsockname()[1]}/", flush=True)
        uvicorn.Server(uvicorn.Config(create_app(served, api_key=api_key), log_level="info")).run(sockets=[sock])
    finally:
        served.close()
        sock.close()


def listen(host: str, port: int):
    """A socket bound to ``host:port`` (port 0: a free one), or a one-line refusal."""
    import socket

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port}: {e.strerror or e}",
                        "choose another --port or --host") from None
    return sock


@contextmanager
def serving(served, api_key: str | None = None, host: str = "127.0.0.1"):
    """Run the API over ``served`` on a free port in a background thread and yield its base URL
    (``http://host:port/v1``); the server stops when the block ends (tests, benchmarks)."""
    import threading
    import time

    import uvicorn

    from .app import create_app

    sock = listen(host, 0)
    # log_config=None: uvicorn's default dictConfig would close every logging handler the host
    # process holds (logging.shutdown), pytest's own among them, while its server runs in a thread here.
    server = uvicorn.Server(uvicorn.Config(create_app(served, api_key=api_key), log_level="warning", log_config=None))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{sock.getsockname()[1]}/v1"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
