"""Tests for sensorhub.protocols; shared vector helpers live in :mod:`.vectors`."""
