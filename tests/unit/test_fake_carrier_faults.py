"""The fake carriers' `--fail` options, as demos and the CLI give them."""

from __future__ import annotations

import pytest

from parcelstream.carriers.fake.server import FakeOptions, apply_fault, build_fake


def test_fail_options_queue_the_faults_they_name() -> None:
    fake = build_fake("ups", FakeOptions())
    apply_fault(fake, "track:429:retry_after=5")
    apply_fault(fake, "track:503:2")
    apply_fault(fake, "token:slow=1.5:always")
    apply_fault(fake, "push:duplicate")
    queued = list(fake._faults["track"])
    assert [(f.status, f.retry_after) for f in queued] == [(429, "5"), (503, None), (503, None)]
    assert fake._sticky["token"].delay == 1.5
    assert fake.push.duplicate
    assert not fake.push.reorder


@pytest.mark.parametrize("text", ["track", "track:teapot", "mail:500", "track:500:x"])
def test_an_unknown_fail_option_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="--fail"):
        apply_fault(build_fake("fedex", FakeOptions()), text)
