"""The prompt-toolkit REPL: ``rnnplay repl``."""
