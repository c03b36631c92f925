"""Progress of a run: the clock that makes records and the store that writes them."""
