"""Write config/open_data.yaml from config/config.yaml: the same programmes and settings, run on the
published EES files instead of synthetic data. Run after changing config/config.yaml:

    .venv/bin/python config/derive_open_data.py

tests/test_config.py fails when the two files drift apart.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
HEADER = """\
# Published DfE open data: place the EES files listed in data/raw/README.md in data/raw/ees/, then
#   snakemake --cores all --configfile config/open_data.yaml
# The files are annual (reporting years ending 31 March): FFfC and FNP have one or two post-treatment years
# before the national roll-out (April 2025) ends the clean comparison window.
# Generated from config/config.yaml by config/derive_open_data.py: edit that file, then rerun the script.
"""

#: keys of the open-data run that differ from the synthetic default (None = key removed)
OVERRIDES = {
    ("data", "source"): "files",
    ("data", "statistical_neighbours"): {
        "2021": "data/raw/ees/New_Statistical_Neighbour_Groupings_April_2021.csv",
        "2025": "data/raw/ees/sn_model_2025_wide.csv",
    },
    ("simulate",): None,
    # the published files end in 2024-25, before either Regional Care Cooperative launched (May / October 2025)
    ("synth", "run"): False,
    # the records check compares synthetic returns with the synthetic EES series: nothing to compare with here
    ("data", "records_check", "enabled"): False,
}


def derive(config: dict) -> dict:
    out = yaml.safe_load(yaml.safe_dump(config, sort_keys=False))
    for path, value in OVERRIDES.items():
        node = out
        for key in path[:-1]:
            node = node.setdefault(key, {})
        if value is None:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value
    return out


def render(config: dict) -> str:
    return HEADER + yaml.safe_dump(derive(config), sort_keys=False, allow_unicode=True, width=120)


def main() -> int:
    config = yaml.safe_load((HERE / "config.yaml").read_text(encoding="utf-8"))
    (HERE / "open_data.yaml").write_text(render(config), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
