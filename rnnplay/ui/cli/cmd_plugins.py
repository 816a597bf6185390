"""``rnnplay plugins``: list, install, uninstall and scaffold plugins.

Installing and uninstalling run pip in the interpreter that runs rnnplay (``ui/cli/plugin_pip.py``); what
``install`` is given as a path is checked before pip sees it (``ui/cli/plugin_sources.py``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from rnnplay.core.errors import RnnplayError
from rnnplay.core.params import did_you_mean
from rnnplay.plugins.discovery import bundled_plugin_folder, find_entry_points, install_command, normalize, shown_path
from rnnplay.plugins.hookspecs import PROJECT
from rnnplay.ui.cli.plugin_pip import pip
from rnnplay.ui.cli.plugin_sources import check_source, package_path, project_name
from rnnplay.ui.cli.plugins_apart import listed, listed_apart, listing, needs_children, why_it_ended

if TYPE_CHECKING:
    from rnnplay.plugins.host import PluginHost

LISTED = ("name", "version", "builtin", "hooks")  # a listed plugin's fields besides what it provides, kind by kind
EXAMPLES = """\
examples:
  rnnplay plugins                               what is loaded, and what failed to load
  rnnplay plugins --json                        the same, for scripts
  rnnplay plugins install rnnplay-NAME          from the package index
  rnnplay plugins install ./plugins/rnnplay-gru from a folder (-e: editable, for development); the examples
                                                in rnnplay's plugins/ folder are not on the package index yet
  rnnplay plugins uninstall rnnplay-gru
  rnnplay plugins new mycell                    scaffold rnnplay-mycell/, a cell plugin package

RNNPLAY_LOAD_PLUGINS=rnnplay-gru,rnnplay-minp loads only those plugins; RNNPLAY_LOAD_PLUGINS= loads none.
Writing a plugin: `rnnplay plugins new NAME` makes a working one to start from; the guide is docs/plugins.md
in rnnplay's source."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plugins", help="list, install, uninstall or create plugins",
        description="List the loaded plugins (the built-ins are the 'rnnplay' row), or manage them.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.set_defaults(func=list_plugins)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    i = actions.add_parser("install", help="install a plugin with pip (a name on the index, or a folder)")
    i.add_argument("target", metavar="NAME|PATH", help="a distribution name, or a path to a plugin folder")
    i.add_argument("-e", "--editable", action="store_true", help="install a folder in editable (development) mode")
    i.add_argument("-U", "--upgrade", action="store_true", help="upgrade it if already installed")
    i.set_defaults(func=install)
    u = actions.add_parser("uninstall", help="uninstall a plugin with pip")
    u.add_argument("name", metavar="NAME", help="the plugin's distribution name, as `rnnplay plugins` shows it")
    u.set_defaults(func=uninstall)
    n = actions.add_parser("new", help="create a new cell plugin package to edit and publish")
    n.add_argument("name", metavar="NAME", help="the cell's name: 'demo' makes rnnplay-demo/ with the cell 'demo'")
    n.add_argument("--dir", type=Path, default=Path("."), help="the folder to create it in (default: here)")
    n.set_defaults(func=new)


def plugin_host() -> ModuleType:
    """:mod:`rnnplay.plugins.host`, imported by the commands that load the plugins in this process: with them come
    the built-in cells and samplers, and numpy. `rnnplay plugins` with third-party plugins installed lists them from
    a child process (``plugins_apart.py``) and needs none of it."""
    import rnnplay.plugins.host

    return rnnplay.plugins.host


# -- list ------------------------------------------------------------------------------
def describe(host: PluginHost) -> dict[str, Any]:
    """The loaded plugins and the failures, as plain data (what --json prints)."""
    from rnnplay.plugins.contracts import HOOK_KINDS

    builtin = plugin_host().BUILTIN
    plugins = [
        {"name": info.name, "version": info.version, "builtin": info.name == builtin, "hooks": info.hooks,
         **{kind: info.provides.get(kind, []) for kind in HOOK_KINDS.values()}}
        for info in host.plugins.values()
    ]
    failed = [{"name": f.plugin, "error": f.reason} for f in host.failures]
    return {"plugins": plugins, "failed": failed, "skipped": host.skipped, "warnings": host.warnings}


def provides_text(plugin: dict[str, Any]) -> str:
    """'cells: gru; samplers: minp': what a listed plugin provides, in the order :func:`describe` lists the kinds."""
    return "; ".join(f"{kind.replace('_', ' ')}: {', '.join(names)}" for kind, names in plugin.items()
                     if kind not in LISTED and names)


def list_plugins(args: argparse.Namespace) -> int:
    # a plugin may end the process that loads it: third-party plugins are listed from child processes
    data = listed_apart() if needs_children() else describe(plugin_host().get_host())
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    rows = [("PLUGIN", "VERSION", "HOOKS", "PROVIDES")] + [
        (p["name"] + (" (built-in)" if p["builtin"] else ""), p["version"],
         ", ".join(h.removeprefix("register_") for h in p["hooks"]) or "-", provides_text(p) or "-")
        for p in data["plugins"]
    ]
    widths = [max(len(row[c]) for row in rows) for c in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)) + "  " + row[3])
    if data["failed"]:
        print("\nfailed to load (skipped):")
        for f in data["failed"]:
            print(f"  {f['name']}: {f['error']}")
    for warning in data["warnings"]:
        print(f"\nwarning: {warning}")
    if data["skipped"]:
        print(f"\nnot loaded (RNNPLAY_LOAD_PLUGINS leaves them out): {', '.join(data['skipped'])}")
    elif len(data["plugins"]) == 1 and data["failed"]:
        count = len(data["failed"])
        print(f"\nno plugins loaded: {count} installed plugin{'' if count == 1 else 's'} failed to load (listed above)")
    elif len(data["plugins"]) == 1:
        print(f"\nno plugins installed; {first_plugin_hint()}")
    return 0


def first_plugin_hint() -> str:
    """Where a first plugin can come from. A checkout of rnnplay has the GRU example and docs/plugins.md, named as
    paths from here; an installed rnnplay has neither (it said "docs/plugins.md" all the same): the scaffold."""
    example = bundled_plugin_folder("rnnplay-gru")
    if example is None:
        return "write one with `rnnplay plugins new NAME` (a working cell plugin, with its tests, to edit and install)"
    return (f"try rnnplay's example, {install_command(example.name)}, or write one with `rnnplay plugins new NAME` "
            f"({shown_path(example.parents[1] / 'docs' / 'plugins.md')})")


# -- install / uninstall -----------------------------------------------------------------
def written_as_path(target: str) -> bool:
    return target.startswith((".", "/", "~")) or "/" in target or "\\" in target


def looks_like_path(target: str) -> bool:
    return written_as_path(target) or os.path.exists(target)


def check_name(text: str, what: str) -> None:
    """Refuse an empty NAME, or one pip would take for an option."""
    if not text.strip():
        raise RnnplayError(f"no plugin given: {what}")
    if text.startswith("-"):
        raise RnnplayError(f"{text!r} looks like an option, not a plugin: {what} (pip's own options: use pip)")


def install(args: argparse.Namespace) -> int:
    target = args.target
    check_name(target, "give a plugin's name (rnnplay-NAME), or the path of its folder")
    is_url = "://" in target  # https://…/x.whl, git+https://…: pip knows what to do with it
    build = None
    if looks_like_path(target) and not is_url:
        target = package_path(target)
        build = check_source(Path(target), args.target)
    elif args.editable and not is_url:
        raise RnnplayError("-e installs a folder in development mode: give a path, like `-e ./rnnplay-mycell`")
    host = plugin_host()
    if normalize(target) == host.BUILTIN or (os.path.isdir(target) and project_name(Path(target)) == host.BUILTIN):
        raise RnnplayError("refusing to install rnnplay itself from `rnnplay plugins` (it would replace the rnnplay "
                           "running now); use pip for that")
    before, dists = describe(host.get_host()), installed_plugins()
    pip("install", *(["-U"] if args.upgrade else []), *(["-e"] if args.editable else []), target, build=build,
        asked=args.target)
    host.reset_host()
    new = [name for name, version in installed_plugins().items() if dists.get(name) != version]
    after = fresh_listing(new)  # a new process: this one cannot see editable installs or re-import upgraded modules
    versions = {normalize(p["name"]): p["version"] for p in before["plugins"]}
    changed = [p for p in after["plugins"] if versions.get(normalize(p["name"])) != p["version"]]
    for plugin in changed:
        provides = provides_text(plugin)
        print(f"installed plugin {plugin['name']} {plugin['version']}" + (f" ({provides})" if provides else ""))
    new_failures = [f for f in after["failed"] if f not in before["failed"]]
    for f in new_failures:
        print(f"rnnplay: warning: plugin {f['name']} was installed but fails to load: {f['error']}", file=sys.stderr)
    asked = project_name(Path(target)) if os.path.isdir(target) else normalize(target)
    if not changed and not new_failures and asked in versions and os.path.isdir(target):
        print(f"{asked} {versions[asked]} installed again from {args.target}, as the folder has it now (the same "
              "version number)")
    elif not changed and not new_failures and asked in versions:
        print(f"{asked} {versions[asked]} is already installed; nothing changed"
              + ("" if args.upgrade else f" (`rnnplay plugins install -U {args.target}` upgrades it)"))
    elif not changed and not new_failures:
        print(f"pip finished; no new rnnplay plugin appeared (is {args.target} one? "
              "a plugin declares an entry point in the 'rnnplay' group); `rnnplay plugins` lists what is loaded")
    return 0


def installed_plugins() -> dict[str, str]:
    """The installed plugins' distributions (normalised) and versions, read from their metadata, not imported."""
    importlib.invalidate_caches()  # what pip has just written
    return {normalize(found.dist): found.version for found in find_entry_points()[0]}


def fresh_listing(new: list[str]) -> dict[str, Any]:
    """What `rnnplay plugins --json` says in a new interpreter, now that pip installed or upgraded the plugins
    ``new``; when it no longer runs, one line naming them and the command that uninstalls them. The reason is
    read from a run that loads ``new`` alone: what the other plugins print is theirs, not the reason."""
    done = listing()
    data = listed(done)
    if data is not None:
        return data
    if not new:
        raise RnnplayError(f"pip finished, but `rnnplay plugins` no longer runs ({why_it_ended(done)}); "
                           "`RNNPLAY_LOAD_PLUGINS= rnnplay plugins` runs without plugins: uninstall the new one "
                           "(`rnnplay plugins uninstall NAME`)")
    alone = listing(new)
    why = why_it_ended(alone) if alone.returncode != 0 else f"{why_it_ended(done)}, beside the other plugins"
    remove = (f"`rnnplay plugins uninstall {new[0]}` removes it" if len(new) == 1
              else f"`rnnplay plugins uninstall NAME` removes each ({', '.join(new)})")
    raise RnnplayError(f"pip finished, but `rnnplay plugins` no longer runs with {', '.join(new)} installed ({why}): "
                       f"{remove} (`RNNPLAY_LOAD_PLUGINS= rnnplay plugins` runs without plugins meanwhile)")


def uninstall(args: argparse.Namespace) -> int:
    name = args.name
    check_name(name, "give its distribution name, as `rnnplay plugins` shows it")
    if written_as_path(name) and os.path.exists(name):  # a plugin's folder, not a name (a folder named so is one)
        known = project_name(Path(name)) if os.path.isdir(name) else None
        raise RnnplayError(f"{name} is a path: uninstall takes the plugin's distribution name, as `rnnplay plugins` "
                           "shows it" + (f" (`rnnplay plugins uninstall {known}`)" if known else ""))
    host = plugin_host()
    if normalize(name) == host.BUILTIN:
        raise RnnplayError("refusing to uninstall rnnplay itself from `rnnplay plugins`; use pip for that")
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        loaded = host.get_host()
        installed = list(dict.fromkeys([n for n in loaded.plugins if n != host.BUILTIN]
                                       + [f.plugin for f in loaded.failures]))
        raise RnnplayError(
            f"{name} is not installed{did_you_mean(name, installed)}; `rnnplay plugins` lists the installed plugins"
        ) from None
    if not any(ep.group == PROJECT for ep in dist.entry_points):
        raise RnnplayError(f"{name} is installed but is not an rnnplay plugin; remove it with pip if you mean to")
    pip("uninstall", "-y", name)
    host.reset_host()
    print(f"uninstalled {name}")
    return 0


# -- new -------------------------------------------------------------------------------
def new(args: argparse.Namespace) -> int:
    from rnnplay.plugins.scaffold import PluginNames, new_plugin  # (its names' limits are the plugin contracts')

    names = PluginNames.from_name(args.name)
    taken = plugin_host().get_host().cells.get(names.cell)
    if taken is not None:
        raise RnnplayError(f"the cell name {names.cell!r} is already provided by {taken.plugin}; choose another name")
    try:  # installing a package of the same name would replace that one, whatever it provides
        installed = metadata.version(names.dist)
    except metadata.PackageNotFoundError:
        installed = None
    if installed is not None:
        raise RnnplayError(f"{names.dist} {installed} is installed already, and installing a new package of that "
                           "name would replace it; choose another name")
    root = new_plugin(names, args.dir)
    print(f"created {root}/ with the cell {names.cell!r} (a working leaky RNN to edit: src/{names.module}/cell.py)")
    print("next:")
    print(f"  cd {root}")
    print("  pip install -e '.[test]'        # or: rnnplay plugins install -e .")
    print("  pytest                           # gradient check and a few training steps")
    print(f"  rnnplay train input.txt --cell {names.cell} --steps 500 --out {names.cell}.npz")
    return 0
