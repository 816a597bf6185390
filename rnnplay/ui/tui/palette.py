"""The command palette (Ctrl+P): every slash command with its arguments, found by a fuzzy match of its usage."""

from __future__ import annotations

from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.fuzzy import Matcher
from textual.markup import escape

from rnnplay.plugins.slash import command_table


def highlighted(matcher: Matcher, text: str) -> Content:
    """``text`` as it is, brackets and all (``Matcher.highlight`` reads it as markup), its matched letters marked."""
    content = Content(text)
    for offset in matcher.fuzzy_search.match(matcher.query, text)[1]:
        content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


class SlashCommands(Provider):
    """The command palette (Ctrl+P) lists every slash command with its arguments."""

    def _commands(self) -> list[Any]:
        return sorted({c.name: c for c in command_table().values()}.values(), key=lambda c: c.name)

    async def discover(self) -> Hits:
        for command in self._commands():
            yield DiscoveryHit(Content(command.usage), partial(self.app.start_command, command),
                               text=command.usage, help=escape(command.help))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._commands():
            score = matcher.match(command.usage)
            if score > 0:
                yield Hit(score, highlighted(matcher, command.usage), partial(self.app.start_command, command),
                          text=command.usage, help=escape(command.help))
