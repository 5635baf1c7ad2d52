"""Harness's brute-force policy for logins; django-axes records the failures and the settings point here.

- A client's address is REMOTE_ADDR, or with HARNESS_NUM_PROXIES = N the N-th entry from the right of
  X-Forwarded-For: the rule of DRF's throttles, so neither can be dodged by sending the header yourself.
- Failures in the cool-off window count three ways, each with its own limit: one username from one address
  (a guesser, or a person mistyping), one username from all addresses (a guesser with many addresses), one
  address over all usernames (a sprayer). The first limit is small; the wider two are larger, so a stranger
  needs many failures to lock someone out and a shared office address survives its people's typos.
- A success clears only that username's failures from that address: logging into your own account does not
  wipe the count of the usernames you were guessing.
"""

from __future__ import annotations

import ipaddress
import math
from datetime import datetime, timedelta
from typing import Any

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Q, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from rest_framework.throttling import BaseThrottle

LOCKOUT_TEMPLATE = "registration/locked_out.html"
USERNAME_MAX_LENGTH = 255  # axes.models.AccessBase.username


def client_address(request: HttpRequest) -> str | None:
    """The address failures and the token throttle count against, by DRF's NUM_PROXIES rule. Something that is
    not an address where a proxy should have written one counts against the proxy (REMOTE_ADDR)."""
    for candidate in (BaseThrottle().get_ident(request), request.META.get("REMOTE_ADDR")):
        try:
            return str(ipaddress.ip_address((candidate or "").strip()))
        except ValueError:
            continue
    return None


def login_username(request: Any, credentials: dict | None = None) -> str | None:
    """AXES_USERNAME_CALLABLE: axes' own rule, cut to what its table holds (no real username is longer)."""
    field = settings.AXES_USERNAME_FORM_FIELD
    source = credentials if credentials else getattr(request, "data", request.POST)
    username = source.get(field)
    return username[:USERNAME_MAX_LENGTH] if isinstance(username, str) else username


class LoginLockoutHandler(AxesDatabaseHandler):
    """axes' database handler with Harness's three limits and a success that clears only its own failures."""

    def get_failures(self, request: Any, credentials: dict | None = None) -> int:
        """The worst of the three counts, scaled to AXES_FAILURE_LIMIT (the one limit axes compares with)."""
        username = get_client_username(request, credentials)
        address = request.axes_ip_address
        by_username, by_address = Q(username=username), Q(ip_address=address)
        pair = by_username & by_address
        counts = (
            AccessAttempt.objects.filter(attempt_time__gte=get_cool_off_threshold(request))
            .filter(by_username | by_address)
            .aggregate(
                pair=Sum("failures_since_start", filter=pair),
                username=Sum("failures_since_start", filter=by_username),
                address=Sum("failures_since_start", filter=by_address),
            )
        )
        limit = settings.AXES_FAILURE_LIMIT
        limits = {
            "pair": limit,
            "username": settings.HARNESS_LOGIN_USERNAME_FAILURE_LIMIT,
            "address": settings.HARNESS_LOGIN_ADDRESS_FAILURE_LIMIT,
        }
        # count >= its own limit exactly when count * limit // its limit >= limit
        return max((counts[kind] or 0) * limit // limits[kind] for kind in limits)

    def reset_user_attempts(self, request: Any, credentials: dict | None = None) -> int:
        count, _ = AccessAttempt.objects.filter(
            username=get_client_username(request, credentials), ip_address=request.axes_ip_address
        ).delete()
        return count


def login_failures_reset(request: Any, *, username: str) -> None:
    """A login that did not go through `django.contrib.auth.login` (the API token) clears its failures too."""
    if settings.AXES_ENABLED and settings.AXES_RESET_ON_SUCCESS:
        credentials = {settings.AXES_USERNAME_FORM_FIELD: username}
        AxesProxyHandler.get_implementation().reset_user_attempts(request, credentials)


def lockout_retry_after(request: Any) -> int:
    """Seconds until a locked-out client may try again: the failure just recorded leaves the window then."""
    cool_off = get_cool_off(request) or timedelta(0)
    return max(1, math.ceil(cool_off.total_seconds()))


def lockout_message(request: Any) -> str:
    retry_at: datetime = timezone.now() + timedelta(seconds=lockout_retry_after(request))
    return (
        "Too many failed logins for this username or from your address: logins are refused for now. "
        f"Try again after {retry_at:%H:%M} UTC; each failed attempt before then restarts the wait."
    )


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE, for the web login and the admin login (the token view answers its own lockout)."""
    retry_after = lockout_retry_after(request)
    context = {
        "retry_at": timezone.now() + timedelta(seconds=retry_after),
        "retry_minutes": math.ceil(retry_after / 60),
    }
    response = render(request, LOCKOUT_TEMPLATE, context, status=429)
    response["Retry-After"] = str(retry_after)
    return response
