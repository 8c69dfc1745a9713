#!/usr/bin/python3
"""Replays MLflow's HttpArtifactRepository traffic against a server.

usage: mlflow_replay.py BASE_URL RUN_ARTIFACT_PREFIX SRC_DIR DST_DIR

Uploads SRC_DIR under <prefix>/models_mlflow the way log_model does (one
PUT per file, os.walk order, MLflow's headers and MIME guesses), then
downloads the whole folder the way download_artifacts does (list the
path, then each file, in a thread pool), checking the listing contract.
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


# Multipart: the server does not take part URLs here, so the client must
# recognise the refusal and fall back to a plain PUT.
r = session.post(api + "/mpu/create/" + urllib.parse.quote(posixpath.join(prefix, "models_mlflow")),
                 json={"path": os.path.join(src, "model.xgb"), "num_parts": 2}, headers=headers)
if r.status_code != 200:
    assert r.json()["message"].startswith("Multipart upload is not supported"), r.text

for root, _, files in os.walk(src):
    for name in files:
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
