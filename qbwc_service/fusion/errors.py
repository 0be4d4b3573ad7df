"""What the Fusion Operations client raises. Each error carries what a caller decides on (the HTTP status,
Fusion's own message, whether trying again later can help), never only a sentence.

The tree::

    FusionError                    anything the Fusion client raises on purpose (.method, .url, .status,
    │                              .fusion_message); a QbwcError, so the CLI prints it on one line
    ├── FusionUnavailable          transient: Fusion could not be reached, or kept answering 5xx, beyond the
    │   │                          retries (.attempts). Nothing was changed in Fusion: try again later.
    │   ├── FusionRateLimited      Fusion (429) or the account's request budget kept the request waiting longer
    │   │                          than allowed (.retry_after: what Fusion last asked for, in seconds)
    │   └── FusionOutcomeUnknown   a create was sent and its answer lost (a timeout after sending, a 5xx): it
    │                              may exist in Fusion, so look it up (by its code or marker) before creating
    │                              it again
    ├── FusionRefused              Fusion answered an error that asking again will not change (4xx)
    │   ├── FusionAuthFailed       401/403, or the token endpoint refused the credentials
    │   └── FusionNotFound         404, or no entity with the code asked for (.what, .key)
    └── FusionBadAnswer            a success answer that cannot be read (not JSON, not the entity expected,
                                   a next page elsewhere than Fusion) (.detail)

Secrets never appear in these messages: URLs are the ones requested (Fusion v2 takes its token in a header),
and Fusion's message is cut to a line.
"""

from __future__ import annotations

from qbwc_service.errors import QbwcError

MESSAGE_LIMIT = 300


class FusionError(QbwcError):
    """Base of the Fusion client's errors."""

    def __init__(self, message: str, *, method: str | None = None, url: str | None = None,
                 status: int | None = None, fusion_message: str | None = None) -> None:
        super().__init__(message)
        self.method, self.url, self.status = method, url, status
        self.fusion_message = fusion_message

    @property
    def transient(self) -> bool:
        """Whether the same request may succeed later (Fusion down, busy or slow)."""
        return isinstance(self, FusionUnavailable)


class FusionUnavailable(FusionError):
    """Fusion could not be reached or kept failing; nothing was changed in Fusion by this request (except for
    FusionOutcomeUnknown). Callers keep their work and try again later."""

    def __init__(self, message: str, *, attempts: int, method: str | None = None, url: str | None = None,
                 status: int | None = None, fusion_message: str | None = None) -> None:
        super().__init__(message, method=method, url=url, status=status, fusion_message=fusion_message)
        self.attempts = attempts


class FusionRateLimited(FusionUnavailable):
    """The request waited for the request budget or Fusion's 429 answers longer than allowed."""

    def __init__(self, message: str, *, attempts: int, retry_after: float | None, method: str | None = None,
                 url: str | None = None, status: int | None = None, fusion_message: str | None = None) -> None:
        super().__init__(message, attempts=attempts, method=method, url=url, status=status,
                         fusion_message=fusion_message)
        self.retry_after = retry_after


class FusionOutcomeUnknown(FusionUnavailable):
    """A create went out and its answer was lost: the entity may exist in Fusion now."""


class FusionRefused(FusionError):
    """Fusion answered 4xx: the request itself is wrong, or not allowed; repeating it changes nothing."""


class FusionAuthFailed(FusionRefused):
    """The credentials were refused (401/403 from the API, or an error from the token endpoint)."""


class FusionNotFound(FusionRefused):
    """No such entity: a 404, or no entity with the code asked for. ``what`` is the collection, ``key`` the id
    or code asked for."""

    def __init__(self, message: str, *, what: str, key: object, method: str | None = None, url: str | None = None,
                 status: int | None = None, fusion_message: str | None = None) -> None:
        super().__init__(message, method=method, url=url, status=status, fusion_message=fusion_message)
        self.what, self.key = what, key


class FusionBadAnswer(FusionError):
    """A success answer the client cannot read as what it asked for; ``detail`` says what is wrong."""

    def __init__(self, detail: str, *, method: str | None = None, url: str | None = None,
                 status: int | None = None) -> None:
        super().__init__(f"Fusion's answer to {method} {url} cannot be read: {detail}", method=method, url=url,
                         status=status)
        self.detail = detail
