"""The session layer: what a person using rnnplay talks to, whatever the front end.

- ``session``: ``Session`` (model, sampler, settings, one training job) and its events.
- ``events``: what the session tells its front ends, one dataclass per kind of news.
- ``training_runs``: a training run from a corpus (new, continued, fine-tuned,
  resumed), its output paths checked and locked before the first step.
- ``inspection``, ``transcript``: /heat, /whatif, /neurons; /transcript save.

May import: ``rnnplay.core``, ``rnnplay.plugins``, ``rnnplay.builtin``,
``rnnplay.corpora``, ``rnnplay.models``, ``rnnplay.folders``. Never ``rnnplay.ui``.
"""
