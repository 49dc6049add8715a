"""moto's server, in this process, with IAM enforcement on and the gaps to AWS closed.

`MotoServer` starts `ThreadedMotoServer` on a free localhost port and, for its lifetime:
- resets moto (its backends are process-wide: the in-process moto of other tests shares them);
- puts the harness's IAM decision in moto's place (`loop.iam`) and switches enforcement on
  (`/moto-api/reset-auth`), then creates the admin in the three unauthenticated actions;
- serializes moto's DynamoDB item operations. moto applies a conditional write as "check, then
  write" with no lock, and its server answers each request on its own thread; DynamoDB applies
  each conditional write to an item atomically. Measured here (20 concurrent conditional
  PutItems of one new item over HTTP, 100 rounds): no round with two winners at Python's default
  thread switch interval, 2 rounds with two winners at a 1 microsecond interval, none with the
  lock. The race is rare, not absent; the lock gives moto the service's guarantee, so a burst
  tests the trigger, not moto (as tests/retrain_trigger does in process);
- answers injected faults (throttling, 5xx) in moto's place, after authorization and below the
  client's retries: every attempt of the client reaches the server and is counted.
Everything is undone on `close()`.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, Final

import boto3
import requests
from moto.dynamodb.models import DynamoDBBackend
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.s3.exceptions import MissingBucket
from moto.s3.models import s3_backends
from moto.sagemaker.models import sagemaker_backends
from moto.server import ThreadedMotoServer
from moto.sns.models import sns_backends
from werkzeug.serving import make_server

from loop.iam import Enforcement, KeyLookups, install_enforcement

ADMIN: Final = "loop-admin"
ADMIN_POLICY: Final = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)
UNAUTHENTICATED_ACTIONS: Final = 3
"""CreateUser, PutUserPolicy and CreateAccessKey of the admin; everything after is signed."""
ITEM_OPERATIONS: Final = ("put_item", "update_item", "delete_item", "get_item")
TIMEOUT: Final = 10


@contextmanager
def _serialized_dynamodb() -> Iterator[None]:
    lock = threading.RLock()
    originals = {name: getattr(DynamoDBBackend, name) for name in ITEM_OPERATIONS}

    def locked(original: Callable[..., Any]) -> Callable[..., Any]:
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            with lock:
                return original(self, *args, **kwargs)

        return call

    for name, original in originals.items():
        setattr(DynamoDBBackend, name, locked(original))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(DynamoDBBackend, name, original)


class _Server(ThreadedMotoServer):
    """`ThreadedMotoServer` polling for shutdown every 10 ms instead of werkzeug's 500 ms."""

    def _server_entry(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever(poll_interval=0.01)


@functools.cache
def _session() -> boto3.session.Session:
    """One boto3 session for every server of the process: a session loads botocore's data files
    for each client it makes the first time (~0.1 s a service), then keeps them."""
    return boto3.session.Session()


def create_bucket(
    s3: Any, bucket: str, region: str, encryption_rules: list[dict[str, Any]] | None = None
) -> None:
    """The bucket in `region`, with the default encryption the plan declares for it (the
    `rules` input of its BucketServerSideEncryptionConfiguration, as registered)."""
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    if not encryption_rules:
        return
    rules = []
    for rule in encryption_rules:
        default = rule["applyServerSideEncryptionByDefault"]
        key = default.get("kmsMasterKeyId")
        rules.append(
            {
                "ApplyServerSideEncryptionByDefault": {
                    "SSEAlgorithm": default["sseAlgorithm"],
                    **({"KMSMasterKeyID": key} if key else {}),
                },
                "BucketKeyEnabled": bool(rule.get("bucketKeyEnabled", False)),
            }
        )
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": rules})


def _truthy(value: Any) -> bool:
    return str(value).lower() == "true"


class MotoServer:
    """moto's server with IAM on; `client()` gives the admin's clients."""

    def __init__(
        self, account: str, region: str, partition: str = "aws", *, serialize_dynamodb: bool = True
    ) -> None:
        self.account = account
        self.region = region
        self.partition = partition
        self.enforcement = Enforcement(
            KeyLookups(
                object_key=self._object_key,
                bucket_default_key=self._bucket_default_key,
                topic_key=self._topic_key,
            )
        )
        self._serialize = serialize_dynamodb
        self._stack = ExitStack()
        self._server: ThreadedMotoServer | None = None
        self.url = ""
        self.admin: dict[str, str] = {}
        self._session = _session()
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()

    # ---- lifecycle -------------------------------------------------------------------------------

    def start(self) -> MotoServer:
        try:
            werkzeug = logging.getLogger("werkzeug")
            level = werkzeug.level
            werkzeug.setLevel(logging.ERROR)
            self._stack.callback(werkzeug.setLevel, level)
            self._stack.enter_context(install_enforcement(self.enforcement))
            if self._serialize:
                self._stack.enter_context(_serialized_dynamodb())
            server = _Server(ip_address="127.0.0.1", port=0, verbose=False)
            server.start()
            self._server = server
            host, port = server.get_host_and_port()
            self.url = f"http://{host}:{port}"
            self._stack.callback(server.stop)
            self._post("/moto-api/reset")
            self._stack.callback(self._post, "/moto-api/reset")
            previous = self._post("/moto-api/reset-auth", str(UNAUTHENTICATED_ACTIONS))
            self._stack.callback(
                self._post,
                "/moto-api/reset-auth",
                previous["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"],
            )
            self.admin = self._create_admin()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _post(self, path: str, body: str = "") -> Any:
        answer = requests.post(self.url + path, data=body.encode(), timeout=TIMEOUT)
        answer.raise_for_status()
        return answer.json()

    def _create_admin(self) -> dict[str, str]:
        # Unauthenticated: any key is accepted for the first UNAUTHENTICATED_ACTIONS actions.
        iam = self.client(
            "iam", {"aws_access_key_id": "bootstrap", "aws_secret_access_key": "bootstrap"}
        )
        iam.create_user(UserName=ADMIN)
        iam.put_user_policy(UserName=ADMIN, PolicyName="everything", PolicyDocument=ADMIN_POLICY)
        key = iam.create_access_key(UserName=ADMIN)["AccessKey"]
        return {
            "aws_access_key_id": key["AccessKeyId"],
            "aws_secret_access_key": key["SecretAccessKey"],
        }

    # ---- clients ---------------------------------------------------------------------------------

    def client(self, service: str, credentials: dict[str, str] | None = None) -> Any:
        """A client of the server: the admin's (made once per service), or with `credentials`."""
        with self._clients_lock:
            if credentials is None and service in self._clients:
                return self._clients[service]
            made = self._session.client(
                service,
                region_name=self.region,
                endpoint_url=self.url,
                **(credentials if credentials is not None else self.admin),
            )
            if credentials is None:
                self._clients[service] = made
            return made

    # ---- where moto keeps the keys IAM needs -----------------------------------------------------

    def _object_key(self, bucket: str, key: str) -> tuple[str, bool] | None:
        try:
            stored = s3_backends[self.account][self.partition].get_object(bucket, key)
        except MissingBucket:  # no object, no key to use: S3 answers NoSuchBucket
            return None
        if stored is None or stored.encryption != "aws:kms" or not stored.kms_key_id:
            return None
        return str(stored.kms_key_id), _truthy(stored.bucket_key_enabled)

    def _bucket_default_key(self, bucket: str) -> tuple[str, bool] | None:
        try:
            encryption = s3_backends[self.account][self.partition].get_bucket(bucket).encryption
        except MissingBucket:  # no bucket, no key to use: S3 answers NoSuchBucket
            return None
        rule = (encryption or {}).get("Rule", {})
        default = rule.get("ApplyServerSideEncryptionByDefault", {})
        if default.get("SSEAlgorithm") != "aws:kms" or not default.get("KMSMasterKeyID"):
            return None
        return str(default["KMSMasterKeyID"]), _truthy(rule.get("BucketKeyEnabled"))

    def _topic_key(self, topic_arn: str) -> str | None:
        topic = sns_backends[self.account][self.region].topics.get(topic_arn)
        return (
            str(topic.kms_master_key_id) if topic is not None and topic.kms_master_key_id else None
        )

    def set_execution_status(self, pipeline: str, execution_arn: str, status: str) -> None:
        """moto marks every pipeline execution Succeeded at once; set the one SageMaker would
        report (`Executing`, `Stopping`) on moto's stored execution."""
        backend = sagemaker_backends[self.account][self.region]
        backend.pipelines[pipeline].pipeline_executions[
            execution_arn
        ].pipeline_execution_status = status
