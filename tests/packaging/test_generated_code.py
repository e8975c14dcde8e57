"""The checked-in protobuf code is exactly what scripts/gen-proto produces."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
from pathlib import Path

from project import ROOT, VARIANTS

GENERATED = [
    *(f"fleeting_openstack/proto/{n}{s}" for n in ("goplugin", "health", "fleeting")
      for s in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")),
    "tests/conformance/fleetingpb/fleeting.pb.go",
    "tests/conformance/fleetingpb/fleeting_grpc.pb.go",
    *(f"tests/conformance/variants/{v}/pb/{v}{s}" for v in VARIANTS for s in (".pb.go", "_grpc.pb.go")),
]


def test_regenerating_changes_nothing(tmp_path: Path) -> None:
    work = tmp_path / "tree"
    shutil.copytree(ROOT / "fleeting_openstack" / "proto", work / "fleeting_openstack" / "proto",
                    ignore=shutil.ignore_patterns("*_pb2*", "__pycache__"))
    shutil.copytree(ROOT / "scripts", work / "scripts")
    for variant in VARIANTS:
        proto = Path("tests/conformance/variants") / variant / f"{variant}.proto"
        (work / proto).parent.mkdir(parents=True)
        shutil.copy2(ROOT / proto, work / proto)
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.run([str(work / "scripts" / "gen-proto"), str(out)], cwd=work,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    differing = [rel for rel in GENERATED if not (out / rel).exists()
                 or not filecmp.cmp(out / rel, ROOT / rel, shallow=False)]
    assert not differing, f"regenerate with scripts/gen-proto; stale: {differing}"
