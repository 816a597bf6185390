"""The session layer: what a person using rnnplay talks to, whatever the front end.

- ``session``: ``Session``, the state (model, sampler and settings, turns, subscribers)
  and the one entry point, ``submit``; it owns three collaborators:
- ``generation``: continuations, /compare, /score, /copy, /transcript save, cancelling;
- ``training_job``: the one training job in the background, its events forwarded,
  its best and last checkpoints kept (or rescued);
- ``inspection``: /heat, /whatif, /neurons.
- ``events``: what the session tells its front ends, one dataclass per kind of news
  (and the trainer's own events, forwarded).
- ``training_runs``, ``resume``: a training run from a corpus (new, continued,
  fine-tuned, resumed), its output paths checked and locked before the first step.
- ``transcript``: the turns as Markdown or JSON Lines.

Slash commands see the session through ``rnnplay.plugins.session_api.SessionAPI``.

May import: ``rnnplay.core``, ``rnnplay.plugins``, ``rnnplay.builtin``,
``rnnplay.corpora``, ``rnnplay.models``, ``rnnplay.folders``. Never ``rnnplay.ui``.
"""
