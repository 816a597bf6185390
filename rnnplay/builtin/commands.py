"""The built-in slash commands, registered through the same hook a plugin uses.

Each command parses its argument line and calls one method of the session or of
one of its collaborators, through :class:`~rnnplay.plugins.session_api.SessionAPI`
(the contract any plugin's command gets too); the session does the work and emits
the events. Names people know from Ollama's REPL work too: /bye, /?, /show,
/load, /save and ``/set parameter temperature 0.5``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rnnplay.core.errors import RnnplayError, printable
from rnnplay.core.params import ESCAPES_SAID, params_of, unescape
from rnnplay.core.params import parse_pairs as parse_settings
from rnnplay.core.train_config import ModelSpec
from rnnplay.models.library import list_models, model_names, model_table, models_dir
from rnnplay.plugins.hookspecs import Register, hookimpl
from rnnplay.plugins.session_api import SessionAPI
from rnnplay.plugins.slash import (
    SimpleCommand,
    command_table,
    complete_pairs,
    complete_path,
    find_command,
    last_word,
    parse_pairs,
    split_args,
    words_before,
)


def no_args(name: str, argline: str) -> None:
    if argline:
        raise RnnplayError(f"/{name} takes no arguments (got {argline!r})")


def _summary(obj: Any) -> str:
    """An object's one-line help, or the first line of its class's docstring."""
    return getattr(obj, "help", None) or (type(obj).__doc__ or "").strip().split("\n")[0]


def _rows(rows: list[tuple[str, str]]) -> str:
    width = max((len(k) for k, _ in rows), default=0)
    return "\n".join(f"  {k:<{width}}  {v}" for k, v in rows)


# -- help -------------------------------------------------------------------------------
ESCAPES_HELP = f"In seeds and texts, {ESCAPES_SAID} are read as the characters they name (docs/escapes.md)."


def help_(session: SessionAPI, argline: str) -> None:
    table = command_table(session.host)
    if argline:
        name, *more = argline.split()
        if more:  # '/help set extra' named no command '/set extra'
            raise RnnplayError(f"/help explains one command at a time: /help {printable(name)}")
        command = find_command(name.lstrip("/").lower(), session.host)
        aliases = ", ".join(f"/{a}" for a in command.aliases)
        lines = [f"{command.usage}  —  {command.help}"] + ([f"  also: {aliases}"] if aliases else [])
        details = getattr(command, "details", "")
        lines += [f"  {line}" for line in details.splitlines()]
        if command.name == "sampler":
            for name, entry in sorted(session.host.samplers.items()):
                lines.append(f"  {name}: {_summary(entry.obj)}")
                lines += [f"      {p.describe()}" for p in entry.obj.params.values()]
        elif command.name in ("set", "temp"):
            lines.append(f"  {session.sampler_name}: {_summary(session.sampler)}")
            lines += [f"      {p.describe()}" for p in session.sampler.params.values()]
            lines.append("  also: length (characters per turn), seed (a number, or random), stop (a string, or none)")
        session.info("\n".join(lines))
        return
    commands = sorted({c.name: c for c in table.values()}.values(), key=lambda c: c.name)
    lines = ["Type a few characters and press Enter: the model continues them. Commands:"]
    lines += [f"  {c.usage} — {c.help}" for c in commands]
    if session.keys_help:
        lines += ["Keys:", session.keys_help]
    lines.append(ESCAPES_HELP)
    lines.append("/help COMMAND tells more about one command.")
    session.info("\n".join(lines))


def complete_command_name(session: SessionAPI, argline: str) -> list[str]:
    return sorted(command_table(session.host)) if " " not in argline else []


# -- sampler and settings -------------------------------------------------------------------
def sampler(session: SessionAPI, argline: str) -> None:
    words = split_args(argline)
    if not words:
        session.info(f"sampler: {session.sampler_label()}\n"
                     f"samplers: {', '.join(sorted(session.host.samplers))} (/sampler NAME [key=value ...])")
        return
    name, *pairs = words
    chosen = session.host.get("samplers", name)
    session.set_sampler(name, parse_pairs(pairs, chosen.params, f"{name} parameter"))


def complete_sampler(session: SessionAPI, argline: str) -> list[str]:
    words = argline.split()
    if not words or (len(words) == 1 and not argline.endswith(" ")):
        return sorted(session.host.samplers)
    chosen = session.host.samplers.get(words[0])
    if chosen is None:
        return []
    return complete_pairs(last_word(argline), {k: _values(p) for k, p in chosen.obj.params.items()})


def _values(param: Any) -> list[str]:
    """Values worth offering for a parameter: its choices, or its default."""
    choices = getattr(param, "choices", None)
    return [str(c) for c in choices] if choices else [str(param.default)]


def set_(session: SessionAPI, argline: str) -> None:
    words = split_args(argline)
    if words[:1] == ["parameter"]:  # Ollama: /set parameter temperature 0.5
        words = words[1:]
    if not words:
        session.info(_rows(session.sampler_card()))
        return
    if all("=" in word for word in words):  # /set length=50 too, and several: /set length=50 temperature=0.9
        for key, value in (word.split("=", 1) for word in words):
            session.set_value(key, value)
        return
    if len(words) != 2:
        keys = ", ".join(session.setting_names())
        raise RnnplayError(f"usage: /set KEY VALUE (or KEY=VALUE ...), e.g. /set temperature 0.7; keys: {keys}")
    session.set_value(*words)


def complete_set(session: SessionAPI, argline: str) -> list[str]:
    words = argline.split()
    typing_first = not words or (len(words) == 1 and not argline.endswith(" "))
    if typing_first:
        return [*session.setting_names(), "parameter"]
    if words[0] == "parameter" and len(words) <= 2 and not (len(words) == 2 and argline.endswith(" ")):
        return session.setting_names()
    key = words[-1] if argline.endswith(" ") else words[-2]
    if key in session.sampler.params:
        return _values(session.sampler.params[key])
    return {"seed": ["random"], "stop": ["none", "\\n\\n"], "length": ["300"]}.get(key, [])


def temp(session: SessionAPI, argline: str) -> None:
    if not argline:
        raise RnnplayError("usage: /temp T, e.g. /temp 0.7")
    session.set_value("temperature", argline.strip())


SHOW_WHAT = ("model", "sampler", "info", "parameters")  # the last two Ollama's names for the first two
VAL_NOTE = ("val: the validation loss (nats per character) as training measured it, the held-out text cut into "
            "streams that each start from a zero state; `rnnplay score MODEL --file TEXT --val-split` reads it as one "
            "stream and usually gives a little less")


def show(session: SessionAPI, argline: str) -> None:
    what = argline.strip().lower()
    if what not in ("", *SHOW_WHAT):
        raise RnnplayError(f"/show takes nothing, 'model' or 'sampler' (got {what!r})")
    rows, notes = [], []
    if what in ("", "info", "model"):
        rows += session.card()
        notes += [VAL_NOTE] if dict(rows).get("val", "n/a") != "n/a" else []
    if what in ("", "parameters", "sampler"):
        rows += session.sampler_card()
    session.info("\n".join([_rows(rows), *notes]))


def complete_show(session: SessionAPI, argline: str) -> list[str]:
    return list(SHOW_WHAT) if len(argline.split()) <= 1 and not argline.endswith(" ") else []


# -- models ----------------------------------------------------------------------------------
MODEL_PARAMS = params_of(ModelSpec)  # cell=, layers=, hidden=, dropout=: declared once, as `rnnplay train` reads them


def model_spec(session: SessionAPI, pairs: dict[str, str], base: ModelSpec) -> ModelSpec:
    """``base`` with the shape ``pairs`` give; ModelSpec checks the values, as for `rnnplay train`."""
    given = parse_settings(MODEL_PARAMS, {k: v for k, v in pairs.items() if k in MODEL_PARAMS}, "/new option")
    if "cell" in given:
        given["cell"] = session.host.get("cells", given["cell"]).name
    return replace(base, **given)


def new(session: SessionAPI, argline: str) -> None:
    pairs = parse_pairs(split_args(argline), MODEL_PARAMS, "/new option")
    session.new_model(model_spec(session, pairs, session.spec))


def complete_new(session: SessionAPI, argline: str) -> list[str]:
    return complete_pairs(last_word(argline), model_options(session))


def model_options(session: SessionAPI) -> dict[str, list[str]]:
    return {"cell": sorted(session.host.cells), "layers": ["1", "2", "3"], "hidden": ["64", "128", "256", "512"],
            "dropout": ["0", "0.2"]}


def load(session: SessionAPI, argline: str) -> None:
    words = split_args(argline)
    if not words:
        raise RnnplayError("usage: /load NAME or /load PATH, e.g. /load shakespeare; /models lists the names")
    session.load(words[0] if len(words) == 1 else argline.strip())  # a name with spaces needs no quotes


def complete_load(session: SessionAPI, argline: str) -> list[str]:
    """A model's name or a checkpoint's path: one argument, so after a first word only the rest of a library name
    that has spaces in it (``/load my mo`` -> ``model``), never a second name (``/load o2.npz shakespeare``)."""
    word = last_word(argline)
    before = argline[: len(argline) - len(word)]  # the words typed before the one being completed
    names = [n[len(before) :] for n in model_names() if n.startswith(before + word)]
    return names if before else [*names, *complete_path(word, (".npz",))]


def models(session: SessionAPI, argline: str) -> None:
    no_args("models", argline)
    title = f"models (/load NAME; * marks the loaded one; /train saves new ones in {models_dir()}):"
    session.info("\n".join([title, *model_table(list_models(), session.model_path)]))


def save(session: SessionAPI, argline: str) -> None:
    words = split_args(argline)
    if len(words) not in (1, 2) or words[1:] not in ([], ["force"]) or not words[0]:  # '' read as "." before
        raise RnnplayError("usage: /save PATH [force], e.g. /save my-model.npz (force replaces an existing file)")
    session.save(words[0], force=len(words) == 2)


def complete_npz(session: SessionAPI, argline: str) -> list[str]:
    return complete_path(last_word(argline), (".npz",))


# -- listings -----------------------------------------------------------------------------------
def _listing(session: SessionAPI, kind: str, title: str) -> None:
    registry = session.host.registries[kind]
    rows = [(n, _summary(r.obj) + (f"  [{r.plugin}]" if r.plugin != "rnnplay" else ""))
            for n, r in sorted(registry.items())]
    session.info(f"{title}:\n{_rows(rows)}")


def cells(session: SessionAPI, argline: str) -> None:
    no_args("cells", argline)
    _listing(session, "cells", "cells (/new cell=NAME, /train FILE cell=NAME)")


def samplers(session: SessionAPI, argline: str) -> None:
    no_args("samplers", argline)
    _listing(session, "samplers", "samplers (/sampler NAME [key=value ...])")


def corpora(session: SessionAPI, argline: str) -> None:
    from rnnplay.corpora.cards import builtin_cards

    no_args("corpora", argline)
    _listing(session, "corpus_loaders", "corpus loaders (/train PREFIX:ARGUMENT)")
    cards = builtin_cards()
    if cards:
        session.info(f"corpus cards (/train NAME):\n{_rows([(n, c.description) for n, c in cards.items()])}")


def plugins(session: SessionAPI, argline: str) -> None:
    no_args("plugins", argline)
    host = session.host
    rows = [(info.name, f"{info.version}: " + "; ".join(f"{k} {', '.join(v)}" for k, v in info.provides.items()))
            for info in host.plugins.values()]
    text = f"plugins:\n{_rows(rows)}"
    if host.failures:
        text += "\n" + "\n".join(f"  {failure}" for failure in host.failures)
    text += "".join(f"\n  warning: {w}" for w in host.warnings)
    if host.skipped:
        text += f"\n  not loaded (RNNPLAY_LOAD_PLUGINS leaves them out): {', '.join(host.skipped)}"
    session.info(text)


# -- playing ------------------------------------------------------------------------------------
def compare(session: SessionAPI, argline: str) -> None:
    if not argline:
        raise RnnplayError("usage: /compare SEED, e.g. /compare ROMEO:")
    session.generation.compare(unescape(argline))


def score(session: SessionAPI, argline: str) -> None:
    if not argline:
        raise RnnplayError("usage: /score TEXT, e.g. /score To be, or not to be")
    session.generation.score(unescape(argline))


def copy(session: SessionAPI, argline: str) -> None:
    no_args("copy", argline)
    session.generation.copy_last()


TRANSCRIPT_DETAILS = """\
Every turn (seed and continuation, model, sampler and parameters, length, seed, stop; a /whatif branch names
its turn and position; a text read with /heat TEXT is a turn too) and every /compare, in the order they came.
.md is for reading; .jsonl has one object a line, kind "continuation", "text" or "compare" (docs/transcripts.md).
An existing file is kept unless you add force."""


def transcript(session: SessionAPI, argline: str) -> None:
    words = split_args(argline)
    if len(words) not in (2, 3) or words[0] != "save" or words[2:] not in ([], ["force"]) or not words[1]:
        path = words[1:-1] if words[-1:] == ["force"] else words[1:]
        spaced = f' (a path with spaces goes in quotes: /transcript save "{" ".join(path)}")' \
            if words[:1] == ["save"] and len(path) > 1 else ""
        raise RnnplayError("usage: /transcript save PATH [force], e.g. /transcript save chat.md "
                           f"(.md for Markdown, .jsonl for JSON Lines){spaced}")
    session.generation.save_transcript(words[1], force=len(words) == 3)


def complete_transcript(session: SessionAPI, argline: str) -> list[str]:
    before = len(words_before(argline))  # 'save', then the path (perhaps in quotes), then 'force'
    if before == 0:
        return ["save"]
    return complete_path(last_word(argline), (".md", ".jsonl")) if before == 1 else ["force"] if before == 2 else []


def clear(session: SessionAPI, argline: str) -> None:
    no_args("clear", argline)
    session.clear()


def quit_(session: SessionAPI, argline: str) -> None:
    no_args("quit", argline)
    session.quit()


COMMANDS = [
    SimpleCommand("help", "list the commands, or explain one", "/help [COMMAND]", help_, ("?",), complete_command_name),
    SimpleCommand("sampler", "choose how the next character is picked", "/sampler NAME [key=value ...]", sampler,
                  (), complete_sampler),
    SimpleCommand("set", "set a sampler parameter, length, seed or stop", "/set KEY VALUE", set_, (), complete_set),
    SimpleCommand("temp", "set the temperature (/set temperature T)", "/temp T", temp),
    SimpleCommand("show", "the model card, the sampler and its settings", "/show [model|sampler]", show, (),
                  complete_show),
    SimpleCommand("new", "a new untrained model of this shape", "/new cell=NAME layers=N hidden=H", new, (),
                  complete_new),
    SimpleCommand("load", "open a model by name (/models) or a checkpoint by path", "/load NAME|PATH", load, (),
                  complete_load),
    SimpleCommand("models", "list your models: name, cell, size, corpus, validation loss, date", "/models", models),
    SimpleCommand("save", "save the model (and its training state)", "/save PATH [force]", save, (), complete_npz),
    SimpleCommand("cells", "list the recurrent cells", "/cells", cells),
    SimpleCommand("samplers", "list the samplers", "/samplers", samplers),
    SimpleCommand("corpora", "list the corpus loaders and cards", "/corpora", corpora),
    SimpleCommand("plugins", "list the plugins and what they provide", "/plugins", plugins),
    SimpleCommand("compare", "the same seed through every sampler, side by side", "/compare SEED", compare),
    SimpleCommand("score", "how surprised the model is by a text", "/score TEXT", score),
    SimpleCommand("copy", "copy the last continuation to the clipboard", "/copy", copy),
    SimpleCommand("transcript", "save the conversation as Markdown (.md) or JSON Lines (.jsonl)",
                  "/transcript save PATH [force]", transcript, (), complete_transcript, TRANSCRIPT_DETAILS),
    SimpleCommand("clear", "clear the screen; the turns and their numbers stay", "/clear", clear),
    SimpleCommand("quit", "leave", "/quit", quit_, ("bye", "exit")),
]


@hookimpl
def register_commands(register: Register) -> None:
    for command in COMMANDS:
        register(command)
