"""``faceocc serve``: registered on the CLI's Typer app by :func:`register` (imports FastAPI only when run)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import click
import typer

#: the Host names a service bound to loopback answers to by default (against DNS rebinding)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_key_file(path: Path) -> str:
    """The API key in ``path`` (its first line, without surrounding blanks); ValueError when unreadable or empty."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        raise ValueError(f"--api-key-file {path}: cannot be read ({exc})") from None
    key = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not key:
        raise ValueError(f"--api-key-file {path}: the file is empty")
    return key


def resolve_api_key(api_key: str | None, api_key_file: Path | None, from_command_line: bool) -> str | None:
    """The key from ``--api-key``/``FACEOCC_API_KEY`` or ``--api-key-file``; ValueError for an empty one (it would
    quietly turn authentication off) or for both at once."""
    if api_key is not None and api_key_file is not None:
        raise ValueError("give --api-key (or FACEOCC_API_KEY) or --api-key-file, not both")
    if api_key_file is not None:
        return read_key_file(api_key_file)
    if api_key is not None and not api_key.strip():
        where = "--api-key" if from_command_line else "FACEOCC_API_KEY"
        raise ValueError(f"{where} is empty or blank: give a real key, or none at all to run without one")
    if api_key is not None and from_command_line:
        typer.secho(
            "warning: a key given with --api-key is visible to other users in the process list; "
            "prefer FACEOCC_API_KEY or --api-key-file",
            fg=typer.colors.YELLOW,
            err=True,
        )
    return api_key


def default_allowed_hosts(host: str, given: list[str] | None) -> tuple[str, ...] | None:
    """``--allowed-host`` values; without any, the loopback names when bound to loopback, else any host."""
    if given:
        return tuple(given)
    if _is_loopback(host):
        return tuple(dict.fromkeys((*LOOPBACK_HOSTS, host.strip("[]"))))
    return None


def uvicorn_config(app, settings, host: str, port: int, log_level: str, access_log: bool):
    """The uvicorn configuration of ``faceocc serve``: the header-timeout h11 protocol, short keep-alive, no server
    header; uvicorn's connection cap is a backstop above the app's admission control (it answers a bare 503)."""
    import uvicorn

    from .connections import header_timeout_protocol

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=header_timeout_protocol(settings.header_timeout),
        log_level=log_level,
        access_log=access_log,
        timeout_keep_alive=5,
        limit_concurrency=max(64, 4 * settings.max_concurrency),
        server_header=False,
    )


def serve(
    ctx: typer.Context,
    host: str = typer.Option(
        "127.0.0.1", help="Address to listen on (loopback by default; 0.0.0.0 for all interfaces)."
    ),
    port: int = typer.Option(8000, help="TCP port."),
    model: str | None = typer.Option(None, help="A faceocc ONNX model (default: the shipped one)."),
    threshold: float | None = typer.Option(
        None, help="Default occlusion threshold (default: the model's); requests may override it."
    ),
    eyeglasses_occlude: bool = typer.Option(
        False, "--eyeglasses-occlude", help="Count clear eyeglasses as an occlusion by default."
    ),
    max_upload_mb: float = typer.Option(20.0, help="Largest image upload (MiB); larger bodies get 413."),
    max_batch_mb: float = typer.Option(64.0, help="Largest batch request body (MiB)."),
    max_batch_files: int = typer.Option(16, help="Most images in one batch request."),
    max_video_mb: float = typer.Option(500.0, help="Largest video upload for jobs (MiB)."),
    max_pixels: int = typer.Option(
        40_000_000, help="Images with more pixels are refused from their header, before decoding (413)."
    ),
    timeout: float = typer.Option(30.0, help="Seconds per request: to receive the body (408) and to analyse it (504)."),
    max_concurrency: int = typer.Option(
        16, help="Image requests in flight at once; more are answered 429 immediately."
    ),
    workers: int = typer.Option(0, help="Analysis threads (0: number of cores, at most 4)."),
    threads: int = typer.Option(1, help="onnxruntime threads per analysis."),
    api_key: str | None = typer.Option(
        None,
        envvar="FACEOCC_API_KEY",
        help="Require this key (X-API-Key or Bearer) on /v1/* and /metrics (prefer the environment variable or "
        "--api-key-file: a command line is visible to other users).",
    ),
    api_key_file: Path | None = typer.Option(None, help="Read the API key from the first line of this file."),
    allowed_host: list[str] | None = typer.Option(
        None,
        help="Answer only requests whose Host header is this name (repeatable; *.example.com for subdomains, * for "
        "any). Default: the loopback names when listening on loopback, else any.",
    ),
    header_timeout: float = typer.Option(10.0, help="Seconds a connection may take to send its request headers."),
    drain_timeout: float = typer.Option(
        30.0, help="On SIGTERM, seconds the running video job may go on (queued ones are marked interrupted)."
    ),
    job_ttl: float = typer.Option(86400.0, help="Seconds finished video jobs and their files are kept."),
    jobs_root: Path | None = typer.Option(
        None, help="Allow video jobs to name server-side files under this folder only."
    ),
    queue_size: int = typer.Option(8, help="Video jobs that may wait; more are answered 503."),
    work_dir: Path | None = typer.Option(
        None, help="Folder for uploaded videos and job results (default: a temporary one)."
    ),
    log_level: str = typer.Option("info", help="uvicorn log level."),
    access_log: bool = typer.Option(True, help="Log every request."),
):
    """Run the HTTP service: POST /v1/analyze, /v1/analyze/batch, /v1/jobs; /health, /ready, /metrics, /docs; the web
    page at /."""
    try:
        import uvicorn

        from .app import create_app
        from .settings import ServerSettings
    except ImportError as exc:
        typer.secho(
            f"error: serve needs FastAPI, uvicorn and python-multipart: pip install 'faceocc[serve]' ({exc})",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(2) from exc
    from ..model import ModelError

    try:
        from_command_line = ctx.get_parameter_source("api_key") == click.core.ParameterSource.COMMANDLINE
        api_key = resolve_api_key(api_key, api_key_file, from_command_line)
        kwargs: dict[str, Any] = dict(
            model=model,
            threshold=threshold,
            eyeglasses_occlude=eyeglasses_occlude,
            max_upload_mb=max_upload_mb,
            max_batch_mb=max_batch_mb,
            max_batch_files=max_batch_files,
            max_video_mb=max_video_mb,
            max_pixels=max_pixels,
            timeout=timeout,
            max_concurrency=max_concurrency,
            threads=threads,
            api_key=api_key,
            jobs_root=jobs_root,
            queue_size=queue_size,
            work_dir=work_dir,
            allowed_hosts=default_allowed_hosts(host, allowed_host),
            header_timeout=header_timeout,
            drain_timeout=drain_timeout,
            job_ttl=job_ttl,
        )
        if workers > 0:
            kwargs["workers"] = workers
        settings = ServerSettings(**kwargs)
        app = create_app(settings)
    except (ModelError, ValueError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
    if not _is_loopback(host) and settings.api_key is None:
        typer.secho(
            f"warning: listening on {host} without an API key; set FACEOCC_API_KEY or --api-key",
            fg=typer.colors.YELLOW,
            err=True,
        )
    typer.echo(
        f"faceocc serve: http://{host}:{port}/ (API docs at /docs), model {app.state.service.analyzer.model.name}, "
        f"{settings.workers} worker(s), max {settings.max_concurrency} in flight",
        err=True,
    )
    uvicorn.Server(uvicorn_config(app, settings, host, port, log_level, access_log)).run()


def register(app: typer.Typer) -> None:
    app.command(name="serve")(serve)
