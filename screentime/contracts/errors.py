"""Errors a user can act on: each carries one clear, one-line message."""


class ScreentimeError(Exception):
    """Base class: the message is shown to the user as is."""


class InvalidEpisodeId(ScreentimeError, ValueError):
    pass


class InvalidOption(ScreentimeError, ValueError):
    pass


class VideoError(ScreentimeError):
    """The source video is missing, empty, not a video, or has no decodable frames."""


class StorageError(ScreentimeError):
    pass


class EpisodeBusy(ScreentimeError):
    """Another run is analysing the same episode right now."""


class RunWorkerDied(ScreentimeError):
    """The process that ran a run (`screentime run`, a run worker) died: killed, or the machine ran
    out of memory. The run is marked failed by whoever notices; it says nothing about the video."""

