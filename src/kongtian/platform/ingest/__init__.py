"""Ingest adapters: the ways reports reach the service besides HTTP.

Every adapter hands raw payloads to :meth:`kongtian.platform.service.Service.ingest_raw`
and acknowledges them to the transport only after that call returns, i.e. after the
store has committed them (at-least-once delivery; the store's de-duplication key makes
a redelivered message harmless). Malformed payloads end up in the quarantine table and
are acknowledged too: they are stored, just not as reports.

- :mod:`.mqtt`: MQTT 5 subscriber, QoS 1, persistent session, manual acks (``MqttIngest``);
- :mod:`.nats`: NATS JetStream durable pull consumer shared by workers (``NatsIngest``);
- :mod:`.tcp`: TCP listeners for JT/T 808 terminals, Beast, AVR and AIS NMEA (``TcpIngest``);
- :mod:`.decode`: raw payloads -> report batches + per-message errors;
- :mod:`.cli`: ``kongtian ingest mqtt|nats|tcp``, a standalone worker process.
"""
