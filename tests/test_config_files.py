"""The shipped config files: the open-data config stays derived from the default one."""

import importlib.util
from pathlib import Path

import yaml

CONFIG = Path(__file__).resolve().parents[1] / "config"


def _derive_module():
    spec = importlib.util.spec_from_file_location("derive_open_data", CONFIG / "derive_open_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_open_data_config_is_the_default_config_on_published_files():
    """config/open_data.yaml must be config/config.yaml with data.source files and no simulate block; if this
    fails, someone changed one file and not the other: rerun `python config/derive_open_data.py`."""
    derive = _derive_module()
    default = yaml.safe_load((CONFIG / "config.yaml").read_text(encoding="utf-8"))
    shipped = (CONFIG / "open_data.yaml").read_text(encoding="utf-8")
    assert shipped == derive.render(default), "config/open_data.yaml is out of date with config/config.yaml"
    open_data = yaml.safe_load(shipped)
    assert open_data["data"]["source"] == "files" and "simulate" not in open_data
    assert open_data["programmes"] == default["programmes"], "both runs must evaluate the same designs"
