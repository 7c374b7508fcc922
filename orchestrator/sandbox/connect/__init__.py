"""A test double of Amazon Connect (moto implements only Connect instances): a small threaded HTTP server on
127.0.0.1 that speaks Connect's REST-JSON protocol, routed and (de)serialised from botocore's own service model,
with per-Region state, the validation the real API applies, and optional latency and throttling.

- :mod:`.world`: the state (instance, traffic distribution group, hours of operation and overrides, prompts,
  agents available per Region and queue) and every operation's rules, raising :class:`ConnectError` with the
  real error codes;
- :mod:`.protocol`: requests to operation + parameters and results to responses, from botocore's model;
- :mod:`.server`: the HTTP server (in-process, or ``python -m orchestrator.sandbox.connect``), its control
  endpoint under ``/_double/`` and a client for it.

boto3 reaches it through the normal endpoint chain: ``AWS_ENDPOINT_URL_CONNECT``.
"""
