"""The sidecar's routes, one module per resource: episodes (progress, SSE), jobs (run launch),
people (review, edits, screen time, crops), pages (live, review, Screentime), health."""
