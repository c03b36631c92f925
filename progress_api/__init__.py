"""The progress sidecar (FastAPI): progress polling, Server-Sent Events, run launch and a live page."""
