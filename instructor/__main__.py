"""``python -m instructor sync [--check]`` and ``python -m instructor release``."""
from __future__ import annotations

import argparse
import sys

from instructor import notebooks, release


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m instructor")
    sub = parser.add_subparsers(dest="command", required=True)
    sync = sub.add_parser("sync", help="rebuild the generated cells of source/foundations/*.ipynb")
    sync.add_argument("--check", action="store_true", help="only say whether anything would change (exit 1)")
    sub.add_parser("release", help="nbgrader generate_assignment into release/foundations, checked for leaks")
    args = parser.parse_args(argv)
    if args.command == "sync":
        changed = notebooks.sync(check_only=args.check)
        verb = "would change" if args.check else "updated"
        print(f"{verb}: {', '.join(changed)}" if changed else "source notebooks are in step with solutions/ and the registry")
        return 1 if (changed and args.check) else 0
    paths = release.release()
    print("released:", ", ".join(str(p.relative_to(release.ROOT)) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
