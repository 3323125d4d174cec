"""Open the assistant in the browser: `python app.py` (the same as `paperqa-local serve`).

Serves on http://127.0.0.1:7860 over the index in --data-dir; an empty index is filled from seeds/ first.
Another --host needs --auth user:password or --auth-file.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))  # run from a checkout without installing

from paperqa_local.errors import PaperQAError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; another needs --auth)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--auth", metavar="USER:PASS", help="require this login")
    parser.add_argument("--auth-file", metavar="FILE", help="require a login from this file (one user:password per line)")
    parser.add_argument("--data-dir", help="index directory (default $PAPERQA_LOCAL_HOME or ~/.local/share/paperqa-local)")
    parser.add_argument("--model", help="LLM: default, fast, a file in models/, or a path to a GGUF")
    parser.add_argument("--collection", metavar="NAME", help="the library each browser tab starts in (default: papers)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    args = parser.parse_args(argv)
    from paperqa_local.cli import configure_logging

    configure_logging(logging.DEBUG if args.verbose else logging.INFO, quiet_libraries=not args.verbose)

    from paperqa_local import ui

    try:
        ui.serve(data_dir=args.data_dir, model=args.model, host=args.host, port=args.port, auth=args.auth,
                 auth_file=args.auth_file, collection=args.collection)
    except PaperQAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
