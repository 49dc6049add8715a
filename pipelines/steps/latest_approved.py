"""LatestApprovedPackage: write the ARN of the newest Approved version of a package group.

Runs in the scikit-learn processing image (boto3) with the pipeline's role; writes
`{"ModelPackageArn": ...}` to /opt/ml/processing/output/package/package.json for the
pipeline's PropertyFile. Fails (non-zero) when the group has no approved version.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

BASE = Path(os.environ.get("MLOPS_PROCESSING_ROOT", "/opt/ml/processing"))


def latest_approved(client, group: str) -> str | None:
    response = client.list_model_packages(
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved",
        ModelPackageType="Versioned",
        SortBy="CreationTime",
        SortOrder="Descending",
        MaxResults=1,
    )
    packages = response.get("ModelPackageSummaryList", [])
    return packages[0]["ModelPackageArn"] if packages else None


def main(argv: list[str] | None = None, client=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-package-group", required=True)
    parser.add_argument("--region", required=True)
    args = parser.parse_args(argv)
    if client is None:
        import boto3  # noqa: PLC0415 - the tests pass a fake client

        client = boto3.client("sagemaker", region_name=args.region)
    arn = latest_approved(client, args.model_package_group)
    if arn is None:
        print(
            f"LatestApprovedPackage: no Approved version in {args.model_package_group}; "
            "approve one before running batch transform",
            file=sys.stderr,
        )
        return 2
    out = BASE / "output" / "package"
    out.mkdir(parents=True, exist_ok=True)
    (out / "package.json").write_text(json.dumps({"ModelPackageArn": arn}))
    print(f"LatestApprovedPackage: {arn}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
