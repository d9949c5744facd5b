"""The `sglang-hyperaccel` console script: `demo-model`, `model-config`, `simulate`, `deploy`, `replay`."""

from __future__ import annotations

import argparse
import sys


def _demo_model(argv: list[str]) -> int:
    from sglang_hyperaccel.demo import DEFAULT_DEMO_MODEL, DEMO_MODELS, ensure_demo_model

    parser = argparse.ArgumentParser(prog="sglang-hyperaccel demo-model",
                                     description="Print the path of a demo model, building it when missing.")
    parser.add_argument("name", nargs="?", default=DEFAULT_DEMO_MODEL, choices=sorted(DEMO_MODELS))
    args = parser.parse_args(argv)
    print(ensure_demo_model(args.name))
    return 0


def _model_config(argv: list[str]) -> int:
    from sglang_hyperaccel.model_configs import bundled_names, config_dir

    parser = argparse.ArgumentParser(
        prog="sglang-hyperaccel model-config",
        description="Print a config-only model directory for a bundled model name (timing-only "
                    f"execution, input_ids requests). Bundled: {', '.join(bundled_names())}.")
    parser.add_argument("name", help="a bundled model name, or a directory with a config.json")
    args = parser.parse_args(argv)
    try:
        print(config_dir(args.name))
    except ValueError as exc:
        print(f"sglang-hyperaccel: error: {exc}", file=sys.stderr)
        return 2
    return 0


def _simulate(argv: list[str]) -> int:
    from sglang_hyperaccel import env
    from sglang_hyperaccel.simulator.cli import main as simulate_main

    try:  # the emulated chip's settings are the simulator's defaults, as the server sees them
        memory = env.memory_override()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return simulate_main(argv, default_chip=env.chip_name(), memory_bytes=memory)


def _replay(argv: list[str]) -> int:
    from sglang_hyperaccel.replay.cli import main as replay_main

    return replay_main(argv)


def _deploy(argv: list[str]) -> int:
    from sglang_hyperaccel.deploy import main as deploy_main

    return deploy_main(argv)


_COMMANDS = {"demo-model": _demo_model, "model-config": _model_config, "simulate": _simulate,
             "deploy": _deploy, "replay": _replay}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in _COMMANDS:
        print("usage: sglang-hyperaccel {demo-model,model-config,simulate,deploy,replay} [options]",
              file=sys.stderr)
        print("  demo-model [NAME]  print the path of a demo model, building it when missing",
              file=sys.stderr)
        print("  model-config NAME  print a config-only model directory (timing-only execution)",
              file=sys.stderr)
        print("  simulate ...       the chip simulator's what-if CLI", file=sys.stderr)
        print("  deploy ...         N server replicas behind SGLang's router", file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    return _COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
