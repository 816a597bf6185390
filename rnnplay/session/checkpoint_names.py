"""The one rule for a checkpoint's name a user gives, wherever a checkpoint is written from one.

``rnnplay train --out``/``--best`` (on Ray workers too), ``/train out=``/``best=``, ``/save``, ``rnnplay export``
and ``CharRNN.save`` all name their file through :func:`checkpoint_name`, checked before any work starts:

    run          -> run.npz   (no suffix: .npz added; the line that says where it saved names run.npz)
    run.npz      -> run.npz   (.NPZ too)
    run.txt      -> refused   "run.txt: a checkpoint is a .npz file, e.g. --out run.npz"
    lr0.003      -> refused   "... e.g. --out lr0.003.npz" (a suffix of digits is kept in the name)

``--resume run``, ``--init-from run`` and ``rnnplay sample run`` find run.npz again
(:func:`~rnnplay.models.library.saved_as`). A sweep names its trials' files itself, in the folder its ``--out`` names.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePath

from rnnplay.core.errors import RnnplayError, printable
from rnnplay.models.library import free_path, library_path, models_dir
from rnnplay.session.output_paths import check_output_path, same_file

SUFFIX = ".npz"  # every checkpoint is a zip of NumPy arrays
TRANSCRIPT_INSTEAD = " (/transcript save {base}.md saves the conversation)"  # /save notes.txt may have meant that


def checkpoint_name(path: str | os.PathLike[str], what: str, option: str, aside: str = "") -> Path:
    """``path`` expanded, with ``.npz`` added when it has no suffix; another suffix refused in one line naming the
    name to give instead as the user gives it here (``option``: '--out ', 'out=', '/save '), then ``aside``. A
    folder, a device (/dev/null) or a FIFO there, an empty name or one ending in ``/`` is refused as such
    (:func:`check_output_path`), not taken for a name to put ``.npz`` after."""
    text = os.fspath(path)
    target = Path(os.path.expanduser(text))  # Path drops a last '/', and reads '' as '.'
    if not text.strip() or text.endswith(("/", os.sep)) or (os.path.exists(target) and not os.path.isfile(target)):
        check_output_path(text, what, checkpoint=True)
    if not target.suffix:
        return target.with_suffix(SUFFIX)
    if target.suffix.lower() != SUFFIX:
        base = printable(str(without_suffix(target)))
        raise RnnplayError(f"{printable(target.name)}: a checkpoint is a {SUFFIX} file, e.g. {option}{base}{SUFFIX}"
                           f"{aside.format(base=base)}")
    return target


def without_suffix(path: PurePath) -> PurePath:
    """``notes.txt`` -> ``notes``; a suffix that is not a word (``lr0.003``, ``run.v2``) stays part of the name."""
    return path.with_suffix("") if path.suffix[1:].isalpha() else path


def refuse_the_corpus(target: Path, corpus: str, option: str) -> None:
    """One line when ``target`` is the file of the run's ``corpus`` (its spec): a checkpoint never replaces the
    text it is trained on; ``option`` (``out=``, ``--best``) is how the line suggests another name."""
    if os.path.isfile(target) and same_file(target, os.path.expanduser(corpus.removeprefix("file:"))):
        raise RnnplayError(f"{target} is the corpus this run reads: give the checkpoint a name of its own, e.g. "
                           f"{option}{free_path(target.with_suffix(SUFFIX))}")


def new_file(path: str, key: str, corpus: str = "") -> Path:
    """``path`` named as :func:`checkpoint_name` names it, and writable; refused in one line when a file is there (a
    new checkpoint never replaces one), said to be the run's ``corpus`` (its spec) when it is that file."""
    refuse_the_corpus(Path(os.path.expanduser(path)), corpus, f"{key}=")  # as given: named so, not as not a .npz
    target = checkpoint_name(path, f"{key}=", f"{key}=")
    if os.path.isfile(target):  # False too past a folder we may not search: the check below says so
        default = f" (or leave out= off: a new name in {models_dir()})" if key == "out" else ""
        raise RnnplayError(f"{target} exists and would be overwritten: {key}={free_path(target)} keeps both"
                           f"{default}")
    return check_output_path(target, f"{key}=", checkpoint=True)


def library_target(corpus_name: str) -> Path:
    """A new checkpoint's path in the model library, checked as :func:`new_file` checks ``out=``."""
    try:
        return check_output_path(library_path(corpus_name), "the model library", checkpoint=True)
    except RnnplayError as err:
        raise RnnplayError(f"{err} (or give /train out=PATH)") from None
