"""A real S3-compatible server on loopback for the remote-cache and upload tests.

moto in server mode (``moto[server]`` from PyPI) on 127.0.0.1, with request
signing **enforced**: after the set-up below the server checks every request's
SigV4 signature against the IAM user or the STS session that signed it, and
the IAM policies (so a read-only identity cannot write).  moto does not check
query-string (presigned) signatures; presigned URLs are tested with the server
switched back to accepting any request (:meth:`ObjectStore.open_access`).
"""

from __future__ import annotations

import json
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

REGION = "us-east-1"
BUCKET = "fcslim-ci"
ACCOUNT = "123456789012"


@dataclass
class Identity:
    access_key: str
    secret_key: str
    token: str | None = None

    def env(self, endpoint: str) -> dict[str, str]:
        env = {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
               "AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}
        if self.token:
            env["AWS_SESSION_TOKEN"] = self.token
        return env


@dataclass
class ObjectStore:
    endpoint: str
    bucket: str
    writer: Identity  # may read and write the bucket
    reader: Identity  # may only read
    server: object

    def client(self, identity: Identity | None = None):
        import boto3

        who = identity or self.writer
        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id=who.access_key,
                            aws_secret_access_key=who.secret_key, aws_session_token=who.token)

    def assume_function_role(self) -> Identity:
        """Temporary credentials of the 'function' role (read-only), as FC or Lambda hand them over."""
        import boto3

        sts = boto3.client("sts", endpoint_url=self.endpoint, region_name=REGION,
                           aws_access_key_id=self.writer.access_key, aws_secret_access_key=self.writer.secret_key)
        creds = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/fcslim-function",
                                RoleSessionName="fcslim-test")["Credentials"]
        return Identity(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])

    def _set_auth(self, initial_free_requests: str) -> None:
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset-auth", data=initial_free_requests.encode(),
                                         method="POST", headers={"Content-Type": "text/plain"})
        urllib.request.urlopen(request, timeout=10).read()

    @contextmanager
    def open_access(self) -> Iterator[None]:
        """Accept unsigned and query-signed requests for the block (moto cannot check presigned URLs)."""
        self._set_auth("inf")
        try:
            yield
        finally:
            self._set_auth("0")


def _policy(actions: list[str]) -> str:
    return json.dumps({"Version": "2012-10-17",
                       "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]})


def start_object_store() -> ObjectStore:
    """Start moto on a free loopback port with a bucket, a writer, a reader and a function role."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    anyone = {"endpoint_url": endpoint, "region_name": REGION, "aws_access_key_id": "setup",
              "aws_secret_access_key": "setup"}
    iam = boto3.client("iam", **anyone)
    identities = {}
    for user, actions in (("writer", ["s3:*", "sts:AssumeRole"]), ("reader", ["s3:GetObject", "s3:ListBucket"])):
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName=user, PolicyDocument=_policy(actions))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        identities[user] = Identity(key["AccessKeyId"], key["SecretAccessKey"])
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]})
    iam.create_role(RoleName="fcslim-function", AssumeRolePolicyDocument=trust)
    iam.put_role_policy(RoleName="fcslim-function", PolicyName="read", PolicyDocument=_policy(["s3:GetObject"]))
    boto3.client("s3", **anyone).create_bucket(Bucket=BUCKET)
    store = ObjectStore(endpoint, BUCKET, identities["writer"], identities["reader"], server)
    store._set_auth("0")  # from here on every request must carry a valid signature
    return store
