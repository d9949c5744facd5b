"""Streams, events, synchronize and random-number state of torch.hyperaccel."""

from __future__ import annotations

import time

import torch

D = "hyperaccel"


def test_streams_are_synchronous() -> None:
    """Streams can be made, selected and waited on; they are always idle."""
    h = torch.hyperaccel
    default = h.current_stream()
    assert default.stream_id == h.default_stream().stream_id == 0
    side = h.Stream(priority=0)
    assert side.query() and side.device_index == h.current_device()
    with h.stream(side):
        assert h.current_stream().stream_id == side.stream_id
        x = torch.ones(4, device=D) * 2
    assert h.current_stream().stream_id == 0
    side.wait_stream(default)
    side.wait_event(side.record_event())
    side.synchronize()
    with h.StreamContext(None):
        assert h.current_stream().stream_id == 0
    h.set_stream(side)
    assert torch.accelerator.current_stream().stream_id == side.stream_id
    h.set_stream(default)
    h.synchronize()
    torch.accelerator.synchronize()
    h.empty_cache()
    assert not h.is_current_stream_capturing()
    assert x.cpu().tolist() == [2.0] * 4


def test_events_time_on_the_host_clock() -> None:
    """Events complete when recorded; elapsed_time is host milliseconds between records."""
    start = torch.hyperaccel.Event(enable_timing=True)
    end = torch.hyperaccel.Event(enable_timing=True)
    start.record()
    time.sleep(0.02)
    end.record(torch.hyperaccel.current_stream())
    end.synchronize()
    assert start.query() and end.query()
    assert 15.0 <= start.elapsed_time(end) < 1000.0
    torch.hyperaccel.Event().wait()


def test_seeding_and_rng_state() -> None:
    """torch.manual_seed seeds the chips like the CPU; get/set_rng_state replays draws."""
    torch.manual_seed(11)
    chip = torch.rand(5, device=D)
    torch.manual_seed(11)
    assert torch.equal(chip.cpu(), torch.rand(5))
    torch.hyperaccel.manual_seed(3)
    assert torch.hyperaccel.initial_seed() == 3
    state = torch.hyperaccel.get_rng_state()
    first = torch.randn(4, device=D)
    torch.hyperaccel.set_rng_state(state)
    assert torch.equal(torch.randn(4, device=D).cpu(), first.cpu())
    torch.hyperaccel.manual_seed_all(5)
    assert torch.hyperaccel.default_generator(1).initial_seed() == 5
