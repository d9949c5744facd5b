"""Deploy's parts that need no server: argument handling, the router command, batch splitting, figures."""

from __future__ import annotations

import pytest

from sglang_hyperaccel.deploy import DeployConfig, RequestRecord, RouterSettings, summarize
from sglang_hyperaccel.deploy.cli import parse_config
from sglang_hyperaccel.deploy.dsl import split_batch
from sglang_hyperaccel.deploy.router import router_command


def test_unknown_arguments_go_to_every_replica():
    """Options deploy does not know are passed to sglang.launch_server verbatim, in order."""
    cfg = parse_config(["--replicas", "2", "--port", "32999", "--model-path", "/m", "--policy", "round_robin",
                        "--max-total-tokens", "4096", "--dtype", "float32", "--worker-url", "http://10.0.0.2:30000"])
    assert cfg.server_args == ("--max-total-tokens", "4096", "--dtype", "float32")
    assert cfg.router.policy == "round_robin"
    assert cfg.worker_urls == ("http://10.0.0.2:30000",)
    assert cfg.url == "http://127.0.0.1:32999"


@pytest.mark.parametrize("argv", [
    ["--replicas", "2", "--port", "32999", "--model-path", "/m", "--device", "cpu"],  # deploy sets it
    ["--replicas", "0", "--port", "32999", "--model-path", "/m"],  # nothing to route to
    ["--replicas", "1", "--port", "32999", "--model-path", "/m", "--policy", "random"],  # not offered
    ["--replicas", "1", "--port", "32999", "--model-path", "/m", "--worker-url", "10.0.0.2:30000"],
])
def test_bad_arguments_exit_with_status_2(argv):
    """Misuse is an argparse error (status 2), before anything starts."""
    with pytest.raises(SystemExit) as exc:
        parse_config(argv)
    assert exc.value.code == 2


def test_router_command_names_policy_workers_and_own_metrics_port():
    """The smg command carries the policy, every worker, fast health checks and a private metrics port."""
    cmd = router_command("127.0.0.1", 32500, ["http://127.0.0.1:1", "http://127.0.0.1:2"],
                         RouterSettings(policy="power_of_two", extra_args=("--cache-threshold", "0.5")),
                         32555)
    assert cmd[1:3] == ["-m", "smg.launch_router"]
    joined = " ".join(cmd)
    assert "--worker-urls http://127.0.0.1:1 http://127.0.0.1:2" in joined
    assert "--policy power_of_two" in joined and "--health-check-interval-secs 2" in joined
    assert "--prometheus-host 127.0.0.1 --prometheus-port 32555" in joined
    assert cmd[-2:] == ["--cache-threshold", "0.5"]


def test_config_rejects_workerless_deployment():
    """A deployment needs a local replica or a remote worker."""
    with pytest.raises(ValueError):
        DeployConfig(model_path="/m", replicas=0, port=30000)


def test_select_body_splits_into_one_request_per_choice():
    """The list body `select` sends becomes one body per text, scalars copied, per-item lists indexed."""
    body = {"text": ["Q: yes", "Q: no"], "sampling_params": {"max_new_tokens": 0}, "return_logprob": True,
            "logprob_start_len": 3}
    items = split_batch(body)
    assert items == [
        {"text": "Q: yes", "sampling_params": {"max_new_tokens": 0}, "return_logprob": True,
         "logprob_start_len": 3},
        {"text": "Q: no", "sampling_params": {"max_new_tokens": 0}, "return_logprob": True,
         "logprob_start_len": 3},
    ]
    tokens = split_batch({"input_ids": [[1, 2], [3]], "sampling_params": [{"a": 1}, {"a": 2}]})
    assert tokens == [{"input_ids": [1, 2], "sampling_params": {"a": 1}},
                      {"input_ids": [3], "sampling_params": {"a": 2}}]
    assert split_batch({"text": "single"}) is None
    assert split_batch({"input_ids": [1, 2, 3]}) is None


def test_summary_adds_replica_throughputs():
    """Hit rate and misses sum over requests; chip throughput sums each replica's tokens over its own span."""
    records = [
        RequestRecord("a", 100, 0, 10, 0.0, 2.0), RequestRecord("a", 100, 90, 10, 2.0, 3.0),
        RequestRecord("b", 100, 50, 10, 5.0, 6.0),
    ]
    summary = summarize(records, wall_s=1.0)
    assert summary.hit_rate == pytest.approx(140 / 300)
    assert summary.missed_tokens == 160
    assert summary.replica_spans_ms == {"a": 3.0, "b": 1.0}
    assert summary.replica_tokens == {"a": 220, "b": 110}
    assert summary.chip_tokens_per_s == pytest.approx(220 / 3e-3 + 110 / 1e-3)
    assert summary.makespan_tokens_per_s == pytest.approx(330 / 3e-3)
    assert summary.replica_requests == {"a": 2, "b": 1}
