"""Drive cairn the way MLflow's S3 artifact repository does, with boto3.

Usage: boto3_flow.py ENDPOINT BUCKET PREFIX DOWNLOAD_DIR FILE...

Creates BUCKET, uploads each FILE under PREFIX with upload_file (s3transfer
defaults: multipart from 8 MiB), heads each one (its BLAKE3
digest is in the x-cairn-blake3 header), downloads it with download_file
(ranged parallel GETs from 8 MiB), and lists PREFIX with the
ListObjectsV2 paginator and Delimiter='/', as list_artifacts does. Prints
one JSON document describing what it saw.
"""
import json
import os
import sys

import boto3
from botocore.config import Config

endpoint, bucket, prefix, download_dir = sys.argv[1:5]
files = sys.argv[5:]
s3 = boto3.client(
    "s3",
    endpoint_url=endpoint,
    config=Config(signature_version="s3v4", s3={"addressing_style": "auto"}, retries={"max_attempts": 1}),
)
ranges = []
s3.meta.events.register(
    "before-send.s3.GetObject",
    lambda request, **kw: ranges.append(request.headers.get("Range")),
)
s3.create_bucket(Bucket=bucket)
out = {"objects": {}, "ranged_gets": 0}
for path in files:
    key = prefix + os.path.basename(path)
    s3.upload_file(path, bucket, key)
    head = s3.head_object(Bucket=bucket, Key=key)
    ranges.clear()
    dst = os.path.join(download_dir, os.path.basename(path))
    s3.download_file(bucket, key, dst)
    out["ranged_gets"] += sum(1 for r in ranges if r)
    out["objects"][key] = {
        "etag": head["ETag"],
        "size": head["ContentLength"],
        # cairn's own header, never among the user metadata.
        "blake3": head["ResponseMetadata"]["HTTPHeaders"].get("x-cairn-blake3"),
        "metadata": head["Metadata"],
        "downloaded": dst,
    }
# list_artifacts: the paginator, one level at a time, two entries a page.
paginator = s3.get_paginator("list_objects_v2")
keys, prefixes = [], []
root = prefix.rsplit("/", 2)[0] + "/"
for page in paginator.paginate(Bucket=bucket, Prefix=root, Delimiter="/", PaginationConfig={"PageSize": 2}):
    keys += [o["Key"] for o in page.get("Contents", [])]
    prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
out["listing"] = {"root": root, "keys": keys, "prefixes": prefixes}
try:
    s3.head_object(Bucket=bucket, Key=prefix + "missing")
    out["missing"] = "found"
except s3.exceptions.ClientError as e:
    out["missing"] = e.response["Error"]["Code"]
print(json.dumps(out))
