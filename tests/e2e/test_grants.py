"""`loop.grants`: which grants of a policy a set of pinned uses leaves unused (hand-made cases)."""

from __future__ import annotations

import json

import pytest

from loop.grants import Grant, UnsupportedGrantError, grants, unknown_statements, unused

POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadData",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": "*",
            },
            {
                "Sid": "Describe",
                "Effect": "Allow",
                "Action": "sagemaker:Describe*",
                "Resource": "*",
            },
            {"Effect": "Allow", "Action": "sns:Publish", "Resource": "*"},
            {"Sid": "NoDeletes", "Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"},
        ],
    }
)


def test_grants_are_the_action_patterns_of_allow_statements() -> None:
    assert grants(POLICY) == {
        Grant("ReadData", "s3:GetObject"),
        Grant("ReadData", "s3:ListBucket"),
        Grant("Describe", "sagemaker:Describe*"),
        Grant("#2", "sns:Publish"),
    }


def test_a_use_counts_for_its_own_statement_and_matching_pattern_only() -> None:
    uses = {
        ("s3:GetObject", "ReadData"),
        # IAM matches actions case-insensitively, with wildcards.
        ("sagemaker:describemodelpackage", "Describe"),
        # Allowed by another statement: does not use ReadData's ListBucket.
        ("s3:ListBucket", "Elsewhere"),
    }
    assert unused(POLICY, uses) == {Grant("ReadData", "s3:ListBucket"), Grant("#2", "sns:Publish")}
    assert unknown_statements(POLICY, uses) == {"Elsewhere"}


def test_every_grant_used() -> None:
    uses = {
        ("s3:GetObject", "ReadData"),
        ("s3:ListBucket", "ReadData"),
        ("sagemaker:DescribeEndpoint", "Describe"),
        ("sns:Publish", "#2"),
    }
    assert unused(POLICY, uses) == set()
    assert unknown_statements(POLICY, uses) == set()


def test_not_action_cannot_be_listed() -> None:
    policy = {
        "Statement": [{"Sid": "Open", "Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]
    }
    with pytest.raises(UnsupportedGrantError, match="statement Open allows by NotAction"):
        grants(policy)
