from chronotope.cli.main import build_parser, main


def test_serve_flags_parse_and_unknown_ones_fail(capsys):
    args = build_parser().parse_args(
        ["serve", "--port", "0", "--api-key", "k", "--max-queue", "3", "--workers", "2"]
    )
    assert (args.port, args.api_key, args.max_queue, args.workers) == (0, "k", 3, 2)
    assert args.func.__module__ == "chronotope.cli.serve"
    try:
        build_parser().parse_args(["serve", "--queue", "3"])
    except SystemExit as e:
        assert e.code == 2
    else:
        raise AssertionError("unknown flag accepted")


def test_bad_settings_are_usage_errors(capsys, tmp_path):
    code = main(["serve", "--max-queue", "0", "--data-dir", str(tmp_path)])
    assert code == 2 and "max_queue" in capsys.readouterr().err
