"""`torch.hyperaccel`: the device module of the emulated chip, shaped like `torch.cuda`.

Installed by `sglang_hyperaccel.device.register()`. Everything goes through PyTorch's generic
accelerator API (`torch.accelerator`, `torch.Stream`, `torch.Event`), which reaches the native
guard, hooks and allocator, so `torch.hyperaccel.X` and `torch.accelerator.X` always agree.

Work on the chip is synchronous: streams are always idle, events are complete as soon as they
are recorded, and `synchronize` returns at once. `Event.elapsed_time` is the host wall-clock
time between the two `record` calls, in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from sglang_hyperaccel.names import DEVICE_TYPE

from .native import _C

# Inductor looks these up on the device module; compile.py builds them on first use.
_INDUCTOR_CODEGENS = frozenset(
    {"Scheduling", "PythonWrapperCodegen", "CppWrapperCodegen", "WrapperFxCodegen"})


def __getattr__(name: str) -> Any:
    """Inductor's code generators for the chip, imported lazily (torch._inductor is heavy)."""
    if name in _INDUCTOR_CODEGENS:
        from .compile import inductor_codegen

        return inductor_codegen(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

_chip_name = "lpu"

DeviceLike = torch.device | str | int | None


def _set_chip_name(name: str) -> None:
    global _chip_name
    _chip_name = name


def _index(device: DeviceLike) -> int:
    """Device index of `device`; None (or an index-less `hyperaccel`) means the current one."""
    if device is None:
        return current_device()
    if isinstance(device, int):
        return device
    device = torch.device(device)
    if device.type != DEVICE_TYPE:
        raise ValueError(f"expected a {DEVICE_TYPE} device, got {device}")
    return current_device() if device.index is None else device.index


# ---------------------------------------------------------------------------------------------
# Devices
# ---------------------------------------------------------------------------------------------


def is_available() -> bool:
    """Always True once registered: the chip is emulated on this host."""
    return device_count() > 0


def is_initialized() -> bool:
    """Always True: the runtime needs no lazy initialisation."""
    return True


def init() -> None:
    """Nothing to initialise; present for parity with `torch.cuda.init`."""


def _lazy_init() -> None:
    """Nothing to initialise; some callers probe for it."""


def _is_in_bad_fork() -> bool:
    """False: the emulated runtime survives fork (torch.manual_seed asks)."""
    return False


def device_count() -> int:
    """Number of chips (SGLANG_HYPERACCEL_DEVICE_COUNT)."""
    return _C._device_count()


def current_device() -> int:
    """Index of this thread's current chip."""
    return torch.accelerator.current_device_index()


def set_device(device: DeviceLike) -> None:
    """Make `device` this thread's current chip; a negative index does nothing (as in CUDA)."""
    index = _index(device)
    if index >= 0:
        torch.accelerator.set_device_index(index)


class device:
    """Context manager that makes `device` current and restores the previous one on exit."""

    def __init__(self, device: DeviceLike) -> None:
        self.index = -1 if device is None else _index(device)
        self.previous = -1

    def __enter__(self) -> None:
        self.previous = current_device()
        if self.index >= 0:
            set_device(self.index)

    def __exit__(self, *exc_info: object) -> None:
        if self.index >= 0:
            set_device(self.previous)


def synchronize(device: DeviceLike = None) -> None:
    """Wait for all work on `device`: returns at once, work is synchronous."""
    torch.accelerator.synchronize(_index(device))


@dataclass(frozen=True)
class DeviceProperties:
    """What `get_device_properties` reports: the emulated chip's name and memory."""

    name: str
    total_memory: int
    index: int
    type: str = DEVICE_TYPE


def get_device_name(device: DeviceLike = None) -> str:
    """The emulated chip's name (SGLANG_HYPERACCEL_CHIP), the same for every index."""
    _index(device)
    return _chip_name


def get_device_properties(device: DeviceLike = None) -> DeviceProperties:
    """Name and total memory (bytes) of `device`."""
    index = _index(device)
    return DeviceProperties(name=_chip_name, total_memory=_C._capacity(index), index=index)


# ---------------------------------------------------------------------------------------------
# Memory: every figure is per chip and counts all bytes held by its tensors. Nothing is
# cached, so reserved equals allocated and empty_cache has nothing to release.
# ---------------------------------------------------------------------------------------------


def memory_allocated(device: DeviceLike = None) -> int:
    """Bytes held by tensors on `device` now."""
    return torch.accelerator.memory_allocated(_index(device))


def max_memory_allocated(device: DeviceLike = None) -> int:
    """Peak of `memory_allocated` since start or the last `reset_peak_memory_stats`."""
    return torch.accelerator.max_memory_allocated(_index(device))


def memory_reserved(device: DeviceLike = None) -> int:
    """Same as `memory_allocated`: the allocator caches nothing."""
    return torch.accelerator.memory_reserved(_index(device))


def max_memory_reserved(device: DeviceLike = None) -> int:
    """Same as `max_memory_allocated`: the allocator caches nothing."""
    return torch.accelerator.max_memory_reserved(_index(device))


def reset_peak_memory_stats(device: DeviceLike = None) -> None:
    """Start peak tracking again from the current figures."""
    torch.accelerator.reset_peak_memory_stats(_index(device))


def reset_accumulated_memory_stats(device: DeviceLike = None) -> None:
    """Zero the cumulative counters (allocations, frees, OOMs)."""
    torch.accelerator.reset_accumulated_memory_stats(_index(device))


def memory_stats(device: DeviceLike = None) -> dict[str, Any]:
    """Allocator statistics, keyed as in `torch.cuda.memory_stats` (`allocated_bytes.all.current`...)."""
    return dict(torch.accelerator.memory_stats(_index(device)))


def mem_get_info(device: DeviceLike = None) -> tuple[int, int]:
    """(free, total) bytes of `device`: total is the chip's capacity, free is total - allocated."""
    return tuple(torch.accelerator.get_memory_info(_index(device)))


def empty_cache() -> None:
    """Nothing is cached; present because SGLang calls it."""


# ---------------------------------------------------------------------------------------------
# Autocast: what `torch.autocast("hyperaccel")` asks of the device module. The chip multiplies in
# FP16 and BF16 (FP32 accumulation); the per-op policy is registered natively (csrc/autocast.cpp).
# ---------------------------------------------------------------------------------------------


def get_amp_supported_dtype() -> list[torch.dtype]:
    """The autocast dtypes of the chip: float16 and bfloat16."""
    return [torch.float16, torch.bfloat16]


def is_bf16_supported(including_emulation: bool = True) -> bool:
    """True: the chip computes in bfloat16."""
    return True


# ---------------------------------------------------------------------------------------------
# Random numbers: each chip's default generator draws exactly what a CPU generator with the same
# seed draws, so seeded runs on hyperaccel and CPU agree.
# ---------------------------------------------------------------------------------------------


def default_generator(device: DeviceLike = None) -> torch.Generator:
    """The default generator of `device`."""
    return torch._C._accelerator_getDefaultGenerator(_index(device))


def manual_seed(seed: int) -> None:
    """Seed the current chip's default generator."""
    default_generator().manual_seed(int(seed))


def manual_seed_all(seed: int) -> None:
    """Seed every chip's default generator."""
    for index in range(device_count()):
        default_generator(index).manual_seed(int(seed))


def seed() -> None:
    """Seed the current chip's default generator non-deterministically."""
    default_generator().seed()


def seed_all() -> None:
    """Seed every chip's default generator with one non-deterministic seed."""
    value = default_generator(0).seed()
    for index in range(1, device_count()):
        default_generator(index).manual_seed(value)


def initial_seed() -> int:
    """The current chip's default generator's seed."""
    return default_generator().initial_seed()


def get_rng_state(device: DeviceLike = None) -> torch.Tensor:
    """The default generator state of `device` (a CPU uint8 tensor)."""
    return default_generator(device).get_state()


def set_rng_state(new_state: torch.Tensor, device: DeviceLike = None) -> None:
    """Restore a state from `get_rng_state`."""
    default_generator(device).set_state(new_state)


def set_offset(offset: int, device: DeviceLike = None) -> None:
    """Not supported: the chip's generator is a CPU Mersenne Twister, which has no Philox offset."""
    raise RuntimeError(f"the {DEVICE_TYPE} generator (CPU Mersenne Twister) does not support set_offset")


def get_offset(device: DeviceLike = None) -> int:
    """Not supported (see `set_offset`)."""
    raise RuntimeError(f"the {DEVICE_TYPE} generator (CPU Mersenne Twister) does not support get_offset")


def get_rng_state_all() -> list[torch.Tensor]:
    """Every chip's default generator state."""
    return [get_rng_state(index) for index in range(device_count())]


def set_rng_state_all(new_states: list[torch.Tensor]) -> None:
    """Restore every chip's state from `get_rng_state_all`."""
    for index, state in enumerate(new_states):
        set_rng_state(state, index)


# ---------------------------------------------------------------------------------------------
# Streams and events (synchronous; see the module docstring)
# ---------------------------------------------------------------------------------------------


class Stream(torch.Stream):
    """A stream of `device` (default: current). Always idle: `query()` is True, waits return."""

    def __new__(cls, device: DeviceLike = None, priority: int = 0, **kwargs: Any) -> Stream:
        if kwargs:  # rebuilt from (stream_id, device_index, device_type)
            return super().__new__(cls, priority=priority, **kwargs)
        return super().__new__(cls, torch.device(DEVICE_TYPE, _index(device)), priority=priority)

    @classmethod
    def _wrap(cls, stream: torch.Stream) -> Stream:
        return cls(stream_id=stream.stream_id, device_index=stream.device_index,
                   device_type=stream.device_type)

    def record_event(self, event: Event | torch.Event | None = None) -> Event | torch.Event:
        """Record `event` (a new `Event` if None) on this stream and return it."""
        event = Event() if event is None else event
        event.record(self)
        return event

    def wait_event(self, event: Event | torch.Event) -> None:
        """Make this stream wait for `event`: returns at once."""
        event.wait(self)


class Event:
    """An event on the current chip. Complete once recorded; `elapsed_time` is host time in ms.

    Wraps a `torch.Event` (composition, because torch.Event's methods accept only exact
    torch.Event arguments); `torch_event` exposes it for generic code.
    """

    def __init__(self, enable_timing: bool = False, blocking: bool = False,
                 interprocess: bool = False) -> None:
        self.torch_event = torch.Event(torch.device(DEVICE_TYPE, current_device()),
                                       enable_timing=enable_timing, blocking=blocking,
                                       interprocess=interprocess)

    def record(self, stream: torch.Stream | None = None) -> None:
        """Record on `stream` (default: the current stream): stamps the host time."""
        self.torch_event.record(current_stream() if stream is None else stream)

    def wait(self, stream: torch.Stream | None = None) -> None:
        """Make `stream` wait for this event: returns at once."""
        self.torch_event.wait(current_stream() if stream is None else stream)

    def query(self) -> bool:
        """True: work is synchronous, so a recorded event is complete."""
        return self.torch_event.query()

    def synchronize(self) -> None:
        """Wait for the event: returns at once."""
        self.torch_event.synchronize()

    def elapsed_time(self, end_event: Event) -> float:
        """Host milliseconds between this event's and `end_event`'s `record` calls."""
        return self.torch_event.elapsed_time(end_event.torch_event)


def current_stream(device: DeviceLike = None) -> Stream:
    """This thread's current stream on `device`."""
    return Stream._wrap(torch.accelerator.current_stream(_index(device)))


def default_stream(device: DeviceLike = None) -> Stream:
    """The default stream (id 0) of `device`."""
    stream = torch.accelerator.current_stream(_index(device))
    return Stream(stream_id=0, device_index=stream.device_index, device_type=stream.device_type)


def set_stream(stream: torch.Stream | None) -> None:
    """Make `stream` current on its device; None does nothing."""
    if stream is not None:
        torch.accelerator.set_stream(stream)


class StreamContext:
    """Makes `stream` current (and its device) inside the block; None makes it a no-op."""

    def __init__(self, stream: torch.Stream | None) -> None:
        self.stream = stream
        self.previous_device = -1
        self.previous_streams: list[torch.Stream] = []

    def __enter__(self) -> torch.Stream | None:
        if self.stream is None:
            return None
        self.previous_device = current_device()
        target = self.stream.device_index
        # As in CUDA, remember the current stream of both the stream's device and this one.
        self.previous_streams = [torch.accelerator.current_stream(self.previous_device)]
        if target != self.previous_device:
            self.previous_streams.append(torch.accelerator.current_stream(target))
            set_device(target)
        torch.accelerator.set_stream(self.stream)
        return self.stream

    def __exit__(self, *exc_info: object) -> None:
        if self.stream is None:
            return
        for previous in reversed(self.previous_streams):
            torch.accelerator.set_stream(previous)
        set_device(self.previous_device)


def is_current_stream_capturing() -> bool:
    """False: there is no graph capture on the chip (SGLang asks before capturing)."""
    return False


def stream(stream: torch.Stream | None) -> StreamContext:
    """Context manager selecting `stream`, as `torch.cuda.stream`."""
    return StreamContext(stream)
