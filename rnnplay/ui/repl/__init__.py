"""The prompt-toolkit REPL: ``rnnplay repl``.

May import: every layer below ``rnnplay.ui`` and the shared modules of ``rnnplay.ui`` (console,
event_text, history, plot_file). Never the command line or the Textual app.
"""
