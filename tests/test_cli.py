import subprocess
import sys

from chronotope.cli.main import build_parser, main


def test_unknown_flag_is_an_error_with_status_2(capsys):
    parser = build_parser()
    try:
        parser.parse_args(["--no-such-flag"])
    except SystemExit as e:
        assert e.code == 2
    else:
        raise AssertionError("unknown flag was accepted")


def test_console_script_help_runs():
    out = subprocess.run(
        [sys.executable, "-m", "chronotope.cli.main", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0
    assert "chronotope" in out.stdout


def test_every_commands_flags_are_built_without_the_heavy_libraries():
    """`chronotope --help` (and a typo's error) must not wait for diffusers, the trainer or
    the server: building every subcommand's parser imports none of them."""
    code = (
        "import sys; from chronotope.cli.main import build_parser; build_parser(); "
        "print(sorted(m for m in ('diffusers', 'fastapi', 'peft', 'chronotope.training.trainer', "
        "'chronotope.autoencoder.vae') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_main_requires_a_command():
    try:
        main([])
    except SystemExit as e:
        assert e.code == 2
    else:
        raise AssertionError("no command was accepted")
