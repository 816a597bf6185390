"""The faces of rnnplay: each turns a person's input into session calls and the
session's events into something to look at.

- ``cli``: the ``rnnplay`` command (argparse subcommands).
- ``tui``: the Textual app.
- ``repl``: the prompt-toolkit REPL.
- ``charrnn``: ``CharRNN``, the min-char-rnn-style Python API.
- ``console``: the terminal faces' rich console (NO_COLOR, FORCE_COLOR) and the colours they share;
  ``event_text``: the trainer's events and the session's messages as lines, for the CLI and the REPL.
- ``history``, ``plot_file``: the input history both interactive faces share; loss plots as files.

May import every layer below it; nothing below imports ``rnnplay.ui``. Inside it, ``cli``
starts ``tui`` and ``repl``, which never import each other or ``cli``; all three share
``console``, ``event_text``, ``history`` and ``plot_file``, which import none of them.
"""
