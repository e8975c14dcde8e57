"""docs/monitoring.md's blocks, and the plugin's Prometheus endpoint read as a scraper reads it
(the tests of that page)."""

from __future__ import annotations

import re
import socket
import urllib.request

from project import DOCS

PAGE = DOCS / "monitoring.md"
SAMPLE = re.compile(r"^([a-z_]+)(\{[^}]*\})? (\S+)$")


def block(heading: str) -> str:
    """The first fenced block after ``## heading`` in docs/monitoring.md."""
    section = PAGE.read_text().split(f"\n## {heading}\n", 1)[1]
    return section.split("```", 2)[1].split("\n", 1)[1]


def declared(port: int) -> set[str]:
    """Every series name the endpoint declares (# TYPE), with the suffixes its type implies."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.M):
        suffixes = {"histogram": ["", "_bucket", "_count", "_sum"]}.get(kind, [""])
        names |= {name + suffix for suffix in suffixes}
    return names


def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    samples = {}
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if m and not line.startswith("#"):
            samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return samples


def value(samples: dict[str, float], name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for key, v in samples.items():
        metric, _, rest = key.partition("{")
        have = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        if metric == name and all(have.get(k) == want for k, want in labels.items()):
            total += v
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
