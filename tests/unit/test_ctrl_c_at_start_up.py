"""Ctrl-C while the command line starts (importing torch and numpy) ends in "interrupted" and exit
130: a KeyboardInterrupt inside numpy's C-extension import once left it half-loaded and printed an
ImportError traceback ("cannot load module more than once per process"; seen by
tests/consistency/test_kill_with_default_flags.py). SIGINT is held until the imports are done."""

import os
import signal

from lmlineage import cli


def test_ctrl_c_during_the_start_up_imports_waits_for_them(monkeypatch, capsys):
    real, finished = cli.build_parser, []

    def build_parser():
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of the imports
        parser = real()
        finished.append(True)  # the imports were not cut in half
        return parser

    monkeypatch.setattr(cli, "build_parser", build_parser)
    assert cli.main(["models"]) == 130
    assert finished == [True]
    assert capsys.readouterr().err == "interrupted\n"
