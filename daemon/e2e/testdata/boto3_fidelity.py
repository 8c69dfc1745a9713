"""Check with boto3 what S3 answers and cairn must answer alike.

Usage: boto3_fidelity.py ENDPOINT BUCKET

- User metadata sent RFC 2047-encoded comes back as AWS sends it: a
  non-ASCII value as an encoded-word, which botocore does not decode and
  email.header does; a value that is ASCII once decoded comes back
  decoded. Raw UTF-8 forced into the header with an event hook (as ceph's
  test_object_set_get_unicode_metadata does) comes back the same way.
- Listings with a newline in the prefix: botocore asks for
  encoding-type=url and decodes what S3 encodes (not V1's Prefix, as
  against AWS); ListMultipartUploads is decoded here with unquote_plus.
- A PUT to a presigned URL with a body of unknown length goes out with
  Transfer-Encoding: chunked and no Content-Length.

Prints one JSON document of what boto3 saw; the Go test judges it.
"""
import email.header
import hashlib
import http.client
import json
import sys
import urllib.parse

import boto3
from botocore.config import Config

endpoint, bucket = sys.argv[1:3]
s3 = boto3.client(
    "s3",
    endpoint_url=endpoint,
    config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
)
s3.create_bucket(Bucket=bucket)
out = {}


def decoded(value):
    return str(email.header.make_header(email.header.decode_header(value)))


# Metadata.
s3.put_object(Bucket=bucket, Key="meta/encoded", Body=b"x",
              Metadata={"greeting": "=?UTF-8?Q?Hello_World=C3=A9?=", "ascii": "=?UTF-8?B?YWJj?="})


def raw_meta(params, **kwargs):
    params["headers"]["x-amz-meta-meta1"] = "Hello World\xe9"


s3.meta.events.register("before-call.s3.PutObject", raw_meta)
s3.put_object(Bucket=bucket, Key="meta/raw", Body=b"x")
s3.meta.events.unregister("before-call.s3.PutObject", raw_meta)
enc = s3.head_object(Bucket=bucket, Key="meta/encoded")["Metadata"]
raw = s3.get_object(Bucket=bucket, Key="meta/raw")["Metadata"]
out["metadata"] = {
    "greeting": enc.get("greeting"), "greeting_decoded": decoded(enc.get("greeting", "")),
    "ascii": enc.get("ascii"),
    "raw": raw.get("meta1"), "raw_decoded": decoded(raw.get("meta1", "")),
}

# Listings.
for key in ["nl\nkey", "nl\nsub/a b", "nl\nsub/c+d", "nl\n\u00e9/x"]:
    s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
v2 = s3.list_objects_v2(Bucket=bucket, Prefix="nl\n", Delimiter="/", StartAfter="nl\n")
v1 = s3.list_objects(Bucket=bucket, Prefix="nl\n", Delimiter="/", Marker="nl\n", MaxKeys=2)
versions = s3.list_object_versions(Bucket=bucket, Prefix="nl\nsub/", KeyMarker="nl\nsub/a b")
upload = s3.create_multipart_upload(Bucket=bucket, Key="nl\nup load+1")["UploadId"]
uploads = s3.list_multipart_uploads(Bucket=bucket, Prefix="nl\n", EncodingType="url")
out["v2"] = {
    "prefix": v2.get("Prefix"), "delimiter": v2.get("Delimiter"), "start_after": v2.get("StartAfter"),
    "keys": [o["Key"] for o in v2.get("Contents", [])],
    "prefixes": [p["Prefix"] for p in v2.get("CommonPrefixes", [])],
}
out["v1"] = {
    "prefix": v1.get("Prefix"), "marker": v1.get("Marker"), "next_marker": v1.get("NextMarker"),
    "keys": [o["Key"] for o in v1.get("Contents", [])],
    "prefixes": [p["Prefix"] for p in v1.get("CommonPrefixes", [])],
}
out["versions"] = {
    "prefix": versions.get("Prefix"), "key_marker": versions.get("KeyMarker"),
    "keys": [v["Key"] for v in versions.get("Versions", [])],
}
out["uploads"] = {
    "prefix": urllib.parse.unquote_plus(uploads.get("Prefix", "")),
    "keys": [urllib.parse.unquote_plus(u["Key"]) for u in uploads.get("Uploads", [])],
}
s3.abort_multipart_upload(Bucket=bucket, Key="nl\nup load+1", UploadId=upload)
try:
    s3.list_objects_v2(Bucket=bucket, EncodingType="")
    out["empty_encoding_type"] = "accepted"
except s3.exceptions.ClientError as e:
    out["empty_encoding_type"] = e.response["Error"]["Code"]

# A PUT with a body of unknown length, to a presigned URL.
url = urllib.parse.urlsplit(s3.generate_presigned_url(
    "put_object", Params={"Bucket": bucket, "Key": "chunked/obj"}, ExpiresIn=300))
piece = bytes(range(256)) * 256
sent = hashlib.sha256()


def body():
    for i in range(40):
        chunk = piece[i:] + piece[:i]
        sent.update(chunk)
        yield chunk


conn = http.client.HTTPConnection(url.hostname, url.port)
conn.request("PUT", url.path + "?" + url.query, body=body())
resp = conn.getresponse()
answer = resp.read()
conn.close()
try:
    got = s3.get_object(Bucket=bucket, Key="chunked/obj")["Body"].read()
except s3.exceptions.ClientError:
    got = b""
out["chunked"] = {
    "status": resp.status, "answer": answer.decode(errors="replace"), "etag": resp.getheader("ETag"),
    "sent_sha256": sent.hexdigest(), "got_sha256": hashlib.sha256(got).hexdigest(),
    "got_md5": hashlib.md5(got).hexdigest(),
}
print(json.dumps(out))
