"""Write the agent's config schema into the Helm chart's values.schema.json.

The ``config:`` value of the chart is the agent's config file, so its part
of ``charts/bmp-agent/values.schema.json`` is generated from the agent's own
model (``agent.config.json_schema()``, pydantic): a typo or a bad value in
``config:`` fails ``helm lint``/``helm install`` naming the key, instead of
crash-looping the pods. The rest of the file is written by hand.

    python scripts/gen_config_schema.py          # rewrite the file
    python scripts/gen_config_schema.py --check  # exit 1 if it is stale (CI)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agent.config import json_schema  # noqa: E402

SCHEMA_FILE = REPO / "charts" / "bmp-agent" / "values.schema.json"
DESCRIPTION = (
    "The agent's config.yaml (sections as in the agent's configuration); generated from "
    "agent/config.py by scripts/gen_config_schema.py. bmp.listen and http.listen default "
    "to listenAddress and ports."
)


def render(current: dict[str, Any]) -> str:
    out = dict(current)
    props = dict(out["properties"])
    props["config"] = {"description": DESCRIPTION, **json_schema()}
    out["properties"] = props
    return json.dumps(out, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    args = parser.parse_args(argv)
    text = SCHEMA_FILE.read_text(encoding="utf-8")
    new = render(json.loads(text))
    if args.check:
        if new != text:
            print(
                f"{SCHEMA_FILE.relative_to(REPO)}: the config: schema is out of date; "
                "run python scripts/gen_config_schema.py",
                file=sys.stderr,
            )
            return 1
        return 0
    SCHEMA_FILE.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
