#!/usr/bin/env python3
"""Make a TEST-ONLY Peppol PKI in certs-example/generated/ (or the directory given).

    .venv/bin/python certs-example/make-test-pki.py [DIRECTORY]

Writes a root CA, an SMP signer, an access point and an SMP TLS certificate with their keys (see
certs-example/README.md). Every run makes new keys and overwrites the files. The generation itself
lives in gateway/peppol/testpki.py (it uses `cryptography`), so tests and the demo make the same PKI.
"""

from __future__ import annotations

import sys
from pathlib import Path

from gateway.peppol.testpki import make_test_pki

DEFAULT_DIRECTORY = Path(__file__).resolve().parent / "generated"


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        print(__doc__, file=sys.stderr)
        return 2
    directory = Path(argv[0]) if argv else DEFAULT_DIRECTORY
    pki = make_test_pki(directory)
    for path in sorted(pki.directory.iterdir()):
        print(path)
    print("TEST ONLY: these certificates are not part of the Peppol PKI and must never be used in production.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
