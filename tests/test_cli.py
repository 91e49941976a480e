from __future__ import annotations

import subprocess
import sys

from probwb.cli import main


def test_datasets_lists_everything(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "cdnow" in out and "coupon_campaign" in out and "alarm" in out


def test_demo_prints_a_real_result(capsys):
    assert main(["demo", "--customers", "1500", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "Redemption by coupon" in out and "true_rate" in out
    assert "spend lift" in out


def test_console_script_entry_point():
    out = subprocess.run([sys.executable, "-m", "probwb.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "probwb" in out.stdout


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out
