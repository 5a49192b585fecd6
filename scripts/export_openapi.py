"""Print the OpenAPI document of the app as YAML (`make openapi` writes openapi.yaml)."""

from __future__ import annotations

import sys

import yaml

from app.main import create_app


def main() -> None:
    spec = create_app().openapi()
    yaml.safe_dump(spec, sys.stdout, sort_keys=False, allow_unicode=True, width=100)


if __name__ == "__main__":
    main()
