"""A text piped into `rnnplay neurons --file -` is weighed by its widest character, and so is a file.

CPython's str takes 4 bytes a character for a text with one emoji in it, 1 for an ASCII text; the stdin path
weighed every text at ``held`` bytes a byte whatever its characters (a stdin read whole peaked near 6× its bytes
for 3 weighed), so a memory check that under-counted let a text through to an out-of-memory death. Here the
memory rnnplay may use is a memory cgroup's (a stand-in layout, as in tests/test_memory_room.py), set between the
two weights of the same text: the one with an emoji is refused, naming its weight; the ASCII one runs. The file
path weighed its bytes alone (``neurons`` holds FIND_BYTES a byte of ASCII): the same text in a file is refused too.
The model read is a small one (tests/tiny_model.py): the weighing is the same whatever the model, and the bundled
one took seconds of CPU to read the ASCII text through.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from child_env import child_env
from test_memory_room import cgroup
from tiny_model import save_sharp_model

from rnnplay.corpora.memory import MARGIN
from rnnplay.ui.cli.cmd_neurons import FIND_BYTES

ASCII = 16_000  # characters of ASCII before the emoji
EMOJI = "\N{GRINNING FACE}"  # 4 bytes in UTF-8, and in a str


def neurons_on_stdin(text: str, tmp_path: Path, room: int, file: str = "-") -> subprocess.CompletedProcess[str]:
    """`rnnplay neurons --find line-position --file FILE` (``text`` piped in for -), where ``room`` bytes may be
    used."""
    limit = 10 * 2**30
    free = int(room / (1 - MARGIN))  # what the cgroup leaves: less MARGIN, about room
    root = cgroup(tmp_path / "cg", limit)
    (root / "memory" / "jobs" / "memory.usage_in_bytes").write_text(f"{limit - free}\n")
    model = save_sharp_model(tmp_path / "small.npz", "a bc\nd" + EMOJI)
    return subprocess.run([sys.executable, "-m", "rnnplay", "neurons", str(model), "--find", "line-position",
                           "--file", file],
                          input=text if file == "-" else "", capture_output=True, text=True, encoding="utf-8",
                          cwd=tmp_path, timeout=600,
                          env=child_env(RNNPLAY_CGROUP_ROOT=str(root), NO_COLOR="1", RNNPLAY_JIT="0"))


def test_a_piped_text_with_one_emoji_is_weighed_at_four_bytes_a_character(tmp_path: Path) -> None:
    size, chars = ASCII + 4, ASCII + 1
    weight = FIND_BYTES * size + 3 * chars  # 3 more bytes a character: its str takes 4 where ASCII takes 1
    room = (FIND_BYTES * size + weight) // 2  # between the weight of its bytes and its own
    done = neurons_on_stdin(EMOJI + "a bb cc\n" * (ASCII // 8), tmp_path, room)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"rnnplay: error: stdin has sent {size:,} bytes so far, and its text is held whole: "
                                  f"about {weight:,} bytes while it is used ({FIND_BYTES} a byte, and 3 more a "
                                  "character: its widest takes 4 bytes in a Python str), more than the "), done.stderr
    ascii_only = neurons_on_stdin("a bb cc\n" * (ASCII // 8) + "abcd", tmp_path, room)  # as many bytes, all ASCII
    assert ascii_only.returncode == 0, ascii_only.stderr


def test_a_file_with_one_emoji_is_weighed_at_four_bytes_a_character(tmp_path: Path) -> None:
    size = ASCII + 4
    room = FIND_BYTES * size + 3 * ASCII // 2  # its bytes fit; 3 more bytes a character do not
    (tmp_path / "t.txt").write_text(EMOJI + "a bb cc\n" * (ASCII // 8), encoding="utf-8")
    done = neurons_on_stdin("", tmp_path, room, "t.txt")
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"rnnplay: error: t.txt has {size:,} bytes, and rnnplay neurons holds about "
                                  f"{FIND_BYTES + 3} bytes for each character of its text at once (its widest takes 4 "
                                  "bytes in a Python str), more than the "), done.stderr
