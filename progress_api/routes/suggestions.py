"""Routes of the suggestions resource: "same person?" pairs of a show's people, each person's
likeliest matches ("most likely duplicated" first), a reviewer's "not the same" (a versioned
edit of the registry, 409 when stale), and the suggestions page.

Accepting a pair is the people routes' merge edit (POST /shows/{show}/people/edits).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import HTMLResponse

from screentime.contracts.people import PeopleRegistry
from screentime.contracts.review import PersonView
from screentime.contracts.suggestions import (
    Match,
    MatchesView,
    NotSameRequest,
    Pair,
    PersonMatches,
    Side,
    SuggestionsView,
)
from screentime.identity.not_same import InvalidPair, not_same_pairs, record_not_same
from screentime.identity.registry import StaleRegistry, load_registry
from screentime.identity.suggestions import Candidate, matches_by_person
from screentime.progress_api.deps import ReaderDep, SettingsDep, SuggestionsDep, TokenFirstRoute, require_token
from screentime.progress_api.models import EPISODE_ID_PATTERN, EditResponse, ErrorResponse
from screentime.progress_api.routes.pages import _page
from screentime.progress_api.routes.people import ERRORS, WRITE_ERRORS, ShowDep, _episode, _known_show

router = APIRouter(tags=["suggestions"], route_class=TokenFirstRoute)
CROPS_PER_SIDE = 6
ALL_PEOPLE = 1_000_000


@router.get("/shows/{show}/suggestions", response_model=SuggestionsView, responses=ERRORS,
            summary='"Same person?" pairs of the show\'s people, nearest first')
def get_pairs(
    show: ShowDep,
    reader: ReaderDep,
    finder: SuggestionsDep,
    ep_id: Annotated[str | None, Query(description="Only pairs with a person of this episode",
                                       json_schema_extra={"pattern": EPISODE_ID_PATTERN})] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> SuggestionsView:
    ep = _episode(ep_id, show)
    _known_show(reader, show)
    registry = load_registry(reader.storage, show)
    if ep is not None and ep not in registry.episodes:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{ep} has no people in {show}'s registry (yet)")
    pairs = [p for p in finder.pairs(registry) if ep is None or ep in p.episodes]
    page = pairs[offset:offset + limit]
    people = reader.people(show, limit=ALL_PEOPLE)
    by_id = {p.id: p for p in people.people}
    views = [_pair_view(registry, pair, by_id) for pair in page]
    return SuggestionsView(show=show, ep_id=ep, version=registry.version, numbers_version=people.numbers_version,
                           total=len(pairs), offset=offset, limit=limit,
                           rejected=len(not_same_pairs(registry)), pairs=views)


@router.get("/shows/{show}/matches", response_model=MatchesView, responses=ERRORS,
            summary="Each person's likeliest matches; people most likely duplicated first")
def get_matches(
    show: ShowDep,
    reader: ReaderDep,
    finder: SuggestionsDep,
    identity: Annotated[int | None, Query(ge=1, le=10**9, description="Only this person")] = None,
    limit: Annotated[int, Query(ge=1, le=20, description="Matches per person")] = 5,
) -> MatchesView:
    _known_show(reader, show)
    registry = load_registry(reader.storage, show)
    if identity is not None and registry.resolve(identity) not in registry.identities:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{show} has no person {identity}")
    people = []
    for who, found in matches_by_person(finder.pairs(registry)).items():
        if identity is not None and who != registry.resolve(identity):
            continue
        matches = [Match(id=other, label=registry.identities[other].label, distance=pair.distance, scope=pair.scope)
                   for other, pair in found[:limit]]
        people.append(PersonMatches(id=who, label=registry.identities[who].label, distance=matches[0].distance,
                                    matches=matches))
    people.sort(key=lambda p: (p.distance, p.id))
    return MatchesView(show=show, version=registry.version, people=people)


@router.post(
    "/shows/{show}/suggestions/not-same", response_model=EditResponse, dependencies=[Depends(require_token)],
    summary='"Not the same person": never suggested again, never grouped together on re-runs',
    responses={**WRITE_ERRORS,
               409: {"model": ErrorResponse, "description": "The people changed since base_version: "
                     "nothing was written; reload and decide again"}},
)
def post_not_same(body: NotSameRequest, show: ShowDep, reader: ReaderDep) -> EditResponse:
    _known_show(reader, show)
    try:
        registry = record_not_same(reader.storage, show, body.base_version, body.a, body.b, by=body.by)
    except StaleRegistry as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except InvalidPair as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    return EditResponse.of(registry)


@router.get("/suggestions", response_class=HTMLResponse,
            summary='"Same person?": accept or reject pairs of a show\'s people (?show=<show>[&ep=<ep_id>])')
def page(settings: SettingsDep) -> HTMLResponse:
    return _page("suggestions.html", settings)


def _pair_view(registry: PeopleRegistry, pair: Candidate, people: dict[int, PersonView]) -> Pair:
    one, two = _side(registry, pair.a, people), _side(registry, pair.b, people)
    keep, other = (one, two) if _keep_first(one, two) else (two, one)
    return Pair(a=keep, b=other, distance=pair.distance, scope=pair.scope, episodes=pair.episodes)


def _keep_first(one: Side, two: Side) -> bool:
    """The side a merge keeps: the named one, else the one with more seconds, else the older id."""
    if (one.name is None) != (two.name is None):
        return one.name is not None
    if (one.seconds or 0.0) != (two.seconds or 0.0):
        return (one.seconds or 0.0) > (two.seconds or 0.0)
    return one.id < two.id


def _side(registry: PeopleRegistry, identity: int, people: dict[int, PersonView]) -> Side:
    who = registry.identities[identity]
    person = people.get(identity)
    if person is None:
        return Side(id=identity, label=who.label, name=who.name)
    counted = [t for t in person.tracks if not t.excluded]
    tracks = [t for t in counted if t.crops]
    crops = [t.crops[0] for t in tracks[:CROPS_PER_SIDE]]  # one per track part first: the person's range
    for track in tracks:
        crops.extend(c for c in track.crops[1:] if len(crops) < CROPS_PER_SIDE)
    return Side(id=identity, label=who.label, name=who.name, seconds=person.seconds,
                episodes=sorted({t.ep_id for t in counted}), crops=crops[:CROPS_PER_SIDE])
