"""The progress sidecar (FastAPI): progress polling, Server-Sent Events, run launch and a live page."""

from screentime.progress_api.app import create_app

__all__ = ["create_app"]
