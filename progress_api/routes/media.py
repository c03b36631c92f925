"""Routes of an episode's pictures and video for the review page's larger view: a saved frame (the
face in its frame) and the episode's source video, to play it at a face's moment.

Neither takes a path: a frame's key is built by the artifact layout from validated ids, and the
video is the one the episode's published manifest names as its source (`source.path`), never a
path from the request. A local video is served with HTTP byte ranges (Starlette's FileResponse
answers `Range` with 206, as browsers ask to seek); an s3:// one is a redirect to a presigned URL.
Like the crops, they are read routes: no token (a <video> or <img> element cannot send one).
"""

from __future__ import annotations

import mimetypes
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response, status
from fastapi.responses import FileResponse, RedirectResponse

from screentime.analysis.publish import read_manifest
from screentime.contracts.episode import EpisodeId, parse_episode_id
from screentime.contracts.errors import InvalidEpisodeId
from screentime.contracts.layout import EpisodeLayout, validate_run_id
from screentime.identity.review import playable
from screentime.progress_api.deps import ReaderDep
from screentime.progress_api.models import EPISODE_ID_PATTERN, RUN_ID_PATTERN, ErrorResponse
from screentime.storage.s3 import client_for, parse_s3_uri

router = APIRouter(tags=["media"])
FRAME_CACHE = "public, max-age=31536000, immutable"  # a frame's URL names its run: it never changes
PRESIGNED_S = 3600  # how long a redirect to an S3 video stays valid
EpisodePath = Annotated[str, Path(json_schema_extra={"pattern": EPISODE_ID_PATTERN})]


def _episode(ep_id: str) -> EpisodeId:
    try:
        return parse_episode_id(ep_id)
    except InvalidEpisodeId as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc


@router.get(
    "/frames/{ep_id}/{run_id}/{frame_index}.jpg", response_class=Response,
    summary="One saved frame (runs with save_frames), read from storage (local disk or S3)",
    responses={200: {"content": {"image/jpeg": {}}}, 404: {"model": ErrorResponse}},
)
def get_frame(
    ep_id: EpisodePath,
    run_id: Annotated[str, Path(json_schema_extra={"pattern": RUN_ID_PATTERN})],
    frame_index: Annotated[int, Path(ge=0, le=10**9)],
    reader: ReaderDep,
) -> Response:
    ep = _episode(ep_id)
    try:
        key = EpisodeLayout(ep).frame_key(validate_run_id(run_id), frame_index)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    try:
        data = reader.storage.get_bytes(key)
    except FileNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no saved frame {frame_index} in run {run_id} of {ep} "
                            "(frames are saved when the run has save_frames)") from exc
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": FRAME_CACHE})


@router.get(
    "/episodes/{ep_id}/video", response_class=Response,
    summary="The episode's source video: byte ranges of a local file, or a redirect to a presigned S3 URL",
    responses={200: {"content": {"video/mp4": {}}}, 206: {"description": "The byte range asked for (Range)"},
               307: {"description": "The video is in S3: a presigned URL"}, 404: {"model": ErrorResponse}},
)
def get_video(ep_id: EpisodePath, reader: ReaderDep) -> Response:
    ep = _episode(ep_id)
    manifest = read_manifest(reader.storage, ep)
    if manifest is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{ep} has no published manifest")
    source = manifest.source.path  # the episode's own video: the only path this route ever opens
    how = playable(source)
    if how == "s3":
        bucket, key = parse_s3_uri(source)
        url = client_for().generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                                  ExpiresIn=PRESIGNED_S)
        return RedirectResponse(url, status.HTTP_307_TEMPORARY_REDIRECT)
    if how != "file":
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"the video of {ep} is not reachable from the API "
                            "(its source is not a video file this machine has)")
    path = FilePath(source).resolve()
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})


# HEAD too (players ask for the length first); one operation in the OpenAPI document, not two
# with one id.
router.add_api_route("/episodes/{ep_id}/video", get_video, methods=["HEAD"], include_in_schema=False)
