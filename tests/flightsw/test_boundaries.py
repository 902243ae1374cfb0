"""flightsw is the interface others build against: it must not import them."""

from __future__ import annotations

import subprocess
import sys


def test_flightsw_never_imports_ground_payload_or_hil() -> None:
    code = (
        "import sys, pkgutil, importlib, flightsw\n"
        "for m in pkgutil.walk_packages(flightsw.__path__, 'flightsw.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('ground', 'payload', 'hil'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""


def test_aisat_cli_imports_packages_lazily() -> None:
    code = ("import sys, aisat.cli\n"
            "print(','.join(sorted(n for n in sys.modules if n.split('.')[0] in "
            "('ground', 'payload', 'hil', 'onnxruntime'))))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""
