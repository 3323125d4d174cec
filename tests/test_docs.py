"""README and CLI stay true to each other; the CLI answers at once and phones nobody."""

import os
import subprocess
import sys

from .conftest import ROOT


def test_readme_cli_help_is_current():
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "readme_help.py"), "--check"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_help_does_not_import_heavy_libraries():
    code = ("import sys; from paperqa_local.cli import build_parser; build_parser().format_help();"
            "heavy = [m for m in ('torch', 'chromadb', 'gradio', 'llama_cpp', 'sentence_transformers') if m in sys.modules];"
            "print(heavy)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.stdout.strip() == "[]"


def test_offline_switches_are_set_on_import():
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "GRADIO_ANALYTICS_ENABLED", "ANONYMIZED_TELEMETRY")}
    code = "import os, paperqa_local; print(os.environ['HF_HUB_OFFLINE'], os.environ['GRADIO_ANALYTICS_ENABLED'], os.environ['ANONYMIZED_TELEMETRY'])"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert run.stdout.split() == ["1", "False", "False"]


def test_bad_setting_in_environment_names_the_setting(tmp_path):
    env = dict(os.environ, PAPERQA_LOCAL_K="lots")
    run = subprocess.run([sys.executable, "-m", "paperqa_local", "config"], capture_output=True, text=True, env=env)
    assert run.returncode == 1 and "invalid setting (k:" in run.stderr


def test_misspelt_setting_variable_names_the_right_one():
    env = dict(os.environ, PAPERQA_LOCAL_TEMPRATURE="0.5")
    run = subprocess.run([sys.executable, "-m", "paperqa_local", "config"], capture_output=True, text=True, env=env)
    assert run.returncode == 1 and "PAPERQA_LOCAL_TEMPRATURE" in run.stderr and "PAPERQA_LOCAL_TEMPERATURE" in run.stderr
    assert "Traceback" not in run.stderr


def test_overrides_on_given_settings_are_validated(tmp_path):
    import pytest

    from paperqa_local import PaperQA
    from paperqa_local.config import load_settings
    from paperqa_local.errors import ConfigError

    with pytest.raises(ConfigError, match="k:"):
        PaperQA(settings=load_settings(home=tmp_path), k=0)
    assert PaperQA(settings=load_settings(home=tmp_path), k=7).settings.k == 7
