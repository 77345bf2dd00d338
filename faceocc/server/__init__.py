"""The faceocc HTTP service (``faceocc serve``): FastAPI app, limits, video jobs, metrics and the web page.

>>> from faceocc.server import ServerSettings, create_app
>>> app = create_app(ServerSettings(max_upload_mb=10, api_key="secret"))

FastAPI, uvicorn and python-multipart are needed (``pip install 'faceocc[serve]'``);
they are imported only when the app is built.
"""

from __future__ import annotations


def __getattr__(name):
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "ServerSettings":
        from .settings import ServerSettings

        return ServerSettings
    raise AttributeError(name)


__all__ = ["ServerSettings", "create_app"]
