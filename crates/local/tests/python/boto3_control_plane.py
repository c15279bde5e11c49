"""Drives the local Lambda service's control plane and Invoke with boto3,
the official AWS SDK for Python, as an unmodified foreign client.

Usage: python boto3_control_plane.py http://127.0.0.1:PORT

The function it creates runs its handler with awslambdaric (the official
Python runtime interface client) through a `bootstrap` that execs this very
interpreter. Exits non-zero with an AssertionError on the first mismatch and
prints one summary line on success. Run by ../python_clients.rs.
"""

import base64
import hashlib
import io
import json
import sys
import zipfile

import boto3
from botocore.config import Config

ROLE = "arn:aws:iam::000000000000:role/x"
ARN = "arn:aws:lambda:us-east-1:000000000000:function:"
NAME = "py-cp"

CHECKS = 0

HANDLER = """\
import json
import os


def handler(event, context):
    return {
        "code": "%s",
        "echo": event,
        "stage": os.environ.get("STAGE"),
        "greeting": os.environ.get("GREETING"),
        "function": context.function_name,
        "version": context.function_version,
        "arn": context.invoked_function_arn,
    }
"""


def check(cond, message):
    global CHECKS
    assert cond, message
    CHECKS += 1


def package(tag):
    """A zip with `handler.py` (answering `code: tag`) and an awslambdaric bootstrap."""
    bootstrap = '#!/bin/sh\nexec "%s" -m awslambdaric "$_HANDLER"\n' % sys.executable
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo("bootstrap")
        info.create_system = 3
        info.external_attr = (0o100755 << 16)
        z.writestr(info, bootstrap)
        info = zipfile.ZipInfo("handler.py")
        info.create_system = 3
        info.external_attr = (0o100644 << 16)
        z.writestr(info, HANDLER % tag)
    return buf.getvalue()


def sha256_b64(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def raises(client, exc_name, call, **kwargs):
    """Asserts that `call(**kwargs)` raises the modeled boto3 exception `exc_name`."""
    exc = getattr(client.exceptions, exc_name)
    try:
        call(**kwargs)
    except exc as e:
        check(e.response["Error"]["Code"] == exc_name, "error code of %s: %r" % (exc_name, e.response["Error"]))
        check(e.response["Error"].get("Message"), "%s carries a message: %r" % (exc_name, e.response))
        return e
    except Exception as e:  # noqa: BLE001 - report what came instead
        raise AssertionError("%s(%r) raised %r, expected %s" % (call.__name__, kwargs, e, exc_name)) from e
    raise AssertionError("%s(%r) succeeded, expected %s" % (call.__name__, kwargs, exc_name))


def invoke(client, **kwargs):
    out = client.invoke(**kwargs)
    payload = json.loads(out["Payload"].read())
    return out, payload


def main(endpoint):
    client = boto3.client(
        "lambda",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        # One attempt: an error must show up as itself, not as a retried success.
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=60),
    )
    zip1, zip2 = package("v1"), package("v2")

    # CreateFunction.
    created = client.create_function(
        FunctionName=NAME,
        Runtime="provided.al2023",
        Role=ROLE,
        Handler="handler.handler",
        Code={"ZipFile": zip1},
        Timeout=10,
        MemorySize=256,
        Environment={"Variables": {"STAGE": "one"}},
    )
    check(created["ResponseMetadata"]["HTTPStatusCode"] == 201, "CreateFunction answers 201: %r" % created["ResponseMetadata"])
    check(created["FunctionName"] == NAME, created)
    check(created["FunctionArn"] == ARN + NAME, created)
    check(created["Version"] == "$LATEST", created)
    check(created["Runtime"] == "provided.al2023", created)
    check(created["Handler"] == "handler.handler", created)
    check(created["Role"] == ROLE, created)
    check(created["CodeSha256"] == sha256_b64(zip1), "CodeSha256 %r" % created.get("CodeSha256"))
    check(created["CodeSize"] == len(zip1), "CodeSize %r" % created.get("CodeSize"))
    check((created["Timeout"], created["MemorySize"]) == (10, 256), created)
    check(created["Environment"]["Variables"] == {"STAGE": "one"}, created)
    check(created["State"] == "Active", created)
    rev_created = created["RevisionId"]
    check(rev_created, "a RevisionId")

    # Errors of CreateFunction.
    raises(client, "ResourceConflictException", client.create_function, FunctionName=NAME, Runtime="provided.al2023", Role=ROLE, Handler="h", Code={"ZipFile": zip1})
    raises(client, "InvalidParameterValueException", client.create_function, FunctionName="bad-role", Runtime="provided.al2023", Role="not-a-role", Handler="h", Code={"ZipFile": zip1})
    raises(client, "InvalidParameterValueException", client.create_function, FunctionName="bad-timeout", Runtime="provided.al2023", Role=ROLE, Handler="h", Code={"ZipFile": zip1}, Timeout=901)
    raises(client, "InvalidParameterValueException", client.create_function, FunctionName="bad-zip", Runtime="provided.al2023", Role=ROLE, Handler="h", Code={"ZipFile": b"not a zip"})

    # GetFunction.
    got = client.get_function(FunctionName=NAME)
    check(got["Configuration"]["RevisionId"] == rev_created, got)
    check(got["Configuration"]["CodeSha256"] == sha256_b64(zip1), got)
    check(got["Configuration"]["Environment"]["Variables"] == {"STAGE": "one"}, got)
    check(client.get_function(FunctionName=ARN + NAME)["Configuration"]["FunctionName"] == NAME, "GetFunction by ARN")
    raises(client, "ResourceNotFoundException", client.get_function, FunctionName="no-such-function")
    raises(client, "ResourceNotFoundException", client.get_function, FunctionName=NAME, Qualifier="7")

    # UpdateFunctionConfiguration replaces the environment.
    conf = client.update_function_configuration(FunctionName=NAME, Environment={"Variables": {"STAGE": "two", "GREETING": "hello"}})
    check(conf["Environment"]["Variables"] == {"STAGE": "two", "GREETING": "hello"}, conf)
    check(conf["CodeSha256"] == sha256_b64(zip1), conf)
    rev_conf = conf["RevisionId"]
    check(rev_conf != rev_created, "UpdateFunctionConfiguration changes the RevisionId")
    raises(client, "PreconditionFailedException", client.update_function_configuration, FunctionName=NAME, RevisionId=rev_created, Timeout=20)
    raises(client, "ResourceNotFoundException", client.update_function_configuration, FunctionName="no-such-function", Timeout=20)

    # PublishVersion with failed and met preconditions.
    raises(client, "PreconditionFailedException", client.publish_version, FunctionName=NAME, RevisionId=rev_created)
    raises(client, "PreconditionFailedException", client.publish_version, FunctionName=NAME, CodeSha256=sha256_b64(zip2))
    v1 = client.publish_version(FunctionName=NAME, RevisionId=rev_conf, CodeSha256=sha256_b64(zip1), Description="first")
    check(v1["ResponseMetadata"]["HTTPStatusCode"] == 201, v1["ResponseMetadata"])
    check(v1["Version"] == "1", v1)
    check(v1["FunctionArn"] == ARN + NAME + ":1", v1)
    check(v1["Description"] == "first", v1)
    check(v1["Environment"]["Variables"] == {"STAGE": "two", "GREETING": "hello"}, v1)
    # Versions are immutable.
    raises(client, "InvalidParameterValueException", client.update_function_configuration, FunctionName=NAME + ":1", Timeout=20)

    # CreateAlias, GetAlias, ListAliases.
    alias = client.create_alias(FunctionName=NAME, Name="live", FunctionVersion="1")
    check(alias["ResponseMetadata"]["HTTPStatusCode"] == 201, alias["ResponseMetadata"])
    check(alias["AliasArn"] == ARN + NAME + ":live", alias)
    check((alias["Name"], alias["FunctionVersion"]) == ("live", "1"), alias)
    raises(client, "ResourceConflictException", client.create_alias, FunctionName=NAME, Name="live", FunctionVersion="1")
    raises(client, "ResourceNotFoundException", client.create_alias, FunctionName=NAME, Name="future", FunctionVersion="9")
    raises(client, "InvalidParameterValueException", client.create_alias, FunctionName=NAME, Name="123", FunctionVersion="1")
    raises(client, "ResourceNotFoundException", client.create_alias, FunctionName="no-such-function", Name="live", FunctionVersion="1")
    check(client.get_alias(FunctionName=NAME, Name="live")["RevisionId"] == alias["RevisionId"], "GetAlias")
    raises(client, "ResourceNotFoundException", client.get_alias, FunctionName=NAME, Name="dead")
    aliases = [(a["Name"], a["FunctionVersion"]) for a in client.list_aliases(FunctionName=NAME)["Aliases"]]
    check(aliases == [("live", "1")], "ListAliases: %r" % aliases)

    # ListVersionsByFunction, also through boto3's paginator one item a page.
    versions = [v["Version"] for v in client.list_versions_by_function(FunctionName=NAME)["Versions"]]
    check(versions == ["$LATEST", "1"], "ListVersionsByFunction: %r" % versions)
    pages = list(client.get_paginator("list_versions_by_function").paginate(FunctionName=NAME, PaginationConfig={"PageSize": 1}))
    check([[v["Version"] for v in p["Versions"]] for p in pages] == [["$LATEST"], ["1"]], "paged versions: %r" % pages)

    # Invoke through the alias: the handler sees the event, the published
    # environment and the alias-qualified ARN.
    event = {"hello": "world", "n": [1, 2, 3]}
    out, body = invoke(client, FunctionName=NAME, Qualifier="live", Payload=json.dumps(event).encode())
    check(out["StatusCode"] == 200, out)
    check("FunctionError" not in out, "no FunctionError: %r %r" % (out, body))
    check(out["ExecutedVersion"] == "1", out)
    expected = {"code": "v1", "echo": event, "stage": "two", "greeting": "hello", "function": NAME, "version": "1", "arn": ARN + NAME + ":live"}
    check(body == expected, "invoke via alias: %r != %r" % (body, expected))
    raises(client, "ResourceNotFoundException", client.invoke, FunctionName=NAME, Qualifier="dead", Payload=b"{}")
    raises(client, "ResourceNotFoundException", client.invoke, FunctionName="no-such-function", Payload=b"{}")
    raises(client, "InvalidParameterValueException", client.invoke, FunctionName=NAME, Payload=b"{not json")

    # UpdateFunctionCode with Publish: version 2; publishing again changes nothing.
    raises(client, "PreconditionFailedException", client.update_function_code, FunctionName=NAME, ZipFile=zip2, RevisionId=rev_created)
    v2 = client.update_function_code(FunctionName=NAME, ZipFile=zip2, Publish=True)
    check(v2["Version"] == "2", v2)
    check(v2["CodeSha256"] == sha256_b64(zip2), v2)
    check(v2["Environment"]["Variables"] == {"STAGE": "two", "GREETING": "hello"}, v2)
    again = client.publish_version(FunctionName=NAME)
    check(again["Version"] == "2", "an unchanged $LATEST publishes no new version: %r" % again)
    versions = [v["Version"] for v in client.list_versions_by_function(FunctionName=NAME)["Versions"]]
    check(versions == ["$LATEST", "1", "2"], "ListVersionsByFunction: %r" % versions)

    # UpdateAlias with a stale and then the current RevisionId.
    raises(client, "PreconditionFailedException", client.update_alias, FunctionName=NAME, Name="live", FunctionVersion="2", RevisionId="not-the-revision")
    raises(client, "ResourceNotFoundException", client.update_alias, FunctionName=NAME, Name="live", FunctionVersion="3")
    moved = client.update_alias(FunctionName=NAME, Name="live", FunctionVersion="2", RevisionId=alias["RevisionId"])
    check(moved["FunctionVersion"] == "2", moved)
    check(moved["RevisionId"] != alias["RevisionId"], "UpdateAlias changes the RevisionId")
    aliases = [(a["Name"], a["FunctionVersion"]) for a in client.list_aliases(FunctionName=NAME)["Aliases"]]
    check(aliases == [("live", "2")], "ListAliases after UpdateAlias: %r" % aliases)

    # The alias now runs the new code; version 1 still runs the old one.
    out, body = invoke(client, FunctionName=NAME, Qualifier="live", Payload=b'{"x": 1}')
    check((out["StatusCode"], out.get("FunctionError"), out["ExecutedVersion"]) == (200, None, "2"), out)
    check((body["code"], body["version"], body["echo"], body["arn"]) == ("v2", "2", {"x": 1}, ARN + NAME + ":live"), body)
    out, body = invoke(client, FunctionName=NAME + ":1", Payload=b'{"x": 2}')
    check((out["ExecutedVersion"], body["code"], body["version"], body["arn"]) == ("1", "v1", "1", ARN + NAME + ":1"), (out, body))

    # A version an alias points at cannot be deleted; the alias can.
    raises(client, "ResourceConflictException", client.delete_function, FunctionName=NAME, Qualifier="2")
    client.delete_alias(FunctionName=NAME, Name="live")
    raises(client, "ResourceNotFoundException", client.get_alias, FunctionName=NAME, Name="live")
    client.delete_function(FunctionName=NAME)
    raises(client, "ResourceNotFoundException", client.get_function, FunctionName=NAME)

    print("boto3 control plane: %d checks passed" % CHECKS)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: boto3_control_plane.py ENDPOINT_URL")
    main(sys.argv[1])
