"""The `screentime` command: run an episode through Dagster, the demo, and the progress API.

Inputs are validated before Dagster starts, so a bad episode id, option or video fails fast with
one line on stderr, exit code 2, and nothing written. Runs go through the real Dagster job on the
instance in DAGSTER_HOME, so they appear in the UI's run history. While the run goes, a terminal
shows a progress bar; a pipe (or `--json`) gets the progress records, one JSON object per line on
stdout (screentime/cli/progress_bar.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys

from pydantic import ValidationError

from screentime.cli.progress_bar import Mode, progress_mode, progress_output
from screentime.contracts.errors import ScreentimeError

EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_CHECKS = 3  # the run finished and published, but one of its asset checks failed


def _add_progress_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="Print progress as JSON lines on stdout, also in a terminal (the default when stdout "
                        "is not a terminal; in one, a progress bar).")
    parser.add_argument("--quiet", action="store_true", help="Print no progress: no bar, no JSON lines.")


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    """One flag per run option (`jpeg_quality` -> `--jpeg-quality`), so a new option is a flag too."""
    from screentime.contracts.options import RunOptions

    for name, field in RunOptions.model_fields.items():
        flag = f"--{name.replace('_', '-')}"
        if field.annotation is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=field.default,
                                help=field.description)
        else:
            parser.add_argument(flag, type=field.annotation, default=field.default, help=field.description)


def _options_from_args(args: argparse.Namespace):
    from screentime.contracts.options import RunOptions

    return RunOptions(**{name: getattr(args, name) for name in RunOptions.model_fields})


def _failure_reason(result) -> tuple[str, str]:
    """(error type, first line of its message) of the run's first failure."""
    for event in result.all_events:
        if event.is_step_failure or event.is_run_failure:
            error = getattr(event.event_specific_data, "error", None)
            # Past Dagster's wrappers to our one-line error; its own cause is for the logs.
            while error is not None and error.cause is not None and error.cls_name.startswith("Dagster"):
                error = error.cause
            if error is not None:
                message = error.message.strip().splitlines()[0] if error.message.strip() else ""
                return error.cls_name, message.removeprefix(f"{error.cls_name}: ")
            return "RunFailure", (event.message or "run failed").splitlines()[0]
    return "RunFailure", "run failed"


def _end_failed_run(store, ep, run_id: str, error_type: str, message: str, video: str) -> str:
    """End a failed run the one way (`end_failed_run`: its partial files, its `error` record, should
    a full disk have refused the run's own, and the failure in the episode's ledger). Returns what
    was done, for the one-line error."""
    from screentime.analysis.failed_runs import end_failed_run

    end = end_failed_run(store, ep, run_id, error_type, message, video=video)
    if end.removed is None:  # e.g. the storage that failed the run is still away
        return f"its partial files could not be removed; the next run of {ep} removes them"
    return f"{end.removed} partial file(s) removed" if end.removed else "nothing partial left behind"


def run_episode(video: str, ep_id: str, options, progress: Mode = "json") -> int:
    """Validate, then materialise the episode through the Dagster job; return an exit code.
    `progress`: a bar, JSON lines or nothing while it runs (`progress_mode`)."""
    from screentime.contracts.episode import parse_episode_id
    from screentime.library.inputs import check_run_inputs
    from screentime.vision.devices import resolve_device

    ep = parse_episode_id(ep_id)
    video_path = check_run_inputs(ep, video, options)  # the same checks as the progress API's
    resolve_device(options.device)

    from screentime.resources.storage import StorageResource

    # Before the assets load (Dagster says on stderr that partitioned asset checks are a preview
    # feature when they do): a refused storage is one line.
    StorageResource.from_env().get_storage().check_writable()

    import dagster as dg

    from screentime.assets.guard import active_runs, describe, process_tag
    from screentime.contracts.names import EPISODE_JOB, LAUNCHED_BY_TAG, PROCESS_TAG
    from screentime.contracts.run_config import episode_run_config
    from screentime.pipelines.backfills import register_episodes
    from screentime.pipelines.definitions import defs, storage
    from screentime.pipelines.instance import ensure_dagster_home

    home = ensure_dagster_home()
    with dg.DagsterInstance.get() as instance:
        busy = active_runs(instance, str(ep))
        if busy:  # the run itself checks again (two CLI runs can race); this says it before starting one
            print(f"error: {ep} is already being analysed by {describe(busy[0])}; nothing was started",
                  file=sys.stderr)
            return EXIT_FAILED
        register_episodes(instance, [str(ep)])
        run_config = episode_run_config(options, str(video_path), echo=progress != "quiet")
        run_config["loggers"]["console"]["config"].update(log_level="WARNING", brief=True)
        with progress_output(progress):  # the bar ends here, before anything below is printed
            result = defs.resolve_job_def(EPISODE_JOB).execute_in_process(
                run_config=run_config, instance=instance, partition_key=str(ep), raise_on_error=False,
                tags={LAUNCHED_BY_TAG: "cli", PROCESS_TAG: process_tag()},
            )
        if not result.success:
            error_type, message = _failure_reason(result)
            if error_type == "EpisodeBusy":  # it stopped before writing anything: nothing to end
                print(f"error: run {result.run_id} failed: {message}", file=sys.stderr)
                return EXIT_FAILED
            cleaned = _end_failed_run(storage.get_storage(), ep, result.run_id, error_type, message, str(video_path))
            print(f"error: run {result.run_id} failed: {error_type}: {message} ({cleaned}; the whole log: "
                  f"`make ui`, Runs > {result.run_id})", file=sys.stderr)
            return EXIT_FAILED
        from screentime.analysis.publish import read_manifest
        from screentime.cli.people import episode_summary
        from screentime.contracts.layout import EpisodeLayout

        store = storage.get_storage()
        published = read_manifest(store, ep)
        if published is not None and published.run_id != result.run_id:  # see assets/guard.py, already_analysed
            print(f"done: run {result.run_id} had nothing to do: run {published.run_id} analysed {ep} for the same "
                  "video, options and code while it waited", file=sys.stderr)
        else:
            print(f"done: run {result.run_id} published {ep}", file=sys.stderr)
        for line in episode_summary(store, ep) + where_next(ep, store.uri(EpisodeLayout(ep).manifest_key), home):
            print(line, file=sys.stderr)
        from screentime.assets.checks import failed_checks

        failed = failed_checks(result.all_events)
        for asset, name, metadata in failed:
            figures = ", ".join(f"{key} {value}" for key, value in metadata.items())
            print(f"error: check {name} on {asset} failed ({figures}): the numbers above are not to be trusted; "
                  f"see the run's log", file=sys.stderr)
    return EXIT_CHECKS if failed else 0


def where_next(ep, manifest_uri: str, dagster_home) -> list[str]:
    """The last lines of a run: the manifest, and the commands that show the run and its people."""
    program, here = _program(), os.getcwd() + os.sep
    if manifest_uri.startswith(here):
        manifest_uri = os.path.relpath(manifest_uri)
    default_home = os.path.realpath(".dagster_home")  # the Makefile's
    make_ui = "make ui" if str(dagster_home) == default_home else f"make ui (DAGSTER_HOME={dagster_home})"
    return [
        "next:",
        f"  manifest       {manifest_uri}",
        f"  Dagster UI     {make_ui}, then http://127.0.0.1:3000: the run, its assets and checks",
        f"  review people  {program} api, then http://127.0.0.1:8000/review?show={ep.show}&ep={ep}",
        f"  screen time    {program} people {ep.show}: the show's people, season by season",
    ]


def _program() -> str:
    """This command as the user can type it again: `screentime` when that is the one on PATH, else its path."""
    path = sys.argv[0]
    if os.path.basename(path) != "screentime":  # e.g. python -m screentime.cli.main
        return "screentime"
    on_path = shutil.which("screentime")
    if on_path and os.path.realpath(on_path) == os.path.realpath(path):
        return "screentime"
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _cmd_run(args: argparse.Namespace) -> int:
    return run_episode(args.video, args.ep_id, _options_from_args(args), progress_mode(args.quiet, args.json))


def _cmd_demo(args: argparse.Namespace) -> int:
    from screentime.library.sample import SAMPLE_EPISODE, sample_video
    from screentime.library.sources import videos_root

    video = sample_video(args.videos_dir or videos_root())
    print(f"sample episode {SAMPLE_EPISODE}: {video}", file=sys.stderr)
    return run_episode(str(video), SAMPLE_EPISODE, _options_from_args(args), progress_mode(args.quiet, args.json))


def exposed_without_token(host: str, token: str) -> bool:
    """True when the API would listen beyond loopback with no bearer token set."""
    import ipaddress

    if token or host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: assume it is reachable
        return True


def _cmd_api(args: argparse.Namespace) -> int:
    from screentime.progress_api import create_app
    from screentime.progress_api.server import run_server
    from screentime.progress_api.settings import ApiSettings

    settings = ApiSettings.from_env()
    app = create_app(settings)  # settings are checked before the server starts
    if exposed_without_token(args.host, settings.api_token):
        print(f"warning: serving on {args.host} without SCREENTIME_API_TOKEN: anyone who can reach it "
              "can launch runs (see README, Production checklist)", file=sys.stderr)
    # Request heads bounded in size and time, open connections capped, forwarded headers ignored.
    run_server(app, settings, args.host, args.port, log_level="warning" if args.quiet else "info")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="screentime", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="Analyse one episode video through the Dagster job.")
    run.add_argument("video", help="Path or s3://bucket/key URI of the episode video.")
    run.add_argument("--ep-id", required=True, help="Episode id, e.g. the-office-s02e07.")
    _add_progress_flags(run)
    _add_run_options(run)
    run.set_defaults(func=_cmd_run)

    demo = sub.add_parser("demo", help="Fetch the sample episode (by pip, once) and run it.")
    demo.add_argument("--videos-dir", default="", help="Where to keep the sample (default: SCREENTIME_VIDEOS_DIR).")
    _add_progress_flags(demo)
    _add_run_options(demo)
    demo.set_defaults(func=_cmd_demo, save_frames=True)

    api = sub.add_parser("api", help="Serve the progress API and live page (see README, Live progress).")
    api.add_argument("--host", default="127.0.0.1", help="Interface to listen on (default 127.0.0.1).")
    api.add_argument("--port", type=int, default=8000, help="Port (default 8000).")
    api.add_argument("--quiet", action="store_true", help="Log warnings only.")
    api.set_defaults(func=_cmd_api)

    from screentime.cli.seasons import add_season_commands

    add_season_commands(sub)  # `add` and `backfill` (see docs/seasons.md)
    from screentime.cli.people import add_people_command

    add_people_command(sub)  # `people` (see docs/people.md)
    from screentime.cli.status import add_status_commands

    add_status_commands(sub)  # `status` and `retry` (see docs/seasons.md)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from screentime.contracts.settings import load_settings
        from screentime.runtime import configure_runtime

        configure_runtime(load_settings().threads)  # before OpenCV, ultralytics or onnxruntime load
        return args.func(args)
    except ValidationError as exc:
        from screentime.contracts.options import describe_validation_error

        print(f"error: invalid option: {describe_validation_error(exc)}", file=sys.stderr)
        return EXIT_INVALID
    except ScreentimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    """The `screentime` console command: `main`, then an exit that skips native teardown.

    By the time `main` returns, everything is written and closed. What is left is the interpreter's
    teardown, where native libraries (onnxruntime's thread pools, arrow's, OpenCV's) destroy their
    static state while their worker threads may still wait on it; once in CI that aborted a
    finished, successful run ("terminate called without an active exception", exit -6). So the
    models are released while everything is alive, the streams flushed, and the process exits.
    """
    import logging
    import os

    code = main()
    from screentime.vision.detectors import release_detectors

    release_detectors()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
