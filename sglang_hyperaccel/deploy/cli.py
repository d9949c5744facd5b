"""`sglang-hyperaccel deploy`: N hyperaccel replicas behind SGLang's router, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from sglang_hyperaccel.deploy.config import POLICIES, DeployConfig, RouterSettings
from sglang_hyperaccel.deploy.deployment import Deployment
from sglang_hyperaccel.deploy.router import StartupCancelled
from sglang_hyperaccel.launcher import ServerStartError

USAGE_EPILOG = """\
Every argument deploy does not know is passed to each replica's `sglang.launch_server`
(for example --max-total-tokens 4096 --dtype float32). Replicas on other hosts join with
--worker-url http://HOST:PORT (repeatable), or at run time through the router's API:
  curl -X POST http://ROUTER/workers -H 'Content-Type: application/json' -d '{"url": "http://HOST:PORT"}'
See docs/deployment.md."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sglang-hyperaccel deploy", allow_abbrev=False, epilog=USAGE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Start N `sglang.launch_server --device hyperaccel` replicas and SGLang's router "
                    "(smg) in front; print the URL; stop everything on Ctrl-C or SIGTERM.")
    parser.add_argument("--replicas", type=int, required=True,
                        help="local replicas to start (0: router only)")
    parser.add_argument("--port", type=int, required=True, help="the router's port (what clients use)")
    parser.add_argument("--policy", choices=POLICIES, default="cache_aware", help="router policy")
    parser.add_argument("--host", default="127.0.0.1",
                        help="the router's bind address (0.0.0.0 to serve other hosts)")
    parser.add_argument("--replica-host", default="127.0.0.1", help="bind address of the local replicas")
    parser.add_argument("--replica-base-port", type=int, default=0,
                        help="replica i listens on BASE+i (default: free ports)")
    parser.add_argument("--model-path", default=None, help="model of every replica (default: the demo model)")
    parser.add_argument("--worker-url", action="append", default=[], metavar="URL",
                        help="an already running worker (e.g. on another host) to route to; repeatable")
    parser.add_argument("--router-arg", action="append", default=[], metavar="ARG",
                        help="extra `smg.launch_router` argument, e.g. --router-arg=--cache-threshold=0.5")
    parser.add_argument("--health-check-interval", type=int, default=2, metavar="SECONDS",
                        help="how often the router probes each worker's /health")
    parser.add_argument("--max-restarts", type=int, default=3,
                        help="how often a local replica that exits is restarted (0: never)")
    parser.add_argument("--startup-timeout", type=float, default=600.0, metavar="SECONDS",
                        help="how long to wait for the replicas to become healthy")
    parser.add_argument("--log-dir", type=Path, default=None,
                        help="replica and router logs (default: a temp dir)")
    return parser


def parse_config(argv: list[str]) -> DeployConfig:
    """Deploy's own options, everything else as server arguments; raises SystemExit(2) on bad input."""
    parser = build_parser()
    args, server_args = parser.parse_known_args(argv)
    model_path = args.model_path
    if model_path is None:
        from sglang_hyperaccel.demo import ensure_demo_model

        model_path = str(ensure_demo_model())
    try:
        return DeployConfig(
            model_path=model_path, replicas=args.replicas, port=args.port, host=args.host,
            replica_host=args.replica_host, replica_base_port=args.replica_base_port,
            server_args=tuple(server_args), worker_urls=tuple(args.worker_url),
            router=RouterSettings(policy=args.policy, health_check_interval_s=args.health_check_interval,
                                  extra_args=tuple(args.router_arg)),
            startup_timeout_s=args.startup_timeout, max_restarts=args.max_restarts, log_dir=args.log_dir,
        )
    except ValueError as err:
        parser.error(str(err))
        raise  # unreachable: parser.error exits


def _say(message: str) -> None:
    print(f"deploy: {message}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run a deployment until SIGINT/SIGTERM. Returns 0 after a clean stop, 1 when startup
    or the router failed."""
    config = parse_config(sys.argv[1:] if argv is None else argv)
    stop = threading.Event()
    deployment = Deployment(config, on_event=_say, cancel=stop)

    def request_stop(signum: int, _frame: object) -> None:
        if not stop.is_set():
            _say(f"{signal.Signals(signum).name}: stopping")
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        deployment.start()
        _say(f"ready at {deployment.url} (router smg, policy {config.router.policy}; workers "
             f"{' '.join(deployment.worker_urls)}; logs {deployment.log_dir})")
        deployment.supervise(stop)
        return 0
    except StartupCancelled:
        return 0
    except (ServerStartError, RuntimeError) as err:
        _say(f"error: {err}")
        return 1
    finally:
        deployment.stop()
        _say("stopped")
        for sig, handler in previous.items():
            signal.signal(sig, handler)
