"""``faceocc serve``: registered on the CLI's Typer app by :func:`register` (imports FastAPI only when run)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import typer


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
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
        None, envvar="FACEOCC_API_KEY", help="Require this key (X-API-Key or Bearer) on /v1/* and /metrics."
    ),
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
    # uvicorn's own connection cap is a backstop above the app's admission control (it answers a bare 503)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=access_log,
        timeout_keep_alive=5,
        limit_concurrency=max(64, 4 * settings.max_concurrency),
        server_header=False,
    )


def register(app: typer.Typer) -> None:
    app.command(name="serve")(serve)
