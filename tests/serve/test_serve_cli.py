import pytest

from chronotope.cli.main import build_parser, main


def test_serve_flags_parse_and_unknown_ones_fail(capsys):
    args = build_parser().parse_args(["serve", "--port", "0", "--api-key", "k", "--max-queue", "3"])
    assert (args.port, args.api_key, args.max_queue) == (0, "k", 3)
    assert args.func.__module__ == "chronotope.cli.serve"
    # --workers was removed: jobs run one at a time (the model's kernels already use every
    # core; a second job at once only split them), so the flag is refused, never ignored
    for unknown in (["--queue", "3"], ["--workers", "2"]):
        with pytest.raises(SystemExit) as e:
            build_parser().parse_args(["serve", *unknown])
        assert e.value.code == 2


def test_bad_settings_are_usage_errors(capsys, tmp_path):
    code = main(["serve", "--max-queue", "0", "--data-dir", str(tmp_path)])
    assert code == 2 and "max_queue" in capsys.readouterr().err
