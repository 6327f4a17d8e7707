"""Prometheus metrics in the text exposition format (0.0.4), and the access log.

The access log names the route template (``/v1/clients/{client_id}``), never the path:
client ids stay out of the logs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict

log = logging.getLogger("segmint.api.access")

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """Request counts and latency histograms by route, method and status."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.hist: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * (len(BUCKETS) + 1))
        self.sums: dict[tuple[str, str], float] = defaultdict(float)
        self.started = time.time()

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(route, method, status)] += 1
            h = self.hist[(route, method)]
            for i, b in enumerate(BUCKETS):
                if seconds <= b:
                    h[i] += 1
                    break
            else:
                h[-1] += 1
            self.sums[(route, method)] += seconds

    def render(self, gauges: dict[str, tuple[str, float]]) -> str:
        out = ["# HELP segmint_http_requests_total HTTP requests by route, method and status.",
               "# TYPE segmint_http_requests_total counter"]
        with self._lock:
            for (route, method, status), n in sorted(self.requests.items()):
                out.append(f'segmint_http_requests_total{{route="{_esc(route)}",method="{method}",'
                           f'status="{status}"}} {n}')
            out += ["# HELP segmint_http_request_duration_seconds Request latency.",
                    "# TYPE segmint_http_request_duration_seconds histogram"]
            for (route, method), h in sorted(self.hist.items()):
                labels = f'route="{_esc(route)}",method="{method}"'
                cum = 0
                for b, n in zip(BUCKETS, h, strict=False):
                    cum += n
                    out.append(f'segmint_http_request_duration_seconds_bucket{{{labels},le="{b}"}} {cum}')
                cum += h[-1]
                out.append(f'segmint_http_request_duration_seconds_bucket{{{labels},le="+Inf"}} {cum}')
                out.append(f"segmint_http_request_duration_seconds_sum{{{labels}}} {self.sums[(route, method)]}")
                out.append(f"segmint_http_request_duration_seconds_count{{{labels}}} {cum}")
        for name, (help_, value) in gauges.items():
            out += [f"# HELP {name} {help_}", f"# TYPE {name} gauge", f"{name} {value}"]
        return "\n".join(out) + "\n"


def _esc(x: str) -> str:
    return x.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class AccessLog:
    """ASGI middleware: time every request, count it, log it without client data."""

    def __init__(self, app, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        status = 500

        async def tracked(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        finally:
            seconds = time.perf_counter() - t0
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.observe(route, scope["method"], status, seconds)
            key = (scope.get("state") or {}).get("key_id", "-")
            log.info("%s %s %d %.1fms key=%s", scope["method"], route, status, seconds * 1000, key)
