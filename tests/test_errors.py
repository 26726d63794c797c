from __future__ import annotations

import pytest

from sensorhub import errors


@pytest.mark.parametrize(
    "cls", [errors.DecodeError, errors.ProtocolError, errors.ConfigError, errors.ControlPointError]
)
def test_every_error_derives_from_the_root(cls: type[Exception]) -> None:
    assert issubclass(cls, errors.SensorhubError)


def test_control_point_error_keeps_code_and_name() -> None:
    err = errors.ControlPointError("refused", code=6, code_name="ALREADY_IN_STATE", request=2)
    assert isinstance(err, errors.ProtocolError)
    assert (err.code, err.code_name, err.request) == (6, "ALREADY_IN_STATE", 2)


def test_tree_is_drawn_in_the_docstring() -> None:
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        assert name in doc, f"{name} missing from the drawn exception tree"
