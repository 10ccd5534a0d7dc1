"""`gateway sandbox ap` as a real process: it prints its settings, takes a document once per
idempotency key, and answers its status over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import requests

REPO = Path(__file__).parents[2]
INVOICE = "peppol-bis-billing-3/examples/base-example.xml"


def test_sandbox_ap_command_serves_the_contract(standards_dir, shared_standards):
    env = {**os.environ, "GATEWAY_STANDARDS_DIR": str(standards_dir), "GATEWAY_PUBLIC_BASE_URL": "http://127.0.0.1:9"}
    command = [sys.executable, "-m", "gateway.cli", "sandbox", "ap", "--port", "0", "--secret", "s3cret", "--api-key", "k"]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        banner = process.stdout.readline()
        exports = dict(process.stdout.readline().removeprefix("export ").strip().split("=", 1) for _ in range(3))
        assert banner.startswith("Sandbox Peppol access point on http://127.0.0.1:") and banner.endswith("calling back http://127.0.0.1:9/v1/callbacks/peppol-ap\n")
        assert (exports["GATEWAY_PEPPOL_AP_API_KEY"], exports["GATEWAY_PEPPOL_AP_CALLBACK_SECRET"]) == ("k", "s3cret")
        base = exports["GATEWAY_PEPPOL_AP_BASE_URL"]
        headers = {"Authorization": "Bearer k", "Idempotency-Key": "key-1", "X-Sender": "0208:0207451227", "X-Receiver": "0208:0403019261", "X-Document-Type": "invoice"}
        body = (shared_standards / INVOICE).read_bytes()
        first = requests.post(f"{base}/documents", data=body, headers=headers, timeout=10)
        again = requests.post(f"{base}/documents", data=body, headers=headers, timeout=10)
        assert (first.status_code, again.status_code, again.json()["id"]) == (202, 202, first.json()["id"])
        assert requests.post(f"{base}/documents", data=body, headers={**headers, "Authorization": "Bearer wrong"}, timeout=10).status_code == 401
        status = requests.get(f"{base}/documents/{first.json()['id']}", headers={"Authorization": "Bearer k"}, timeout=10).json()
        assert (status["id"], status["receiver"]) == (first.json()["id"], "0208:0403019261")
        assert requests.get(f"{base}/documents/nope", headers={"Authorization": "Bearer k"}, timeout=10).status_code == 404
    finally:
        process.terminate()
        process.wait(timeout=10)
