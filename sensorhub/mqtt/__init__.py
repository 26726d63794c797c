"""Many hubs, one view: hubs publish their events to an MQTT broker; an aggregator shows all.

* :mod:`sensorhub.mqtt.protocol` — broker settings, topics and the message envelope (the
  contract, documented in ``docs/mqtt.md``);
* :mod:`sensorhub.mqtt.publisher` — a hub's side: every event into a persistent outbox in the
  session store, published in order with QoS 1 whenever the broker is reachable;
* :mod:`sensorhub.mqtt.aggregator` — ``serve --from-mqtt``: the dashboard and websocket for
  every hub on the broker, de-duplicated by event id, with each hub's health.
"""
