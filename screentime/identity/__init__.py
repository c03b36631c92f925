"""Who is who: face embeddings for grouping face tracks into people."""
