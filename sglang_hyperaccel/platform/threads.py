"""CPU threads for the chip's compute.

The emulated chip computes on the host CPU, so the scheduler's intra-op thread count is the chip's
parallelism. `ModelRunner.load_model` calls `torch.set_num_threads(1)` for every device but "cpu"
(to speed up weight loading on GPUs, where host threads do no compute) and never restores it:
left alone, every forward on `hyperaccel` runs single-threaded (measured: batch-16 decode of the
100M demo model 1.6x slower on 2 cores).
"""

from __future__ import annotations

import torch


def threads_for(available: int, ranks_on_host: int) -> int:
    """Intra-op threads per rank: the process's threads shared among this host's TP ranks."""
    return max(1, available // max(1, ranks_on_host))


def load_model_around(original, runner, *args, **kwargs):
    """AROUND `ModelRunner.load_model`: give the threads SGLang took away back after loading."""
    from sglang.srt.runtime_context import get_parallel

    available = torch.get_num_threads()
    try:
        return original(runner, *args, **kwargs)
    finally:
        # ModelRunner has no `tp_size` attribute in 0.5.23 (an earlier getattr here always read 1).
        torch.set_num_threads(threads_for(available, int(get_parallel().tp_size)))
