"""`rnnplay sample` and `rnnplay score` as a user runs them: real subprocesses, real files, a real pip install."""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from child_env import child_env
from terminal_reader import TerminalReader
from tiny_model import save_sharp_model
from waiting import wait_for

from rnnplay.core.model import Model
from rnnplay.core.score import score_text
from rnnplay.models.bundled import BUNDLED_MODEL
from rnnplay.models.library import open_model
from rnnplay.ui.cli import main
from rnnplay.ui.console import HEAT

ROOT = Path(__file__).resolve().parents[1]
TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?\nIt is the east, and Juliet is the sun.\n"


def rnnplay(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rnnplay", *args], cwd=cwd, capture_output=True, text=True, env=env,
                          timeout=300)


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.startswith("rnnplay: error: ") and done.stderr.count("\n") == 1, done.stderr
    return done.stderr


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_sharp_model(tmp_path_factory.mktemp("model") / "m.npz", TEXT)


def test_same_rng_seed_same_output(model_path: Path, tmp_path: Path) -> None:
    args = ["sample", str(model_path), "--seed", "ROMEO:", "--length", "60", "--rng-seed", "7"]
    first, again = rnnplay(*args, cwd=tmp_path), rnnplay(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout == again.stdout and first.stdout.startswith("ROMEO:")
    assert len(first.stdout) == len("ROMEO:") + 60 + 1  # seed, continuation, final newline
    other = rnnplay(*args[:-1], "8", cwd=tmp_path)
    assert other.stdout != first.stdout


def test_n_is_short_for_length_as_in_head(model_path: Path, tmp_path: Path) -> None:
    """`rnnplay sample -n 100` (as `head -n`) said "unrecognized arguments: -n"."""
    short = rnnplay("sample", str(model_path), "--seed", "ROMEO:", "-n", "40", "--rng-seed", "7", cwd=tmp_path)
    assert short.returncode == 0, short.stderr
    assert short.stdout == rnnplay("sample", str(model_path), "--seed", "ROMEO:", "--length", "40", "--rng-seed", "7",
                                   cwd=tmp_path).stdout
    assert len(short.stdout) == len("ROMEO:") + 40 + 1
    assert "-n N, --length N" in rnnplay("sample", "--help", cwd=tmp_path).stdout


@pytest.mark.parametrize(
    "extra",
    [["--sampler", "greedy"], ["--sampler", "top-k", "--set", "k=3"], ["--sampler", "top-p", "--set", "p=0.8",
     "--temperature", "1.3"], ["--sampler", "beam", "--set", "width=4", "--set", "alpha=0.5"]],
)
def test_every_builtin_sampler_runs(model_path: Path, tmp_path: Path, extra: list[str]) -> None:
    done = rnnplay("sample", str(model_path), "--seed", "It is", "--length", "30", "--rng-seed", "1", *extra,
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout) == len("It is") + 30 + 1 and set(done.stdout) <= set(TEXT)


def test_stop_string_ends_the_output(model_path: Path, tmp_path: Path) -> None:
    full = rnnplay("sample", str(model_path), "--length", "300", "--rng-seed", "3", cwd=tmp_path).stdout[:-1]
    pairs = (full[i : i + 2] for i in range(50, 298))
    stop = next(p for p in pairs if full.find(p) > 0 and "\n" not in p)
    cut = rnnplay("sample", str(model_path), "--length", "300", "--rng-seed", "3", "--stop", stop, cwd=tmp_path)
    assert cut.stdout[:-1] == full[: full.find(stop) + len(stop)]


def test_unknown_seed_characters_are_named_and_skipped_or_refused(model_path: Path, tmp_path: Path) -> None:
    done = rnnplay("sample", str(model_path), "--seed", "Rosé ⚔", "--length", "10", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stderr == "rnnplay: skipping seed characters the model has never seen: 'é', '⚔'\n"
    strict = one_line_error(rnnplay("sample", str(model_path), "--seed", "Rosé", "--strict", cwd=tmp_path))
    assert "never seen 'é'" in strict


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--temperature", "0"], "temperature must be in (0, 100] (got 0); "
         "for the most likely character every time, use --sampler greedy; "
         "at 100 every character is already about equally likely"),
        (["--sampler", "top-p", "--set", "p=1.5"], "p must be in (0, 1] (got 1.5)"),
        (["--sampler", "top-k", "--set", "k=0"], "k must be >= 1 (got 0)"),
        (["--sampler", "beam", "--set", "width=0"], "width must be in [1, 256] (got 0)"),
        (["--sampler", "topk"], "unknown sampler 'topk' (did you mean 'top-k'"),
        (["--sampler", "beam", "--set", "widht=3"], "has no parameter 'widht' (did you mean 'width'?)"),
        (["--sampler", "greedy", "--temperature", "1"], "sampler 'greedy' has no parameter 'temperature'"),
        (["--set", "temperature"], "expected key=value, got 'temperature'"),
    ],
)
def test_bad_sampler_settings_get_one_line(
    model_path: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """In-process for speed: the same main() the `rnnplay` script runs (the subprocess case is below)."""
    assert main(["sample", str(model_path), *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith("rnnplay: error: ") and err.count("\n") == 1 and message in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sample", "--seed-text", "ROMEO:"],
         "unrecognized arguments: --seed-text (did you mean --seed or --seed-file?); see `rnnplay sample --help`"),
        (["sample", "--lenght=5"],
         "unrecognized arguments: --lenght=5 (did you mean --length?); see `rnnplay sample --help`"),
        (["train", "notes.txt", "--hiden", "5", "--dropuot", "0.1"],
         "unrecognized arguments: --hiden 5 --dropuot 0.1 (did you mean --hidden or --dropout?); "
         "see `rnnplay train --help`"),
        (["--bogus"], "unrecognized arguments: --bogus; see `rnnplay --help`"),
        (["sampel", "--seed", "x"], "argument COMMAND: invalid choice: 'sampel' (choose from 'tui', 'repl', 'train', "
         "'sweep', 'sample', 'score', 'corpus', 'plugins', 'neurons', 'models', 'export') (did you mean 'sample'?); "
         "see `rnnplay --help`"),
        ([__file__], f"argument COMMAND: invalid choice: '{__file__}' (choose from 'tui', 'repl', 'train', "
         "'sweep', 'sample', 'score', 'corpus', 'plugins', 'neurons', 'models', 'export') "
         f"({__file__} is a file: `rnnplay train {__file__}` "
         "trains on it); see `rnnplay --help`"),
    ],
)
def test_an_unknown_flag_names_its_command_and_the_closest_flags(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(args)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err == f"rnnplay: error: {message}\n"


def test_a_bad_setting_in_a_real_process_is_one_line(model_path: Path, tmp_path: Path) -> None:
    assert "p must be in (0, 1] (got 0)" in one_line_error(
        rnnplay("sample", str(model_path), "--sampler", "top-p", "--set", "p=0", cwd=tmp_path))


@pytest.mark.skipif(BUNDLED_MODEL.exists(), reason="the bundled model is installed")
def test_no_model_and_no_bundled_model_says_so(tmp_path: Path) -> None:
    assert "bundled model" in one_line_error(rnnplay("sample", "--seed", "x", cwd=tmp_path))


def test_heat_colours_only_when_forced_off_a_terminal(model_path: Path, tmp_path: Path) -> None:
    base = ["sample", str(model_path), "--seed", "It", "--length", "20", "--rng-seed", "2"]
    plain = rnnplay(*base, cwd=tmp_path)
    auto = rnnplay(*base, "--heat", cwd=tmp_path)
    assert auto.stdout == plain.stdout and "not a terminal" in auto.stderr
    forced = rnnplay(*base, "--heat=always", cwd=tmp_path)
    assert "\x1b[38;5;" in forced.stdout and "heat (probability" in forced.stderr
    assert forced.stdout.replace("\x1b[0m", "").count("\x1b[38;5;") == sum(c != "\n" for c in plain.stdout[2:-1])


def test_heat_colours_each_character_by_the_probability_the_model_gave_it(model_path: Path, tmp_path: Path) -> None:
    seed = "ROMEO:"
    done = rnnplay("sample", str(model_path), "--seed", seed, "--length", "80", "--rng-seed", "4", "--heat=always",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    pieces = re.findall(r"\x1b\[38;5;(\d+)m(.)\x1b\[0m|(\n)", done.stdout[len(seed) : -1])
    text = "".join(ch or newline for _, ch, newline in pieces)
    assert re.sub(r"\x1b\[[0-9;]*m", "", done.stdout) == seed + text + "\n"  # every character coloured, but "\n"
    assert text.count("\n") >= 2
    probs = score_text(open_model(str(model_path)), seed + text).probs[len(seed) - 1 :]  # p(text[i] | what came before)
    bands = {code: (low, high) for (low, _), (high, code) in zip(((0.0, 0), *HEAT), HEAT, strict=False)}
    for (code, ch, _), p in zip(pieces, probs, strict=True):
        if ch:
            low, high = bands[int(code)]
            assert low - 1e-4 <= p <= high + 1e-4, (ch, p, code)  # the colour of the band p falls in


def test_heat_reads_a_long_seed_once_for_the_text_and_its_colours(model_path: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "long.txt").write_text(TEXT * 60)  # past LONG_TEXT
    args = ["sample", str(model_path), "--seed-file", str(tmp_path / "long.txt"), "--length", "30", "--rng-seed", "2"]
    assert main(args) == 0
    plain = capsys.readouterr().out
    read: list[int] = []  # characters through Model.forward: the seed's reading, however it is reached
    forward = Model.forward
    monkeypatch.setattr(Model, "forward", lambda self, ids, *a: read.append(ids.size) or forward(self, ids, *a))
    assert main([*args, "--heat=always"]) == 0
    coloured = capsys.readouterr().out
    assert sum(read) == len(TEXT) * 60  # once (it was twice: for the text, then for the colours)
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == plain and "\x1b[38;5;" in coloured


@pytest.mark.parametrize(("extra", "error"), [(["--set", "temperature=0"], "temperature must be"),
                                              (["--length", "-1"], "length must be >= 0"),
                                              (["--length", "0"], None)])
def test_a_long_seed_is_not_read_for_nothing(model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str], extra: list[str],
                                             error: str | None) -> None:
    """A bad parameter is refused before the seed is read (a long one takes seconds), and --length 0 reads none."""
    (tmp_path / "long.txt").write_text(TEXT * 60)
    read: list[int] = []
    forward = Model.forward
    monkeypatch.setattr(Model, "forward", lambda self, ids, *a: read.append(ids.size) or forward(self, ids, *a))
    code = main(["sample", str(model_path), "--seed-file", str(tmp_path / "long.txt"), *extra])
    out, err = capsys.readouterr()
    assert read == []
    if error is None:
        assert code == 0 and out == TEXT * 60 + "\n"
    else:
        assert code == 1 and error in err and out == ""


def test_length_0_still_refuses_unknown_seed_characters_when_strict(model_path: Path, tmp_path: Path) -> None:
    assert "never seen 'é'" in one_line_error(
        rnnplay("sample", str(model_path), "--seed", "Rosé", "--length", "0", "--strict", cwd=tmp_path))


def test_score_prints_nats_and_bits(model_path: Path, tmp_path: Path) -> None:
    done = rnnplay("score", str(model_path), "--text", "But soft, what light", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    nats = float(done.stdout.split()[0])
    bits = float(done.stdout.split("(")[1].split()[0])
    assert bits == pytest.approx(nats / math.log(2), abs=1e-3)
    assert "on 19 characters" in done.stdout


def test_score_val_split_scores_the_last_tenth_of_the_file(model_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text(TEXT * 3)
    done = rnnplay("score", str(model_path), "--file", str(path), "--val-split", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    n = len(TEXT * 3)
    assert f"on {n - int(n * 0.9) - 1} characters of the last 10% of" in done.stdout
    assert "no such file" in one_line_error(rnnplay("score", str(model_path), "--file", "nope.txt", cwd=tmp_path))


@pytest.mark.slow
def test_minp_plugin_installs_and_its_own_tests_pass(model_path: Path, tmp_path: Path) -> None:
    """pip install the plugin into a --target folder (not the dev venv), then use it through PYTHONPATH."""
    source = tmp_path / "rnnplay-minp"
    shutil.copytree(ROOT / "plugins" / "rnnplay-minp", source,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".pytest_cache"))
    target = tmp_path / "site"
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(target),
         str(source)], capture_output=True, text=True, timeout=300,
    )
    assert pip.returncode == 0, pip.stderr
    env = child_env(target, RNNPLAY_LOAD_PLUGINS="rnnplay-minp")
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(source / "tests")],
                           cwd=source, capture_output=True, text=True, timeout=300,
                           env={**env, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})  # no pytest plugin is needed there
    assert tests.returncode == 0, tests.stdout + tests.stderr
    done = rnnplay("sample", str(model_path), "--seed", "It", "--length", "20", "--sampler", "min-p",
                   "--set", "min_p=0.2", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout) == len("It") + 20 + 1
    assert "min_p must be in [0, 1] (got 2)" in one_line_error(
        rnnplay("sample", str(model_path), "--sampler", "min-p", "--set", "min_p=2", cwd=tmp_path, env=env))


def test_a_seed_with_escapes_equals_the_same_seed_from_a_file_and_from_stdin(model_path: Path, tmp_path: Path) -> None:
    seed = "ROMEO:\nBut soft,\twhat"
    (tmp_path / "seed.txt").write_text(seed)
    base = ["sample", str(model_path), "--length", "40", "--rng-seed", "5"]
    typed = rnnplay(*base, "--seed", "ROMEO:\\nBut soft,\\twhat", cwd=tmp_path)
    from_file = rnnplay(*base, "--seed-file", "seed.txt", cwd=tmp_path)
    from_stdin = subprocess.run([sys.executable, "-m", "rnnplay", *base, "--seed", "-"], cwd=tmp_path, input=seed,
                                capture_output=True, text=True, timeout=300)
    assert typed.returncode == 0, typed.stderr
    assert typed.stderr == "rnnplay: skipping seed characters the model has never seen: '\\t'\n"  # a tab, not 't'
    assert typed.stdout.startswith(seed) and len(typed.stdout) == len(seed) + 40 + 1
    assert from_file.stdout == typed.stdout and from_stdin.stdout == typed.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seed-file", "missing.txt"], "missing.txt: no such file"),
        (["--seed-file", "pipe"], "is a named pipe (FIFO), not a regular file"),
        (["--seed-file", "binary.bin"], "binary.bin looks like a binary file"),
        (["--seed-file", "latin1.txt"], "latin1.txt is not valid utf-8"),
        (["--seed", "a\\\\nb", "--strict"], "never seen '\\\\'"),  # an escaped backslash is a backslash
    ],
)
def test_seed_sources_that_cannot_be_read_get_one_line(
    model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    args: list[str], message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    os.mkfifo("pipe")
    Path("binary.bin").write_bytes(b"ROMEO\x00\x01")
    Path("latin1.txt").write_bytes("Rosé".encode("latin-1"))
    assert main(["sample", str(model_path), *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith("rnnplay: error: ") and err.count("\n") == 1 and message in err, err


def test_seed_and_neuron_files_in_another_encoding_are_read_with_encoding(
    model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("wide.txt").write_bytes("ROMEO: and JULIET".encode("utf-16"))
    assert main(["sample", str(model_path), "--seed-file", "wide.txt", "--length", "5"]) == 1
    assert capsys.readouterr().err.endswith("not utf-8; give --encoding utf-16\n")  # a flag that sample has
    assert main(["sample", str(model_path), "--seed-file", "wide.txt", "--encoding", "utf-16", "--length", "5",
                 "--rng-seed", "1"]) == 0
    assert capsys.readouterr().out.startswith("ROMEO: and JULIET")
    assert main(["neurons", str(model_path), "--unit", "0:1", "--file", "wide.txt", "--encoding", "utf-16"]) == 0
    shown = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)  # the text, one colour a character
    assert shown.endswith("\nROMEO: and JIE\n")  # U, L and T: characters this small model has never seen


@pytest.mark.parametrize("args", [
    ["sample", "{model}", "--seed", "ROMEO", "--encoding", "nosuch"],  # no file to read, and still checked
    ["score", "{model}", "--text", "ROMEO", "--encoding", "rot13"],
    ["neurons", "{model}", "--unit", "0:1", "--text", "ROMEO", "--encoding", "idna"],
    ["train", "{model}.txt", "--steps", "1", "--encoding", ""],
])
def test_an_encoding_that_is_no_text_codec_is_one_usage_line_before_anything_is_read(
    model_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
) -> None:
    with pytest.raises(SystemExit) as exit:
        main([arg.replace("{model}", str(model_path)) for arg in args])
    err = capsys.readouterr().err
    assert exit.value.code == 2 and err.count("\n") == 1, err
    assert "unknown text encoding" in err and "try --encoding utf-8 or latin-1" in err and f"rnnplay {args[0]}" in err


def test_seed_and_seed_file_together_are_refused(model_path: Path, tmp_path: Path) -> None:
    done = rnnplay("sample", str(model_path), "--seed", "x", "--seed-file", "y", cwd=tmp_path)
    assert done.returncode == 2 and "not allowed with argument" in done.stderr


def test_score_reads_stdin_and_escapes_the_same(model_path: Path, tmp_path: Path) -> None:
    typed = rnnplay("score", str(model_path), "--text", "ROMEO:\\nBut soft", cwd=tmp_path)
    for flag in ("--text", "--file"):  # `--file -` is stdin too
        piped = subprocess.run([sys.executable, "-m", "rnnplay", "score", str(model_path), flag, "-"], cwd=tmp_path,
                               input="ROMEO:\nBut soft", capture_output=True, text=True, timeout=300)
        assert typed.returncode == 0 and piped.returncode == 0, typed.stderr + piped.stderr
        assert typed.stdout.split(" on ")[0] == piped.stdout.split(" on ")[0]
        assert "on 14 characters of stdin" in piped.stdout


def test_score_counts_unknown_characters_and_can_skip_them(model_path: Path, tmp_path: Path) -> None:
    strange = "".join(chr(0x400 + i) for i in range(12))
    refused = one_line_error(rnnplay("score", str(model_path), "--text", f"But {strange}{strange} soft", cwd=tmp_path))
    assert "has 24 characters the model has never seen (12 distinct: 'Ѐ'" in refused
    assert "and 2 more)" in refused and "pass --skip-unknown" in refused
    skipped = rnnplay("score", str(model_path), "--text", f"But {strange} soft", "--skip-unknown", cwd=tmp_path)
    plain = rnnplay("score", str(model_path), "--text", "But  soft", cwd=tmp_path)
    assert skipped.returncode == 0 and skipped.stdout == plain.stdout
    assert skipped.stderr.startswith("rnnplay: left out 12 characters the model has never seen")


def test_score_reads_crlf_as_lf_for_a_model_that_knows_no_cr(model_path: Path, tmp_path: Path) -> None:
    (tmp_path / "crlf.txt").write_bytes(TEXT.replace("\n", "\r\n").encode())
    (tmp_path / "lf.txt").write_text(TEXT)
    crlf = rnnplay("score", str(model_path), "--file", "crlf.txt", cwd=tmp_path)
    lf = rnnplay("score", str(model_path), "--file", "lf.txt", cwd=tmp_path)
    assert crlf.returncode == 0, crlf.stderr
    assert crlf.stdout.replace("crlf.txt", "lf.txt") == lf.stdout
    assert crlf.stderr == f"rnnplay: reading {TEXT.count(chr(10))} CRLF line ends as LF (the model knows no '\\r')\n"


def stderr_on_a_terminal(args: list[str], cwd: Path) -> tuple[int, str, bytes]:
    """Run ``args`` with stdout to a pipe and stderr on a real pty (as in `rnnplay sample … > out.txt`):
    (exit code, stdout, every byte the terminal was sent)."""
    master, slave = os.openpty()
    try:
        with subprocess.Popen(args, cwd=cwd, stdout=subprocess.PIPE, stderr=slave) as proc:
            os.close(slave)
            reader = TerminalReader(master)
            out, _ = proc.communicate(timeout=300)
            reader.stop()
    finally:
        os.close(master)
    return proc.returncode, out.decode(), reader.shown()


@pytest.mark.parametrize(("command", "label"), [(["sample", "--seed-file"], b"reading the seed"),
                                                (["score", "--file"], b"scoring")])
def test_a_long_text_shows_its_reading_on_a_terminal_and_nothing_in_a_pipe(model_path: Path, tmp_path: Path,
                                                                           command: list[str], label: bytes) -> None:
    seed = TEXT * 80  # past LONG_TEXT
    (tmp_path / "scene.txt").write_text(seed)
    args = [sys.executable, "-m", "rnnplay", command[0], str(model_path), command[1], "scene.txt"]
    args += ["--length", "20", "--rng-seed", "3"] if command[0] == "sample" else []
    piped = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert piped.returncode == 0 and piped.stderr == "", piped.stderr
    if command[0] == "sample":
        assert piped.stdout.startswith(seed) and len(piped.stdout) == len(seed) + 20 + 1
    code, out, shown = stderr_on_a_terminal(args, tmp_path)
    assert code == 0 and out == piped.stdout  # the same text, whatever stderr is
    read = len(seed) if command[0] == "sample" else len(seed) - 1  # the first character only primes the score
    assert label in shown and b"100%" in shown and f"{read:,} chars / {read:,} chars".encode() in shown
    assert command[0] == "sample" or f" on {read:,} characters of scene.txt" in out  # the bar's count, said


def catches_sigterm(pid: int) -> bool:
    """Whether process ``pid`` has a handler for SIGTERM (its SigCgt mask in /proc): it is past Python's start."""
    caught = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("SigCgt"))
    return bool(int(caught.split()[1], 16) >> (signal.SIGTERM - 1) & 1)


@pytest.mark.parametrize(("command", "stdin"), [(("sample", "--length", "100000000"), None),
                                                (("score", "--text", "-"), "endless")])
def test_sigterm_ends_a_command_as_ctrl_c_does_saying_so(model_path: Path, tmp_path: Path, command: tuple[str, ...],
                                                         stdin: str | None) -> None:
    """`kill` ended `rnnplay sample` without a word (exit -15); in plugin code it was blamed as a bug."""
    proc = subprocess.Popen([sys.executable, "-m", "rnnplay", command[0], str(model_path), *command[1:]], cwd=tmp_path,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "RNNPLAY_LOAD_PLUGINS": ""})
    try:
        if stdin is None:
            assert len(proc.stdout.read(1000)) == 1000  # it streams: now it is in the sampler's loop
        else:
            proc.stdin.write(b"ROMEO: But soft\n")  # and the pipe stays open: it reads on
            proc.stdin.flush()
            wait_for(lambda: catches_sigterm(proc.pid), "rnnplay to handle SIGTERM")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM
    assert err.decode().splitlines()[-1] == "rnnplay: stopped by SIGTERM", err.decode()
