"""Start-up: config → (database → speech engine → Discord client), or a command-line tool."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .config import ConfigError, load_config
from .speech.backends.base import BackendError
from .speech.captions import CaptionError
from .speech.codec import CodecError
from .speech.llm import ModelError
from .speech.synthesizer import SynthesisError
from .store.errors import DatabaseUnusable, SchemaTooNewError

# Problems a user can fix (a setting, a file, the input); reported as one line, never a traceback.
USER_FIXABLE = (ConfigError, ModelError, BackendError, CodecError, CaptionError, SynthesisError, DatabaseUnusable, SchemaTooNewError)

DEFAULT_CONFIG = Path("config.toml")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Anime-Llasa Discord voice bot")
    parser.add_argument("-c", "--config", type=Path, help="config file (default: config.toml if present)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run the Discord bot (the default)")
    run.set_defaults(handler=_run_bot)
    from .cli import InputError, add_commands

    add_commands(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    handler = getattr(args, "handler", _run_bot)
    try:
        config = load_config(args.config or (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None))
        return handler(config, args)
    except (*USER_FIXABLE, InputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _run_bot(config, args) -> int:
    from .app import run_bot

    return run_bot(config)


if __name__ == "__main__":
    sys.exit(main())
