"""Prometheus metrics in the text exposition format (version 0.0.4), without a dependency.

Three kinds: :class:`Counter` and :class:`Histogram` (optionally with one label), and
:class:`Gauge`, whose value is read from a callable when the page is rendered (so a gauge
is never stale). :class:`Registry.render` produces the ``GET /metrics`` body. This module
is node-only (never consensus code), so it uses floats freely.
"""

from __future__ import annotations

import math
import re
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable

__all__ = ["Counter", "Gauge", "Histogram", "Registry", "DEFAULT_BUCKETS", "CONTENT_TYPE"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Seconds: from 1 ms to 30 s, roughly 2.5x apart.
DEFAULT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0)
_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*\Z")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


class _Metric:
    kind = ""

    def __init__(self, name: str, help_text: str, label: str | None = None) -> None:
        if not _NAME_RE.match(name):
            raise ValueError(f"bad metric name {name!r}")
        if label is not None and not _LABEL_RE.match(label):
            raise ValueError(f"bad label name {label!r}")
        self.name = name
        self.help = help_text
        self.label = label
        self._lock = threading.Lock()

    def _labels(self, value: str | None, extra: str = "") -> str:
        parts = []
        if self.label is not None:
            parts.append(f'{self.label}="{_escape(value or "")}"')
        if extra:
            parts.append(extra)
        return "{" + ",".join(parts) + "}" if parts else ""

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def lines(self) -> list[str]:
        raise NotImplementedError


class Counter(_Metric):
    """A monotonically increasing count, per label value."""

    kind = "counter"

    def __init__(self, name: str, help_text: str, label: str | None = None) -> None:
        super().__init__(name, help_text, label)
        self._values: dict[str | None, float] = {}
        if label is None:
            self._values[None] = 0

    def inc(self, amount: float = 1, label: str | None = None) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        key = label if self.label is not None else None
        with self._lock:
            self._values[key] = self._values.get(key, 0) + amount

    def value(self, label: str | None = None) -> float:
        return self._values.get(label if self.label is not None else None, 0)

    def set_from(self, values: dict[str, int]) -> None:
        """Replace the per-label values by externally kept monotonic counts."""
        with self._lock:
            for key, amount in values.items():
                self._values[key] = amount

    def lines(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items(), key=lambda kv: kv[0] or "")
        return [f"{self.name}{self._labels(k)} {_num(v)}" for k, v in items]


class Gauge(_Metric):
    """A value read from ``fn`` at render time; ``fn`` returns a number, or a mapping of
    label value -> number when the gauge has a label."""

    kind = "gauge"

    def __init__(
        self,
        name: str,
        help_text: str,
        fn: Callable[[], float | dict[str, float]],
        label: str | None = None,
    ) -> None:
        super().__init__(name, help_text, label)
        self.fn = fn

    def lines(self) -> list[str]:
        value = self.fn()
        if self.label is None:
            assert not isinstance(value, dict)
            return [f"{self.name} {_num(value)}"]
        assert isinstance(value, dict)
        return [f"{self.name}{self._labels(k)} {_num(v)}" for k, v in sorted(value.items())]


class Histogram(_Metric):
    """Observations counted into cumulative buckets, per label value."""

    kind = "histogram"

    def __init__(
        self,
        name: str,
        help_text: str,
        label: str | None = None,
        buckets: Iterable[float] = DEFAULT_BUCKETS,
    ) -> None:
        super().__init__(name, help_text, label)
        self.buckets = tuple(sorted(buckets))
        self._series: dict[str | None, tuple[list[int], list[float]]] = {}

    def observe(self, value: float, label: str | None = None) -> None:
        key = label if self.label is not None else None
        with self._lock:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = ([0] * (len(self.buckets) + 1), [0.0])
            series[0][bisect_left(self.buckets, value)] += 1
            series[1][0] += value

    def count(self, label: str | None = None) -> int:
        series = self._series.get(label if self.label is not None else None)
        return 0 if series is None else sum(series[0])

    def lines(self) -> list[str]:
        out: list[str] = []
        with self._lock:
            items = sorted(
                ((k, (list(c), s[0])) for k, (c, s) in self._series.items()),
                key=lambda kv: kv[0] or "",
            )
        for key, (counts, total) in items:
            running = 0
            for bound, n in zip(self.buckets, counts, strict=False):
                running += n
                le = 'le="' + _num(bound) + '"'
                out.append(f"{self.name}_bucket{self._labels(key, le)} {running}")
            running += counts[-1]
            inf = 'le="+Inf"'
            out.append(f"{self.name}_bucket{self._labels(key, inf)} {running}")
            out.append(f"{self.name}_sum{self._labels(key)} {_num(total)}")
            out.append(f"{self.name}_count{self._labels(key)} {running}")
        return out


class Registry:
    """The metrics of one node, rendered in registration order."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}
        self._collectors: list[Callable[[], None]] = []

    def before_render(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` before each :meth:`render` (to copy counts kept elsewhere)."""
        self._collectors.append(fn)

    def _add(self, metric: _Metric) -> _Metric:
        if metric.name in self._metrics:
            raise ValueError(f"metric {metric.name} registered twice")
        self._metrics[metric.name] = metric
        return metric

    def counter(self, name: str, help_text: str, label: str | None = None) -> Counter:
        metric = Counter(name, help_text, label)
        self._add(metric)
        return metric

    def gauge(
        self,
        name: str,
        help_text: str,
        fn: Callable[[], float | dict[str, float]],
        label: str | None = None,
    ) -> Gauge:
        metric = Gauge(name, help_text, fn, label)
        self._add(metric)
        return metric

    def histogram(
        self,
        name: str,
        help_text: str,
        label: str | None = None,
        buckets: Iterable[float] = DEFAULT_BUCKETS,
    ) -> Histogram:
        metric = Histogram(name, help_text, label, buckets)
        self._add(metric)
        return metric

    def get(self, name: str) -> _Metric | None:
        return self._metrics.get(name)

    def render(self) -> str:
        for fn in self._collectors:
            fn()
        out: list[str] = []
        for metric in self._metrics.values():
            out.extend(metric.header())
            out.extend(metric.lines())
        return "\n".join(out) + "\n"
