"""Application refusals as HTTP problems: one table, so endpoints raise nothing of their own for them."""

from __future__ import annotations

from adapters.http.etag import etag
from adapters.http.firmware_errors import firmware_problem
from adapters.http.ownership_errors import ownership_problem
from adapters.http.problems import Problem
from adapters.http.production_errors import production_problem
from cloudbay_domain.charger import InvalidStationId
from cloudbay_domain.firmware import InvalidFirmware
from cloudbay_domain.id_token import IdTokenError, InvalidIdToken
from cloudbay_domain.load_balancing import InvalidSite
from cloudbay_domain.planner import InvalidPlanRequest
from cloudbay_domain.security import SecurityError
from cloudbay_domain.sites import SiteConflict, UnknownSite
from cloudbay_domain.tariff import InvalidTariff
from cloudbay_domain.text import InvalidText
from cloudbay_domain.user import UserError
from services.certificates import AuthorityNotReady, NothingToRevoke, RequestRefused
from services.chargers import ChargerAlreadyWhitelisted, ChargerNotWhitelisted
from services.errors import VersionMismatch
from services.firmware import UnknownFamily
from services.guests import NotAGuest
from services.id_tokens import IdTokenAlreadyRegistered, UnknownIdToken
from services.platform import StoreUnavailable
from services.ports import CallFailed, CallTimedOut, ChargerOffline
from services.quote_tickets import InvalidQuote
from services.remote import ChargerRefused, TokenNotUsable, TransactionEnded
from services.rollouts import CampaignConflict, UnknownCampaign
from services.schedules import QuoteExpired, QuoteNotUsable, ScheduleEnded, UnknownSchedule
from services.scheduling import NoTariff, UnknownPriceSeries
from services.sites import NoSite
from services.transactions import UnknownTransaction
from services.users import UnknownUser, UserAlreadyExists, UserWasRemoved
from services.webhooks import UnknownWebhook, WebhookRefused

SCHEDULING = (InvalidTariff, InvalidPlanRequest, InvalidSite, InvalidQuote)  # tariffs, quotes, sites
SITES = (SiteConflict, UnknownSite)  # the site layout's own refusals (domain errors: registered as handlers)
# someone else's too
NOT_FOUND = (
    ChargerNotWhitelisted, UnknownIdToken, UnknownTransaction, UnknownUser, UnknownFamily, NoTariff, UnknownCampaign,
    UnknownSchedule, NoSite, UnknownSite,
)  # fmt: skip
CONFLICT = (
    ChargerAlreadyWhitelisted, IdTokenAlreadyRegistered, UserAlreadyExists, TokenNotUsable, UserWasRemoved,
    CampaignConflict, QuoteNotUsable, ScheduleEnded, SiteConflict,
)  # fmt: skip
UNPROCESSABLE = (InvalidStationId, InvalidIdToken, UserError, InvalidText, SecurityError, *SCHEDULING)


def problem_for(error: Exception) -> Problem | None:
    """The problem an application refusal is shown as, or None when it is not one we know."""
    detail = str(error)
    if isinstance(error, NOT_FOUND):
        return Problem(404, "Not Found", detail)
    if isinstance(error, VersionMismatch):  # If-Match named other versions; the current one is in the ETag
        return Problem(412, "Precondition Failed", detail, headers=etag(error.version))
    if isinstance(error, ChargerOffline):
        return Problem(409, "Conflict", detail, reason="Offline")
    if isinstance(error, ChargerRefused):
        return Problem(409, "Conflict", detail, reason=error.status)
    if isinstance(error, QuoteExpired):
        return Problem(410, "Gone", detail, reason="QuoteExpired")
    if isinstance(error, TransactionEnded):
        return Problem(409, "Conflict", detail, reason="Ended")
    if isinstance(error, CallTimedOut):
        return Problem(504, "Gateway Timeout", detail, reason="Timeout")
    if isinstance(error, CallFailed):
        return Problem(502, "Bad Gateway", detail, reason=error.reason)
    if isinstance(error, CONFLICT):
        return Problem(409, "Conflict", detail)
    if isinstance(error, NotAGuest):
        return Problem(403, "Forbidden", detail)
    if isinstance(error, RequestRefused):  # a CSR the authority will not sign
        return Problem(422, "Unprocessable Content", detail, reason=error.reason)
    if isinstance(error, NothingToRevoke):
        return Problem(409, "Conflict", detail, reason="NothingToRevoke")
    if isinstance(error, AuthorityNotReady):  # `cloudbay ca init` was not run, or the passphrase is wrong
        return Problem(503, "Service Unavailable", detail, reason="NoAuthority")
    if isinstance(error, StoreUnavailable):  # the store is away: nothing this request waited for was answered
        return Problem(503, "Service Unavailable", detail, reason="StoreUnavailable")
    if isinstance(error, (*UNPROCESSABLE, InvalidFirmware)):
        return Problem(422, "Unprocessable Content", detail)
    if isinstance(error, IdTokenError):  # e.g. blocking a removed card
        return Problem(409, "Conflict", detail)
    if isinstance(error, (UnknownWebhook, UnknownPriceSeries)):
        return Problem(404, "Not Found", detail)
    if isinstance(error, WebhookRefused):  # a webhook URL or event type refused
        return Problem(422, "Unprocessable Content", detail)
    return production_problem(error) or ownership_problem(error) or firmware_problem(error)
