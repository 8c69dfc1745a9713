#!/usr/bin/python3
"""Replays MLflow's HttpArtifactRepository traffic against a server.

usage: mlflow_replay.py BASE_URL RUN_ARTIFACT_PREFIX SRC_DIR DST_DIR

Uploads SRC_DIR under <prefix>/models_mlflow the way log_model does (one
PUT per file, os.walk order, MLflow's headers and MIME guesses), then
downloads the whole folder the way download_artifacts does (list the
path, then each file, in a thread pool), checking the listing contract.

Credentials come from the environment as MLflow takes them:
MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (HTTP Basic), or
MLFLOW_TRACKING_TOKEN (bearer). REPLAY_MODE is "both" (the default),
"load" (download what an earlier run logged) or "refused" (the first
upload must be refused with 403 PERMISSION_DENIED, and nothing else is
sent).
"""
import concurrent.futures
import mimetypes
import os
import posixpath
import sys
import urllib.parse

import requests

base, prefix, src, dst = sys.argv[1:5]
api = base + "/api/2.0/mlflow-artifacts"
headers = {"User-Agent": "mlflow-python-client/2.22.1", "Accept-Encoding": "gzip, deflate, br"}
session = requests.Session()
if os.environ.get("MLFLOW_TRACKING_USERNAME"):
    session.auth = (os.environ["MLFLOW_TRACKING_USERNAME"], os.environ.get("MLFLOW_TRACKING_PASSWORD", ""))
elif os.environ.get("MLFLOW_TRACKING_TOKEN"):
    headers["Authorization"] = "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"]
mode = os.environ.get("REPLAY_MODE", "both")


def guess_type(name):
    # MLflow's own guess: text/plain for MLmodel and the env files.
    if name == "MLmodel" or name.endswith((".yaml", ".txt")):
        return "text/plain"
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def upload(local, rel):
    url = api + "/artifacts/" + urllib.parse.quote(posixpath.join(prefix, rel))
    with open(local, "rb") as f:
        data = f.read()
    r = session.put(url, data=data, headers={**headers, "Content-Type": guess_type(os.path.basename(local))})
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.json() == {}, r.text


def multipart(local, rel_dir, part_size):
    """What MLflow does with MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD=true."""
    size = os.path.getsize(local)
    num_parts = (size + part_size - 1) // part_size
    where = urllib.parse.quote(posixpath.join(prefix, rel_dir))
    r = session.post(api + "/mpu/create/" + where, json={"path": local, "num_parts": num_parts}, headers=headers)
    assert r.status_code == 200, (r.status_code, r.text)
    created = r.json()
    creds = created["credentials"]
    assert len(creds) == num_parts and all(c["url"].startswith("http") for c in creds), created

    def send(cred):
        with open(local, "rb") as f:
            f.seek((cred["part_number"] - 1) * part_size)
            data = f.read(part_size)
        # Parts go out as plain requests: no MLflow credentials.
        resp = requests.put(cred["url"], data=data, headers=cred.get("headers", {}))
        assert resp.status_code == 200, (resp.status_code, resp.text)
        return {"part_number": cred["part_number"], "etag": resp.headers["ETag"], "url": cred["url"]}

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        parts = list(pool.map(send, creds))
    r = session.post(api + "/mpu/complete/" + where,
                     json={"path": local, "upload_id": created["upload_id"], "parts": parts}, headers=headers)
    assert r.status_code == 200, (r.status_code, r.text)
    # A second upload that the client gives up on.
    r = session.post(api + "/mpu/create/" + where, json={"path": local, "num_parts": 1}, headers=headers)
    assert r.status_code == 200, r.text
    r = session.post(api + "/mpu/abort/" + where, json={"path": local, "upload_id": r.json()["upload_id"]}, headers=headers)
    assert r.status_code == 200, (r.status_code, r.text)


if mode == "refused":
    url = api + "/artifacts/" + urllib.parse.quote(posixpath.join(prefix, "models_mlflow", "MLmodel"))
    r = session.put(url, data=b"refused", headers={**headers, "Content-Type": "text/plain"})
    assert r.status_code == 403 and r.json()["error_code"] == "PERMISSION_DENIED", (r.status_code, r.text)
    print("upload refused")
    sys.exit(0)
if mode == "both":
    big = os.path.join(src, "booster.big")
    multipart(big, "models_mlflow", 5 * 1024 * 1024)
    for root, _, files in os.walk(src):
        for name in files:
            if name == "booster.big":
                continue
            rel = posixpath.join("models_mlflow", os.path.relpath(os.path.join(root, name), src))
            upload(os.path.join(root, name), rel)


def list_dir(path):
    r = session.get(api + "/artifacts", params={"path": path}, headers=headers)
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json().get("files", [])


def download(path, local):
    # The client lists the path itself before each download; a file lists
    # as empty.
    assert list_dir(path) == [], "a file must list as {}"
    r = session.get(api + "/artifacts/" + urllib.parse.quote(path), headers=headers, stream=True)
    assert r.status_code == 200, (r.status_code, r.text)
    assert "zstd" not in r.headers.get("Content-Encoding", "")
    os.makedirs(os.path.dirname(local), exist_ok=True)
    with open(local, "wb") as f:
        for chunk in r.iter_content(1 << 16):
            f.write(chunk)


entries = list_dir(posixpath.join(prefix, "models_mlflow"))
assert entries, "the model folder lists as empty"
for e in entries:
    assert ".." not in e["path"] and not e["path"].startswith("/"), e
    assert e["is_dir"] or "file_size" in e, e
jobs = []
with concurrent.futures.ThreadPoolExecutor(max_workers=min(20, 2 * os.cpu_count())) as pool:
    for e in entries:
        rel = posixpath.join("models_mlflow", e["path"])
        jobs.append(pool.submit(download, posixpath.join(prefix, rel), os.path.join(dst, rel)))
for j in jobs:
    j.result()

r = session.get(api + "/artifacts/" + urllib.parse.quote(posixpath.join(prefix, "nope.txt")), headers=headers)
assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST", r.text
print("replayed", len(entries), "files")
