"""The HTTP side of a download: urllib's opener, redirects only to http(s), and one-line errors for what the
network does (404, other codes, unreachable or silent servers, a body that stalls or breaks off).

Its own module so that ``http.client``, ``urllib.request`` and ``ssl`` are imported by a download alone
(:func:`rnnplay.corpora.download.fetch` imports it), not by every command that imports the corpora.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from rnnplay.core.errors import RnnplayError, flat
from rnnplay.corpora.download import (
    CHUNK,
    MIRROR_ENV,
    TIMEOUT,
    TIMEOUT_ENV,
    NotFound,
    deadline_seconds,
)


class _HttpRedirectsOnly(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to another http(s) address (urllib's own handler would follow one to ftp://)."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        if urllib.parse.urlsplit(newurl).scheme.lower() not in ("http", "https"):
            raise urllib.error.HTTPError(newurl, code, f"a redirect to {flat(newurl)[:100]}, which is not an "
                                         "http(s) address", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_HttpRedirectsOnly)


def open_url(url: str, deadline: float) -> Any:  # an http.client.HTTPResponse, or urllib's response for file://
    """urlopen with one-line errors: 404 (NotFound), other HTTP codes, unreachable hosts."""
    request = urllib.request.Request(url, headers={"User-Agent": "rnnplay"})
    try:
        return _OPENER.open(request, timeout=min(TIMEOUT, deadline))
    except urllib.error.HTTPError as err:
        if err.code == 404:
            raise NotFound(f"{url} was not found (HTTP 404); check the address") from None
        if str(err.reason).startswith(_HttpRedirectsOnly.inf_msg):  # urllib's words for a loop, or too many
            raise RnnplayError(f"{url} redirects in a loop (HTTP {err.code}, or more than "
                               f"{_HttpRedirectsOnly.max_redirections} redirects); check the address: trying again "
                               "will not help") from None
        raise RnnplayError(f"{url} answered HTTP {err.code} {flat(err.reason)}; check the address or try "
                           "later") from None
    except urllib.error.URLError as err:
        if isinstance(err.reason, TimeoutError):
            raise _no_answer(url, min(TIMEOUT, deadline)) from None
        reason = getattr(err.reason, "strerror", None) or err.reason
        raise RnnplayError(f"cannot reach {_where(url)} ({reason}); check the address and your connection, "
                           f"or set {MIRROR_ENV} to a folder or URL holding the corpus") from None
    except TimeoutError:
        raise _no_answer(url, min(TIMEOUT, deadline)) from None
    except OSError as err:
        raise RnnplayError(f"cannot reach {_where(url)} ({err}); check the address and your connection") from None
    except (ValueError, OverflowError, http.client.HTTPException) as err:  # a bad port, a garbled answer
        raise RnnplayError(f"cannot download {flat(url[:200])} ({err.__class__.__name__}: {flat(str(err))[:100]}); "
                           "check the address") from None


def _no_answer(url: str, seconds: float) -> RnnplayError:
    """A server that did not answer in time: unreachable, or reached and silent (a connection it accepted)."""
    return RnnplayError(f"{_where(url)} did not answer within {seconds:g} s; check the address and your connection, "
                        f"or raise {TIMEOUT_ENV} for a slow server")


def read_chunk(response: Any, url: str, got: int) -> bytes:
    """What has arrived, up to CHUNK bytes: one read, so a trickling server cannot hold the loop."""
    try:
        return response.read1(CHUNK)
    except TimeoutError:  # a server that sent part of the body, then nothing for a whole read's time
        wait = min(TIMEOUT, deadline_seconds())
        raise_it = f", or raise {TIMEOUT_ENV} for a slow server" if wait < TIMEOUT else ""
        raise RnnplayError(f"the download of {url} stalled: nothing arrived for {wait:g} s ({got:,} bytes so far); "
                           f"try again later, or use a mirror ({MIRROR_ENV}){raise_it}") from None
    except (OSError, ValueError, http.client.HTTPException) as err:  # reset, IncompleteRead
        raise RnnplayError(f"the download of {url} broke off ({err.__class__.__name__}); try again") from None


def _where(url: str) -> str:
    """The host of ``url`` (what a line about an unreachable server names), or ``url`` itself."""
    parts = urllib.parse.urlsplit(url)
    return parts.netloc or url
