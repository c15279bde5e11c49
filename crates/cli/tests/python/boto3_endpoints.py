"""Drives a running `ownstak local up` with boto3, the official AWS SDK for
Python: the Lambda API (ListFunctions) and the S3 endpoint (PutObject,
GetObject), with whatever credentials the environment gives boto3.

Usage: python boto3_endpoints.py LAMBDA_URL S3_URL BUCKET

Prints one JSON object: for each call its result, or {"error": CODE,
"message": …} when the service refused it. Run by ../it/endpoint_security.rs.
"""

import json
import sys

import boto3
import botocore.exceptions
from botocore.config import Config

lambda_url, s3_url, bucket = sys.argv[1:4]
result = {}


def attempt(name, call):
    try:
        result[name] = call()
    except botocore.exceptions.ClientError as e:
        error = e.response.get("Error", {})
        result[name] = {"error": error.get("Code"), "message": error.get("Message", "")}


lam = boto3.client("lambda", endpoint_url=lambda_url, region_name="us-east-1")
s3 = boto3.client(
    "s3", endpoint_url=s3_url, region_name="us-east-1", config=Config(s3={"addressing_style": "path"})
)
attempt("functions", lambda: sorted(f["FunctionName"] for f in lam.list_functions()["Functions"]))
attempt(
    "put",
    lambda: s3.put_object(Bucket=bucket, Key="boto3/hello.txt", Body=b"hello from boto3")["ResponseMetadata"][
        "HTTPStatusCode"
    ],
)
attempt("get", lambda: s3.get_object(Bucket=bucket, Key="boto3/hello.txt")["Body"].read().decode())
print(json.dumps(result))
