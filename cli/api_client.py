"""A small synchronous client of the control-plane API, for the CLI's commands.

The API's address and token come from `--api-url`/`--token`, else `JOBSTREAM_API_URL`/
`JOBSTREAM_API_TOKEN`, else the local pipeline's (the API the demo and `stack up` start).
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from cli.base import CommandError
from cli.pipeline import PipelineConfig
from cli.stack import StackConfig


class ApiCallError(CommandError):
    """The API answered with an error; `status` and `body` say which."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{body.get('message', 'error')} (HTTP {status})")
        self.status = status
        self.body = body


def add_api_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("API (default: JOBSTREAM_API_URL, JOBSTREAM_API_TOKEN)")
    group.add_argument("--api-url", help="the API's base URL (default: the local pipeline's)")
    group.add_argument("--token", help="API_TOKEN or a user's token (default: the local one)")


@dataclass(frozen=True, slots=True)
class ApiClient:
    base_url: str
    token: str
    timeout_s: float = 15.0

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ApiClient:
        local = PipelineConfig.from_env(StackConfig.from_env())
        url = args.api_url or os.environ.get("JOBSTREAM_API_URL") or local.api_url
        token = args.token or local.api_token
        return cls(base_url=url.rstrip("/"), token=token)

    def get(self, path: str, **query: Any) -> Any:
        given = {k: v for k, v in query.items() if v is not None}
        suffix = f"?{urlencode(given)}" if given else ""
        return self._call("GET", path + suffix, None)

    def post(self, path: str, body: Any = None) -> Any:
        return self._call("POST", path, body)

    def patch(self, path: str, body: Any) -> Any:
        return self._call("PATCH", path, body)

    def _call(self, method: str, path: str, body: Any) -> Any:
        data = None if body is None else json.dumps(body).encode()
        # Only http(s) URLs of our own API ever get here.
        request = urllib.request.Request(self.base_url + path, data=data, method=method)  # noqa: S310
        request.add_header("Content-Type", "application/json")
        # Reads need an account too: every call carries the token.
        request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:  # noqa: S310
                return json.load(answer)
        except urllib.error.HTTPError as error:
            raise ApiCallError(error.code, _error_body(error)) from error
        except OSError as error:
            raise CommandError(
                f"the API at {self.base_url} does not answer ({error}); start the pipeline "
                "with `jobstream demo` or pass --api-url"
            ) from error


def _error_body(error: urllib.error.HTTPError) -> dict[str, Any]:
    try:
        body = json.load(error)
    except ValueError:
        body = None
    return body if isinstance(body, dict) else {"error": "http", "message": error.reason}


def segment(value: str) -> str:
    """A path segment, escaped (job hashes carry '/' and '+')."""
    return quote(value, safe="")
