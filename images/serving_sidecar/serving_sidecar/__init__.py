"""The serving sidecar: fetches a registered model for the model server, proxies its
invocations with Prometheus metrics, and captures them to S3 in SageMaker's data-capture
format. See images/serving_sidecar/README.md."""
