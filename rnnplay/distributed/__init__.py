"""Past one process: data-parallel training and sweeps on Ray (the optional extra ``rnnplay[ray]``).

Ray is imported only here and only when a run asks for it (``--workers N``, ``--ray-address``,
``rnnplay sweep``); without it those say in one line how to install it (:func:`cluster.require_ray`).

May import: ``rnnplay.builtin`` and every layer below it (the workers build cells through the plugin
host). Never the session or a face: they import this.
"""
