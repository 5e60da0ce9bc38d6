"""The platform service: API, storage, live ingest and access control.

Built over the domain libraries (:mod:`kongtian.space`, :mod:`kongtian.traffic`) and the
kernel; nothing in the domains imports this package. Embedded by default (DuckDB file,
in-process hub); PostgreSQL, MQTT and NATS JetStream behind the same interfaces for
deployments. See ``docs/service.md``.
"""
