"""Generate the Python stubs of proto/ into api/zitadel/pb/ (`python -m api.zitadel.generate`).

The stubs are committed; a test generates them again and compares, so they cannot drift from
the .proto files. protoc writes absolute imports from the proto path (`from zitadel import
object_pb2`): they are rewritten to this package, where the stubs live.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = ROOT / "proto"
OUT_DIR = Path(__file__).resolve().parent / "pb"
PACKAGE = "api.zitadel.pb"

_ABSOLUTE_IMPORT = re.compile(r"^from zitadel import ", re.MULTILINE)


def generate(out_dir: Path) -> list[Path]:
    """Write the stubs (messages and type stubs) into out_dir; the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    code = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{PROTO_DIR}",
            f"-I{Path(protoc.__file__).parent / '_proto'}",  # the well-known types
            f"--python_out={out_dir}",
            f"--pyi_out={out_dir}",
            *protos,
        ]
    )
    if code != 0:
        raise RuntimeError(f"protoc failed ({code})")
    written = sorted(p for p in out_dir.rglob("*") if p.suffix in (".py", ".pyi"))
    for path in written:
        path.write_text(_ABSOLUTE_IMPORT.sub(f"from {PACKAGE}.zitadel import ", path.read_text()))
    for package in {p.parent for p in written} | {out_dir}:
        (package / "__init__.py").touch()
    return sorted(p for p in out_dir.rglob("*") if p.suffix in (".py", ".pyi"))


def stubs(out_dir: Path) -> dict[str, str]:
    """The stubs under out_dir by relative path, as text."""
    return {
        str(p.relative_to(out_dir)): p.read_text()
        for p in out_dir.rglob("*")
        if p.suffix in (".py", ".pyi")
    }


def fresh_stubs() -> dict[str, str]:
    """What generate() writes now, without touching the committed stubs."""
    with tempfile.TemporaryDirectory() as scratch:
        generate(Path(scratch))
        return stubs(Path(scratch))


if __name__ == "__main__":
    for path in generate(OUT_DIR):
        print(path.relative_to(ROOT))
    sys.exit(0)
